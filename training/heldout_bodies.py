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

from collections import defaultdict
from dataclasses import replace
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
