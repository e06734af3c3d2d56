"""Where training files live and how they are written so that a crash never corrupts them.

Layout under the data directory, one folder per repository:
  training/<repo>/extract/<version>/        methods.jsonl + manifest.json
  training/<repo>/trajectories/<version>/   items.jsonl + done.jsonl + manifest.json
  training/<repo>/datasets/<version>/       train/validation in TRL and ShareGPT form + manifest.json
  training/<repo>/eval-cache/               evaluation cells a job may reuse (training.eval_cache)
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import IO, Any

from repomend.settings import Settings


def training_root(settings: Settings, repo_name: str) -> Path:
    return settings.data_dir / "training" / repo_name


def extraction_dir(settings: Settings, repo_name: str, version: str) -> Path:
    return training_root(settings, repo_name) / "extract" / version


def trajectories_dir(settings: Settings, repo_name: str, version: str) -> Path:
    return training_root(settings, repo_name) / "trajectories" / version


def datasets_dir(settings: Settings, repo_name: str, version: str) -> Path:
    return training_root(settings, repo_name) / "datasets" / version


def eval_cache_dir(settings: Settings, repo_name: str) -> Path:
    return training_root(settings, repo_name) / "eval-cache"


def short_hash(*parts: str | bytes) -> str:
    """12 hex digits of sha256 over the parts: a version that names content, not a time."""
    digest = hashlib.sha256()
    for part in parts:
        digest.update(part.encode("utf-8") if isinstance(part, str) else part)
        digest.update(b"\0")
    return digest.hexdigest()[:12]


def write_json(path: Path, data: Any) -> None:
    """Replace `path` atomically: readers see the old file or the new one, never half of one."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(data, indent=2, ensure_ascii=False, sort_keys=True) + "\n", encoding="utf-8")
    tmp.replace(path)


def write_jsonl(path: Path, rows: Iterable[dict]) -> int:
    """Atomic whole-file write of JSON lines; returns the number of rows."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    count = 0
    with tmp.open("w", encoding="utf-8") as handle:
        for row in rows:
            handle.write(json.dumps(row, ensure_ascii=False) + "\n")
            count += 1
    tmp.replace(path)
    return count


def read_jsonl(path: Path) -> Iterator[dict]:
    """Complete JSON lines of `path`; a line cut short by a crash (no newline, bad JSON) is skipped."""
    if not path.exists():
        return
    with path.open(encoding="utf-8") as handle:
        for line in handle:
            if not line.endswith("\n"):
                return  # the write of the last line never finished
            try:
                row = json.loads(line)
            except ValueError:
                continue
            if isinstance(row, dict):
                yield row


class AppendLog:
    """Append-only JSON lines, each flushed and fsynced before `append` returns."""

    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        self._handle: IO[str] = path.open("a", encoding="utf-8")

    def append(self, rows: Iterable[dict]) -> None:
        for row in rows:
            self._handle.write(json.dumps(row, ensure_ascii=False) + "\n")
        self._handle.flush()
        os.fsync(self._handle.fileno())

    def close(self) -> None:
        self._handle.close()

    def __enter__(self) -> AppendLog:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
