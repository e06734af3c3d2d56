"""Normalised forms for deciding that two texts say the same thing (dedup, split grouping).

Code is compared by its syntax tree, so formatting and comments do not make two answers
different; prose by its words, so whitespace does not.
"""

from __future__ import annotations

import ast
import hashlib
import json
import re
import warnings
from collections.abc import Sequence

from repomend.contract.conversation import Message, NoCodeBlock, extract_code, split_reasoning

_SPACE = re.compile(r"\s+")


def normalize_text(text: str) -> str:
    return _SPACE.sub(" ", text).strip()


def normalize_code(code: str) -> str:
    """`ast.unparse` of the code (docstrings kept, comments and layout gone); words when it does not parse.

    For telling training rows apart: two answers that differ only in their docstrings teach
    different text, so both are kept. The loop's test for a repeated answer is
    `repomend.source.code_key`, which drops docstrings, since `keep_docstring` restores them anyway.
    """
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return ast.unparse(ast.parse(code))
    except (SyntaxError, ValueError):
        return normalize_text(code)


def normalize_message(message: Message) -> str:
    """An assistant turn is its reasoning's words plus its code's tree; other turns are their words."""
    content = message["content"]
    if message["role"] != "assistant":
        return normalize_text(content)
    split = split_reasoning(content)
    try:
        body = normalize_code(extract_code(split.content))
    except NoCodeBlock:
        body = normalize_text(split.content)
    return normalize_text(split.reasoning or "") + "\n" + body


def messages_hash(messages: Sequence[Message]) -> str:
    """Same hash for conversations that differ only in layout, comments or whitespace."""
    normalised = [[m["role"], normalize_message(m)] for m in messages]
    return hashlib.sha256(json.dumps(normalised, ensure_ascii=False).encode("utf-8")).hexdigest()[:16]
