"""Fit a repair conversation into the engine's context.

Five turns of answers and test output can outgrow a small model's slot; the engine then refuses
the request and the repair would lose every turn it made. The window keeps the opening (system
prompt, first turn and, for a repair, the method as given with its test output) and the latest
answers, drops the oldest answers between them, and says so at the end of the opening.
"""

from __future__ import annotations

from collections.abc import Callable

from repomend.contract import prompts
from repomend.contract.conversation import Message


def fit_conversation(
    messages: list[Message], head: int, fits: Callable[[list[Message]], bool]
) -> tuple[list[Message], int]:
    """The longest tail of answers (assistant, user pairs after `head` messages) that fits, and
    how many answers were left out. The last answer and its feedback are always kept: when even
    that does not fit, the engine's own error says so."""
    if fits(messages):
        return messages, 0
    body = messages[head:]
    pairs = len(body) // 2
    window = messages
    for dropped in range(1, pairs):
        opening = [dict(m) for m in messages[:head]]
        note = prompts.OMITTED_TURNS.format(count=dropped)
        opening[-1]["content"] = f"{opening[-1]['content']}\n{note}"
        window = [*opening, *body[2 * dropped :]]  # type: ignore[list-item]
        if fits(window):
            return window, dropped
    return window, max(pairs - 1, 0)
