"""Dataset rows in the two formats fine-tuning tools read.

- TRL conversational: `{"messages": [{"role": ..., "content": ...}, ...]}` (SFTTrainer applies
  the tokenizer's chat template to it);
- ShareGPT: `{"conversations": [{"from": "system" | "human" | "gpt", "value": ...}, ...]}`.
"""

from __future__ import annotations

from enum import StrEnum

from repomend.contract.conversation import THINK_CLOSE, THINK_PREFILL, Message, Mode


class DatasetMode(StrEnum):
    """Which forms of each item a dataset holds: one mode's, or both in one adapter (hybrid)."""

    NO_THINK = Mode.NO_THINK.value
    THINK = Mode.THINK.value
    HYBRID = "hybrid"


SHAREGPT_ROLES = {"system": "system", "user": "human", "assistant": "gpt"}


def no_think(messages: list[Message]) -> list[Message]:
    """Answers as the model writes them in no-think mode: the code, no think block
    (`repomend.contract.rendering` says why), as history shows them at serve time."""
    return [{"role": m["role"], "content": m["content"]} for m in messages]


def think_block(reasoning: str) -> str:
    """The reasoning as the model writes it in think mode, ready to be followed by the answer."""
    return f"{THINK_PREFILL}{reasoning.strip()}\n{THINK_CLOSE}\n\n"


def with_reasoning(messages: list[Message], reasoning: str) -> list[Message]:
    """The last answer preceded by its reasoning; earlier answers without it (history is shown
    without reasoning at serve time)."""
    converted = no_think(messages[:-1])
    last = messages[-1]
    return [*converted, {"role": last["role"], "content": think_block(reasoning) + last["content"]}]


def trl_row(messages: list[Message]) -> dict:
    return {"messages": [{"role": m["role"], "content": m["content"]} for m in messages]}


def sharegpt_row(messages: list[Message]) -> dict:
    return {"conversations": [{"from": SHAREGPT_ROLES[m["role"]], "value": m["content"]} for m in messages]}
