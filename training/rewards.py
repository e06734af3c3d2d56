"""The reinforcement-learning reward: what the repository's own tests say about a completion.

A completion is judged the way the repair loop judges an answer: the code block is extracted,
spliced into the method's file, and the method's covering tests run in the sandbox (strict
isolation, the repository's interpreter, the configured limits). The reward is

- 1.0 when every covering test passes, judged by `repomend.contract.verdict.judge` against the ground
  truth's run (a test the ground truth runs must run and pass: skipping it earns no more than
  failing it);
- `partial_credit` x (share of covering tests that pass) when the tests ran but some failed
  (0.5 x by default, so any complete fix outranks every partial one);
- 0.0 when there is no usable code block, the candidate does not splice (wrong method, syntax
  error) or the screen rejects it (`repomend.contract.screen`: exits, test-framework control, ...), it
  repeats the answer the tests just rejected, a test file fails to import, or the run was killed
  (time, memory, output limits: an infinite loop earns nothing);

minus `penalty_per_token` for every reasoning token beyond `free_reasoning_tokens`, at most
`max_penalty` (so a long-winded failure scores below a terse one, and a fix stays above 0.8).
"""

from __future__ import annotations

import threading
import time
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from repomend.contract.answers import read_answer
from repomend.contract.conversation import split_reasoning
from repomend.contract.verdict import Reference, judge
from repomend.loop import TestRunner
from repomend.source import Method, SourceError, find_method
from sandbox.results import RunResult
from training.errors import RewardError
from training.reasoning import estimate_tokens

if TYPE_CHECKING:
    from training.generate import RunnerPool

Verdict = Literal["passed", "failed", "no_code", "rejected", "unchanged", "broken_tests", "killed"]


@dataclass(frozen=True)
class RewardConfig:
    partial_credit: float = 0.5
    """Weight of the share of passing tests when not all pass; 0 makes the reward pass/fail."""
    free_reasoning_tokens: int = 100
    penalty_per_token: float = 0.001
    max_penalty: float = 0.2
    workers: int = 2
    """Sandbox runs of one batch in parallel (the sandbox, not the model, is the slow part here)."""
    warm: bool = True
    """Keep a started sandbox ready per worker (~0.1 s a candidate instead of ~1 s)."""

    def __post_init__(self) -> None:
        if not 0.0 <= self.partial_credit < 1.0:
            raise ValueError("partial credit must be at least 0 and below 1")
        if self.free_reasoning_tokens < 0 or self.penalty_per_token < 0 or self.max_penalty < 0:
            raise ValueError("reasoning penalty settings must not be negative")
        if self.workers < 1:
            raise ValueError("reward workers must be at least 1")


@dataclass(frozen=True)
class RewardTask:
    """One prompt's method: where a completion goes and which tests judge it."""

    id: str
    path: str
    """Repository-relative file of the method."""
    qualname: str
    tests: tuple[str, ...]
    source: str
    """The file as it is in the repository; the candidate replaces the method in it."""
    rejected_answer: str | None = None
    """In the repair setting: the code the tests just rejected (repeating it earns nothing)."""


@dataclass(frozen=True)
class Judgement:
    reward: float
    verdict: Verdict
    tests_passed: int
    tests_total: int
    reasoning_tokens: int
    penalty: float
    detail: str = ""


def reasoning_penalty(tokens: int, config: RewardConfig) -> float:
    return min(config.max_penalty, max(0, tokens - config.free_reasoning_tokens) * config.penalty_per_token)


def outcome_reward(
    result: RunResult, tests_total: int, config: RewardConfig, reference: Reference | None = None
) -> tuple[float, Verdict]:
    """The reward of a candidate whose tests were run (before the reasoning penalty)."""
    if result.timed_out or result.crashed or result.killed_reason:
        return 0.0, "killed"
    if judge(result, reference).passed:
        return 1.0, "passed"
    if result.collection_errors:
        return 0.0, "broken_tests"
    total = max(tests_total, len(result.tests), 1)
    return config.partial_credit * result.passed_count / total, "failed"


@dataclass
class _Prepared:
    method: Method
    rejected: str | None
    """The code key of the answer the tests rejected, when the task has one."""


