"""Trajectory items on disk: append-only, fsynced, resumable.

A folder holds `items.jsonl` (one training item per line: messages + meta) and `done.jsonl`
(one line per finished unit of work, keyed by (teacher, method id, variant)). A unit's items
are written and synced before its done line, so after a crash the items of units without a
done line (and a line cut short) are dropped on the next open and those units run again:
at most the units in flight are lost.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterable
from pathlib import Path

from training.storage import AppendLog, read_jsonl, write_jsonl

ITEMS_FILE = "items.jsonl"
DONE_FILE = "done.jsonl"
CONFIG_FILE = "config.json"
MANIFEST_FILE = "manifest.json"

Key = tuple[str, str, str]


def key_of(row: dict) -> Key:
    return (str(row["teacher"]), str(row["method"]), str(row["variant"]))


def _lines(path: Path) -> int:
    if not path.exists():
        return 0
    with path.open("rb") as handle:
        return sum(1 for _ in handle)


def read_done(folder: Path) -> dict[Key, dict]:
    return {key_of(row): row for row in read_jsonl(folder / DONE_FILE)}


def read_items(folder: Path) -> list[dict]:
    """The items of finished units (what a dataset may use), in the order they were written."""
    done = read_done(folder)
    return [row for row in read_jsonl(folder / ITEMS_FILE) if key_of(row) in done]


class TrajectoryStore:
    """Open for appending; repairs what a crash left behind first."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        folder.mkdir(parents=True, exist_ok=True)
        self.repaired = self._repair()
        self.done = read_done(folder)
        self.hashes = {row["hash"] for row in read_jsonl(folder / ITEMS_FILE)}
        self._items = AppendLog(folder / ITEMS_FILE)
        self._done = AppendLog(folder / DONE_FILE)

    def _repair(self) -> int:
        """Rewrite the files without cut-short lines and orphan items; returns how many lines went."""
        dropped = 0
        done_rows = list(read_jsonl(self.folder / DONE_FILE))
        if len(done_rows) != _lines(self.folder / DONE_FILE):
            dropped += _lines(self.folder / DONE_FILE) - len(done_rows)
            write_jsonl(self.folder / DONE_FILE, done_rows)
        done = {key_of(row) for row in done_rows}
        items = [row for row in read_jsonl(self.folder / ITEMS_FILE) if key_of(row) in done]
        if len(items) != _lines(self.folder / ITEMS_FILE):
            dropped += _lines(self.folder / ITEMS_FILE) - len(items)
            write_jsonl(self.folder / ITEMS_FILE, items)
        return dropped

    def is_done(self, key: Key) -> bool:
        return key in self.done

    def finish(self, key: Key, items: Iterable[dict], summary: dict) -> list[dict]:
        """Append a unit's new items (those not already stored), then its done line; returns the new items."""
        fresh = []
        for item in items:
            if item["hash"] not in self.hashes:
                self.hashes.add(item["hash"])
                fresh.append(item)
        self._items.append(fresh)
        row = {"teacher": key[0], "method": key[1], "variant": key[2], "items": len(fresh), **summary}
        self._done.append([row])
        self.done[key] = row
        return fresh

    def close(self) -> None:
        self._items.close()
        self._done.close()

    def __enter__(self) -> TrajectoryStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def read_config(folder: Path) -> dict | None:
    path = folder / CONFIG_FILE
    return json.loads(path.read_text(encoding="utf-8")) if path.exists() else None


def summarize(folder: Path) -> dict:
    """Counts over a folder's finished units and items: what its manifest reports."""
    items = read_items(folder)
    done = read_done(folder)
    by_teacher: dict[str, Counter] = {}
    for item in items:
        counter = by_teacher.setdefault(item["teacher"], Counter())
        counter[f"rule_{item['rule']}"] += 1
        counter[f"target_{item['target']}"] += 1
        counter[f"split_{item['split']}"] += 1
        counter["items"] += 1
    units: dict[str, Counter] = {}
    mutation = Counter()
    for row in done.values():
        counter = units.setdefault(row["teacher"], Counter())
        counter["units"] += 1
        counter[f"status_{row.get('status', 'unknown')}"] += 1
        for name, value in (row.get("mutants") or {}).items():
            if isinstance(value, int):
                mutation[name] += value
        for operator, value in (row.get("kept_by_operator") or {}).items():
            mutation[f"kept_{operator}"] += value
    return {
        "items": len(items),
        "by_teacher": {name: dict(sorted(c.items())) for name, c in sorted(by_teacher.items())},
        "by_rule": dict(sorted(Counter(item["rule"] for item in items).items())),
        "by_target": dict(sorted(Counter(item["target"] for item in items).items())),
        "units": {name: dict(sorted(c.items())) for name, c in sorted(units.items())},
        "mutation": dict(sorted(mutation.items())),
    }
