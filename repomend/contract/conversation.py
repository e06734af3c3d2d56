"""Think / no-think turns: prefills, reasoning split-off and code extraction from replies."""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import StrEnum
from typing import TypedDict


class Mode(StrEnum):
    THINK = "think"
    NO_THINK = "no-think"


class Message(TypedDict):
    role: str
    content: str


THINK_OPEN = "<think>"
THINK_CLOSE = "</think>"
THINK_PREFILL = "<think>\n"
"""Opens the reasoning block for models that do not emit `<think>` on their own."""
FORCED_CLOSE = "\n</think>\n\n"
"""Appended when the thinking budget runs out, so the model must answer."""


class NoCodeBlock(ValueError):
    """The reply holds no usable python code block; `str(err)` says why, for the user and the next turn."""


@dataclass(frozen=True)
class SplitReply:
    reasoning: str | None
    content: str


_THINK_RE = re.compile(r"^\s*(?:<think>)?(.*?)</think>\s*", re.DOTALL)


def split_reasoning(reply: str) -> SplitReply:
    """Separate `<think>...</think>` (possibly with the opening tag prefilled) from the answer.

    An unclosed `<think>` means the model never answered: everything is reasoning.
    """
    match = _THINK_RE.match(reply)
    if match:
        reasoning = match.group(1).strip()
        return SplitReply(reasoning or None, reply[match.end() :])
    stripped = reply.lstrip()
    if stripped.startswith(THINK_OPEN):
        return SplitReply(stripped[len(THINK_OPEN) :].strip() or None, "")
    return SplitReply(None, reply)


_FENCE_RE = re.compile(r"```[ \t]*([A-Za-z0-9_+-]*)[^\n]*\n(.*?)(?:```|\Z)", re.DOTALL)


def _without_fence_lines(code: str) -> str:
    """Stray fence lines (a closing fence with no opening one, a ```` closer) are never code."""
    return "\n".join(line for line in code.splitlines() if not line.lstrip().startswith("```")).strip("\n")


def extract_code(content: str) -> str:
    """The python block of a reply; prefer ```python, accept a bare fence, refuse prose-only replies."""
    if content.strip().startswith(("def ", "async def ")):
        return _without_fence_lines(content)
    blocks = [(lang.lower(), body) for lang, body in _FENCE_RE.findall(content)]
    if not blocks:
        raise NoCodeBlock("the reply contains no ```python code block")
    python_blocks = [body for lang, body in blocks if lang in ("python", "py", "python3")]
    candidates = python_blocks or [body for lang, body in blocks if lang == ""]
    if not candidates:
        langs = ", ".join(sorted({lang for lang, _ in blocks}))
        raise NoCodeBlock(f"the reply's code blocks are not python ({langs})")
    with_def = [body for body in candidates if re.search(r"^\s*(async\s+)?def\s", body, re.M)]
    code = _without_fence_lines((with_def or candidates)[0])
    if not code.strip():
        raise NoCodeBlock("the reply's python code block is empty")
    return code


def history_reply(content: str) -> str:
    """What an assistant turn looks like when fed back: reasoning is never kept in history."""
    return content.strip()
