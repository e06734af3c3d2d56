"""What extraction produces and every later step reads: one record per test-covered method.

Stored as JSON lines under an extraction folder with a manifest; the split is by method, so a
held-out method never appears in training data.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Literal

from repomend.contract import prompts
from repomend.contract.conversation import Message

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
    """The file's content with this method's body removed (what the first-turn prompt shows);
    in a training record, the held-out methods' bodies of the file are removed too."""
    tests: list[str]
    """pytest node ids whose run executes the body (coverage.py dynamic contexts)."""
    split: Split
    line: int = 0
    """0-based line of the `def` in `masked_file` (where the first-turn excerpt centres)."""
    extra: dict = field(default_factory=dict)
    hidden_bodies: list[str] = field(default_factory=list)
    """Qualnames of the held-out methods whose bodies `masked_file` leaves out."""

    @property
    def name(self) -> str:
        return self.qualname.rsplit(".", 1)[-1]

    def opening_messages(self, description: str | None = None) -> list[Message]:
        """System + first-turn prompt exactly as the repair loop builds them for this method."""
        return prompts.opening_messages(
            method=self.name,
            class_name=self.class_name,
            declaration=self.declaration,
            docstring=self.docstring,
            file_content=self.masked_file,
            path=self.path,
            line=self.line,
            description=description,
        )

    def ground_truth_reply(self) -> str:
        """The assistant turn that answers with the original method, in the shape the loop parses."""
        return prompts.as_code_reply(self.method_text)

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
    name: str = ""
    """Repository name: the folder name of the checkout (names the folders under the data dir)."""
    heldout_fraction: float = 0.2
    validation_fraction: float = 0.1
    split_unit: Literal["method", "file"] = "method"
    """What the split hashes: each method on its own, or whole files (no held-out body in any prompt)."""
    dirty: bool | None = None
    """The checkout had uncommitted changes (None: not a git repository)."""
    tests_collected: int = 0
    tests_passed: int = 0
    skipped: dict[str, int] = field(default_factory=dict)
    """Methods left out and why (not covered, only failing tests, duplicate name, placeholder body...)."""


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


def write_manifest(folder: Path, manifest: ExtractionManifest) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    tmp = folder / (MANIFEST_FILE + ".tmp")
    tmp.write_text(json.dumps(asdict(manifest), indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    tmp.replace(folder / MANIFEST_FILE)