class TestOutcomeReward:
    """A TRL reward function: `(prompts, completions, task_id, **kwargs) -> list[float]`.

    `completion_prefix` is what the prompt already holds of the assistant turn beyond the chat
    template (the think prefill in think mode), so reasoning is split off as the loop does.
    Every batch's figures are kept in `batches` (mean reward, pass rate, verdicts, seconds).
    """

    __test__ = False
    __name__ = "test_outcome"

    def __init__(
        self,
        repo: Path,
        tasks: Mapping[str, RewardTask],
        runners: RunnerPool,
        config: RewardConfig = RewardConfig(),
        *,
        completion_prefix: str = "",
        count_tokens: Callable[[str], int] = estimate_tokens,
    ) -> None:
        self.repo = repo
        self.tasks = dict(tasks)
        self.runners = runners
        self.config = config
        self.completion_prefix = completion_prefix
        self.count_tokens = count_tokens
        self.batches: list[dict[str, Any]] = []
        self._prepared: dict[str, _Prepared] = {}
        self._references: dict[str, Reference] = {}
        self._lock = threading.Lock()

    def _prepare(self, task: RewardTask) -> _Prepared:
        with self._lock:
            if task.id not in self._prepared:
                try:
                    method = find_method(task.source, task.qualname)
                except SourceError as err:
                    raise RewardError(f"{task.path}: {err}") from err
                rejected = None
                if task.rejected_answer:
                    rejected = read_answer(task.rejected_answer, task.source, method, task.qualname).key
                self._prepared[task.id] = _Prepared(method, rejected)
            return self._prepared[task.id]

    def _reference(self, task: RewardTask) -> Reference:
        """The ground truth's run of the task's tests, once per task."""
        with self._lock:
            known = self._references.get(task.id)
        if known is not None:
            return known
        with self.runners.borrow() as run:
            reference = Reference.of(_run(run, self.repo, task, task.source), "the ground truth")
        with self._lock:
            return self._references.setdefault(task.id, reference)

    def judge(self, completion: str, task: RewardTask) -> Judgement:
        """Score one completion (thread-safe; borrows a sandbox runner for the test run)."""
        split = split_reasoning(self.completion_prefix + completion)
        tokens = self.count_tokens(split.reasoning) if split.reasoning else 0
        penalty = reasoning_penalty(tokens, self.config)
        total = len(task.tests)

        def verdict(reward: float, what: Verdict, passed: int = 0, detail: str = "") -> Judgement:
            return Judgement(round(reward - penalty, 6), what, passed, total, tokens, penalty, detail)

        prepared = self._prepare(task)
        answer = read_answer(split.content, task.source, prepared.method, task.qualname)
        if answer.code is None:
            return verdict(0.0, "no_code", detail=answer.rejection or "")
        if prepared.rejected is not None and answer.key == prepared.rejected:
            return verdict(0.0, "unchanged", detail="the answer the tests rejected, repeated")
        if not answer.testable:
            return verdict(0.0, "rejected", detail=answer.rejection or "")
        assert answer.new_source is not None
        new_source = answer.new_source
        reference = self._reference(task)
        with self.runners.borrow() as run:
            result = _run(run, self.repo, task, new_source)
        reward, what = outcome_reward(result, total, self.config, reference)
        return verdict(reward, what, result.passed_count, result.killed_reason or "")

    def judge_all(self, completions: Sequence[str], task_ids: Sequence[str]) -> list[Judgement]:
        if len(completions) != len(task_ids):
            raise ValueError("one task id per completion is needed")
        tasks = [self.tasks[task_id] for task_id in task_ids]
        with ThreadPoolExecutor(max_workers=self.config.workers) as pool:
            return list(pool.map(self.judge, completions, tasks))

    def __call__(
        self, prompts: Sequence[Any], completions: Sequence[Any], task_id: Sequence[str], **kwargs: Any
    ) -> list[float]:
        started = time.perf_counter()
        texts = [_text(c) for c in completions]
        judgements = self.judge_all(texts, task_id)
        rewards = [j.reward for j in judgements]
        verdicts = Counter(j.verdict for j in judgements)
        summary = {
            "step": getattr(kwargs.get("trainer_state"), "global_step", len(self.batches)),
            "mean_reward": sum(rewards) / len(rewards),
            "pass_rate": verdicts["passed"] / len(rewards),
            "verdicts": dict(verdicts),
            "mean_reasoning_tokens": sum(j.reasoning_tokens for j in judgements) / len(judgements),
            "seconds": round(time.perf_counter() - started, 3),
        }
        self.batches.append(summary)
        log_metric = kwargs.get("log_metric")
        if callable(log_metric):
            log_metric("pass_rate", summary["pass_rate"])
        return rewards


def _run(run: TestRunner, repo: Path, task: RewardTask, new_source: str) -> RunResult:
    return run(repo, list(task.tests), overrides={task.path: new_source})


def _text(completion: Any) -> str:
    """TRL passes strings for text prompts and message lists for conversational ones."""
    if isinstance(completion, str):
        return completion
    return "".join(m.get("content", "") for m in completion if m.get("role") == "assistant")


@dataclass
class RewardSummary:
    """Start vs end of a run, from the batches a TestOutcomeReward saw."""

    batches: int
    first_mean: float | None
    last_mean: float | None
    first_pass_rate: float | None
    last_pass_rate: float | None
    verdicts: dict[str, int] = field(default_factory=dict)

    @classmethod
    def of(cls, batches: Sequence[dict[str, Any]], window: int = 2) -> RewardSummary:
        """Means over the first and last `window` batches (single batches are noisy)."""
        if not batches:
            return cls(0, None, None, None, None)
        window = max(1, min(window, len(batches) // 2 or 1))
        head, tail = batches[:window], batches[-window:]
        mean = lambda rows, key: round(sum(r[key] for r in rows) / len(rows), 4)  # noqa: E731
        verdicts: Counter[str] = Counter()
        for batch in batches:
            verdicts.update(batch["verdicts"])
        return cls(
            len(batches),
            mean(head, "mean_reward"),
            mean(tail, "mean_reward"),
            mean(head, "pass_rate"),
            mean(tail, "pass_rate"),
            dict(verdicts),
        )
