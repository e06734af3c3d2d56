"""Reasoning for think-mode items, written by a teacher that is shown the answer.

Minimal intervention: the teacher gets the task (the first-turn prompt), the failed attempt and
its test feedback when there is one, and the correct solution, and its assistant turn is opened
with `<think>\\n` (the backends' think mode) so what it writes is reasoning toward that solution.
Optionally a second call compresses the reasoning to a token limit. Results are cached per item
in an append-only file, so an interrupted dataset build resumes without paying again.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from repomend.backends.base import GenerationConfig
from repomend.contract.conversation import Message, Mode, NoCodeBlock, extract_code, split_reasoning
from repomend.settings import Settings
from training import prompts
from training.errors import ReasoningError
from training.storage import AppendLog, read_jsonl
from training.teachers import Teacher

_TOKEN = re.compile(r"\w+|[^\w\s]")
ELICIT_BUDGET = 1024
"""Reasoning tokens the teacher may spend per item before `</think>` is forced."""


def estimate_tokens(text: str) -> int:
    """Words and punctuation marks: a tokenizer-free stand-in, close to BPE counts for code and prose."""
    return len(_TOKEN.findall(text))


@dataclass(frozen=True)
class ReasoningInputs:
    task: str
    solution: str
    attempt: str | None
    feedback: str | None


def inputs_of(messages: list[Message]) -> ReasoningInputs:
    """What the teacher is shown for the item's last answer: its task, the attempt before it, the feedback."""
    if len(messages) < 3 or messages[-1]["role"] != "assistant":
        raise ReasoningError("an item must end with an assistant answer")
    try:
        solution = extract_code(messages[-1]["content"])
        attempt = (
            extract_code(split_reasoning(messages[-3]["content"]).content) if len(messages) >= 5 else None
        )
    except NoCodeBlock as err:
        raise ReasoningError(f"an answer of the item holds no code: {err}") from err
    feedback = messages[-2]["content"] if len(messages) >= 5 else None
    return ReasoningInputs(task=messages[1]["content"], solution=solution, attempt=attempt, feedback=feedback)


def _config(settings: Settings) -> GenerationConfig:
    return GenerationConfig(
        max_new_tokens=settings.max_new_tokens,
        thinking_budget=max(settings.thinking_budget, ELICIT_BUDGET),
        temperature=0.0,
        seed=settings.seed,
        stop_after_code_block=False,
    )


def elicit(teacher: Teacher, messages: list[Message], settings: Settings) -> str:
    """The teacher's reasoning toward the item's last answer."""
    assert teacher.backend is not None
    inputs = inputs_of(messages)
    request: list[Message] = [
        {"role": "system", "content": prompts.ELICIT_SYSTEM},
        {
            "role": "user",
            "content": prompts.elicit_prompt(
                task=inputs.task, solution=inputs.solution, attempt=inputs.attempt, feedback=inputs.feedback
            ),
        },
    ]
    [completion] = teacher.backend.generate(
        request, mode=Mode.THINK, config=_config(settings), adapter=teacher.adapter
    )
    # A model without a think phase answers in the content: then that text is the reasoning.
    reasoning = (completion.reasoning or split_reasoning(completion.content).content).strip()
    if not reasoning:
        raise ReasoningError(f"teacher {teacher.name!r} returned no reasoning")
    return reasoning


def compress(teacher: Teacher, reasoning: str, settings: Settings, limit: int) -> str:
    """A shorter version of `reasoning` (at most `limit` tokens asked); the original if it is not shorter."""
    assert teacher.backend is not None
    request: list[Message] = [{"role": "user", "content": prompts.compress_prompt(reasoning, limit)}]
    config = GenerationConfig(
        max_new_tokens=max(2 * limit, 64), thinking_budget=None, temperature=0.0, stop_after_code_block=False
    )
    [completion] = teacher.backend.generate(
        request, mode=Mode.NO_THINK, config=config, adapter=teacher.adapter
    )
    shorter = split_reasoning(completion.content).content.strip()
    return shorter if shorter and estimate_tokens(shorter) < estimate_tokens(reasoning) else reasoning


class ReasoningCache:
    """item hash -> reasoning, per teacher and compression setting; append-only and fsynced."""

    def __init__(self, path: Path) -> None:
        self.rows = {(row["hash"], row["variant"]): row for row in read_jsonl(path)}
        self._log = AppendLog(path)

    def get(self, item_hash: str, variant: str) -> dict | None:
        return self.rows.get((item_hash, variant))

    def put(self, row: dict) -> None:
        self._log.append([row])
        self.rows[(row["hash"], row["variant"])] = row

    def close(self) -> None:
        self._log.close()
