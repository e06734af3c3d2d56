"""No training prompt shows a held-out body.

The split is by method, and a first-turn prompt shows an excerpt of the file around its method:
left alone, a training method's prompt could hold the body of a held-out neighbour, and the
evaluation would partly measure recall of code the adapter was shown. Every train and validation
record's file therefore has its held-out neighbours' bodies reduced to docstring and `...`, as its
own body is, while held-out records keep the file as a user's editor would show it. Generation
hands the same names to the loop (`RepairRequest.hidden_bodies`), so every teacher's conversation
opens with that view while the tests still run the whole file.
"""

from __future__ import annotations

import ast
from collections import defaultdict
from dataclasses import replace
from functools import lru_cache
from pathlib import Path

from repomend.source import prompt_view
from training.records import MethodRecord


def hide_heldout_bodies(records: list[MethodRecord], repo: Path) -> list[MethodRecord]:
    """The records, each train or validation one masked of the held-out methods of its file."""
    heldout: dict[str, list[str]] = defaultdict(list)
    for record in records:
        if record.split == "heldout":
            heldout[record.path].append(record.qualname)
    sources: dict[str, str] = {}
    out = []
    for record in records:
        hidden = heldout.get(record.path, []) if record.split != "heldout" else []
        if hidden:
            if record.path not in sources:
                sources[record.path] = (repo / record.path).read_text(encoding="utf-8")
            masked, line = prompt_view(sources[record.path], record.qualname, hidden)
            record = replace(record, masked_file=masked, line=line, hidden_bodies=sorted(hidden))
        out.append(record)
    return out


MATCHED_LINES = 2
"""Consecutive body lines a prompt must show, verbatim but for indentation, to count as showing it."""
MIN_MATCHED_CHARS = 16
"""Shorter runs (`return x`, `pass`) are too common to say which body they came from."""


def _lines(text: str) -> list[str]:
    return [line.strip() for line in text.splitlines() if line.strip()]


def body_statements(method_text: str) -> str:
    """The method's statements after its docstring: what a prompt must not show of a held-out
    method (its declaration and docstring are shown anyway)."""
    function = ast.parse(method_text).body[0]
    assert isinstance(function, ast.FunctionDef | ast.AsyncFunctionDef)
    statements = function.body[1:] if ast.get_docstring(function) is not None else function.body
    if not statements:
        return ""
    return "\n".join(method_text.splitlines()[statements[0].lineno - 1 : function.end_lineno])


def shows_body(text: str, method_text: str) -> bool:
    """Whether `text` shows part of the method's body: a run of `MATCHED_LINES` of its statement
    lines (all of them when fewer) in a row, ignoring indentation and blank lines. Prompts cut files
    by whole lines, so a body in an excerpt, whole or cut at its edge, shows such a run."""
    size, runs = _body_runs(method_text)
    if not runs:
        return False
    shown = _lines(text)
    return any(tuple(shown[i : i + size]) in runs for i in range(len(shown) - size + 1))


@lru_cache(maxsize=1024)
def _body_runs(method_text: str) -> tuple[int, frozenset[tuple[str, ...]]]:
    """The run length and the telling runs of the body's lines (a method is checked against
    every prompt of its file: parsed once)."""
    wanted = _lines(body_statements(method_text))
    size = min(MATCHED_LINES, len(wanted))
    runs = {tuple(wanted[i : i + size]) for i in range(len(wanted) - size + 1)} if size else set()
    return size, frozenset(run for run in runs if sum(map(len, run)) >= MIN_MATCHED_CHARS)
