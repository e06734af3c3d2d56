"""Prompts for reinforcement learning, each with the method and tests that judge its answers.

Two settings, the two ways the repair loop starts a conversation:
- generate: the first turn for the method with its body removed ([system, first-turn prompt]);
- repair: a mutant of the method that the tests reject, as the failed first answer, followed by
  the real test feedback ([system, first-turn prompt, mutant, TEST_RESULT]).
The messages come from `repomend.loop.repair` itself, run with a scripted model that answers
the ground truth, so they are exactly what the model reads at serve time, and a task whose
ground truth does not pass in this environment (flaky or environment-dependent tests) is left out.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from repomend.backends.scripted import ScriptedBackend
from repomend.contract.conversation import Message, Mode, extract_code
from repomend.loop import RepairOptions, RepairRequest, TestRunner, repair
from repomend.source import SourceError, find_method
from repomend.trajectory import Status
from training.generate import current_source
from training.mutation import OPERATORS, in_trial_order, mutants
from training.records import MethodRecord
from training.rewards import RewardTask
from training.rl_config import Setting


@dataclass(frozen=True)
class RLPrompt:
    task: RewardTask
    messages: list[Message]
    """The conversation up to the turn the model answers (ends with a user turn)."""
    setting: Literal["generate", "repair"]


def _request(repo: Path, record: MethodRecord, source: str) -> RepairRequest:
    return RepairRequest(
        repo=repo, path=record.path, qualname=record.qualname, tests=record.tests, source=source
    )


def _task(record: MethodRecord, source: str, key: str, rejected: str | None = None) -> RewardTask:
    return RewardTask(key, record.path, record.qualname, tuple(record.tests), source, rejected)


def generation_prompt(repo: Path, record: MethodRecord, source: str, run: TestRunner) -> RLPrompt | None:
    backend = ScriptedBackend([record.ground_truth_reply()], name="ground-truth")
    options = RepairOptions(mode=Mode.NO_THINK, max_turns=1, start="generate")
    trajectory = repair(_request(repo, record, source), backend, run, options)
    if trajectory.status is not Status.FIXED:
        return None
    return RLPrompt(_task(record, source, f"{record.id}#generate"), trajectory.messages[:-1], "generate")


def repair_prompts(
    repo: Path,
    record: MethodRecord,
    source: str,
    run: TestRunner,
    *,
    count: int,
    max_trials: int,
    seed: int,
    operators: Sequence[str] = OPERATORS,
) -> list[RLPrompt]:
    """Up to `count` mutants the tests reject (tried in a fixed, operator-alternating order)."""
    method = find_method(source, record.qualname)
    found: list[RLPrompt] = []
    options = RepairOptions(mode=Mode.NO_THINK, max_turns=1, start="repair")
    for mutant in in_trial_order(mutants(source, method, operators), key=record.id, seed=seed)[:max_trials]:
        if len(found) >= count:
            break
        backend = ScriptedBackend([record.ground_truth_reply()], name="ground-truth")
        trajectory = repair(_request(repo, record, mutant.source), backend, run, options)
        if trajectory.status is not Status.FIXED:
            continue  # the tests did not reject the mutant, or the ground truth did not pass
        messages = trajectory.messages[:-1]
        rejected = extract_code(messages[-2]["content"])
        key = f"{record.id}#{mutant.operator}:{len(found)}"
        found.append(RLPrompt(_task(record, source, key, rejected), messages, "repair"))
    return found


def build_prompts(
    repo: Path,
    records: Sequence[MethodRecord],
    run: TestRunner,
    *,
    setting: Setting = "both",
    mutants_per_method: int = 1,
    max_mutant_trials: int = 6,
    seed: int = 0,
    on_status: Callable[[str], None] | None = None,
) -> tuple[list[RLPrompt], dict[str, int]]:
    """Prompts for `records` and a count of methods left out and why."""
    status = on_status or (lambda _text: None)
    found: list[RLPrompt] = []
    skipped: Counter[str] = Counter()
    for index, record in enumerate(records, start=1):
        status(f"building prompts: method {index} of {len(records)} ({record.qualname})")
        source = current_source(repo, record)
        if source is None:
            skipped["changed_since_extraction"] += 1
            continue
        try:
            if setting in ("generate", "both"):
                prompt = generation_prompt(repo, record, source, run)
                if prompt is None:
                    skipped["ground_truth_failed"] += 1
                else:
                    found.append(prompt)
            if setting in ("repair", "both"):
                more = repair_prompts(
                    repo,
                    record,
                    source,
                    run,
                    count=mutants_per_method,
                    max_trials=max_mutant_trials,
                    seed=seed,
                )
                found.extend(more)
                if not more:
                    skipped["no_rejected_mutant"] += 1
        except SourceError:
            skipped["unparsable"] += 1
    return found, dict(skipped)
