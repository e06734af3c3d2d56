"""What extraction produces and every later step reads: one record per test-covered method.

Stored as JSON lines under an extraction folder with a manifest; the split is by method, so a
held-out method never appears in training data.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Literal

Split = Literal["train", "validation", "heldout"]

METHODS_FILE = "methods.jsonl"
MANIFEST_FILE = "manifest.json"


@dataclass(frozen=True)
class MethodRecord:
    """A function or method whose body at least one test executes."""

    id: str
    """`<path>::<qualname>`, unique within a repository."""
    path: str
    """File path relative to the repository root (POSIX separators)."""
    qualname: str
    """`Class.method` or `function`."""
    class_name: str | None
    declaration: str
    """The `def` line(s) up to and including the colon, at column 0."""
    docstring: str | None
    body: str
    """Ground-truth body as it appears in `method_text` (column-0 method form)."""
    method_text: str
    """The whole method at column 0: the form the model reads and writes."""
    masked_file: str
    """The file's content with this method's body removed (what the first-turn prompt shows)."""
    tests: list[str]
    """pytest node ids whose run executes the body (coverage.py dynamic contexts)."""
    split: Split
    line: int = 0
    """0-based line of the `def` in the original file."""
    extra: dict = field(default_factory=dict)

    def to_json(self) -> str:
        return json.dumps(asdict(self), ensure_ascii=False)

    @classmethod
    def from_json(cls, line: str) -> MethodRecord:
        return cls(**json.loads(line))


@dataclass(frozen=True)
class ExtractionManifest:
    version: str
    """Content hash of the records (stable for the same repository commit and settings)."""
    repository: str
    """Absolute path of the checkout that was extracted."""
    commit: str | None
    """`git rev-parse HEAD` of that checkout, when it is a git repository."""
    python: str
    created_at: str
    counts: dict[str, int]
    """Methods per split, plus `covered` and `functions_seen`."""
    seed: int = 0


def write_records(folder: Path, records: list[MethodRecord]) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    tmp = folder / (METHODS_FILE + ".tmp")
    tmp.write_text("".join(r.to_json() + "\n" for r in records), encoding="utf-8")
    tmp.replace(folder / METHODS_FILE)


def read_records(folder: Path, split: Split | None = None) -> list[MethodRecord]:
    lines = (folder / METHODS_FILE).read_text(encoding="utf-8").splitlines()
    records = [MethodRecord.from_json(line) for line in lines if line.strip()]
    return [r for r in records if split is None or r.split == split]


def read_manifest(folder: Path) -> ExtractionManifest:
    return ExtractionManifest(**json.loads((folder / MANIFEST_FILE).read_text(encoding="utf-8")))
