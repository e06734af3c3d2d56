"""Per-token weights of an answer's loss: the tokens a fix changes weigh more than those it copies.

A repair answer restates the whole method, and about 1 token in 200 differs from the code the
prompt shows; under plain cross-entropy the loss is almost all copying, and an adapter trained on
it may learn to copy (to echo the bug back). With `weight` above 1 the answer's tokens that no run
copied from the prompt weigh `weight` times the copied ones. Each answer's weights still sum to its
token count, so a row weighs what it weighed before and only the emphasis inside it moves: an answer
written from nothing (the body removed) keeps the plain loss.

Measured on toolz (0.5B, LoRA on the top 6 layers, 25 steps): at weights 3 and 10 the adapter
echoed less but repaired less than with the plain loss, so the default stays 1.
"""

from __future__ import annotations

from collections.abc import Sequence
from difflib import SequenceMatcher


def copied_from_prompt(prompt: Sequence[int], answer: Sequence[int]) -> list[bool]:
    """Per answer token: whether it lies in a run the answer shares, in order, with the prompt.

    difflib aligns the longest common runs first and recurses around them, so the answer's method
    lines up with the code the prompt shows and a changed token can only match inside the gap the
    change left."""
    copied = [False] * len(answer)
    matcher = SequenceMatcher(None, list(prompt), list(answer), autojunk=False)
    for block in matcher.get_matching_blocks():
        copied[block.b : block.b + block.size] = [True] * block.size
    return copied


def changed_token_weights(copied: Sequence[bool], weight: float) -> list[float]:
    """An answer's per-token loss weights from `copied_from_prompt`: changed tokens `weight` times the
    copied ones, summing to the answer's length; all 1 when every token (or none) was copied."""
    raw = [1.0 if was_copied else weight for was_copied in copied]
    scale = len(raw) / sum(raw) if raw else 1.0
    return [value * scale for value in raw]
