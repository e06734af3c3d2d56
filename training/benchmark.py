"""The held-out benchmark: each held-out method, broken once, the same way for every model.

A method is broken with the first of its single-site mutants (training.mutation, in the fixed
trial order for its id and the seed) that its covering tests reject; the loop then starts from
that broken body, as a user's "Fix this method" does. A method without such a mutant is asked
for from its masked body instead (the loop's generate start). The chosen inputs are stored in
the evaluation report, so a later run can replay exactly the same benchmark.
"""

from __future__ import annotations

import hashlib
from collections import Counter
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Literal

from repomend.contract.verdict import Reference, judge
from repomend.loop import RepairRequest, TestRunner
from repomend.source import CandidateRejected, SourceError, find_method, method_text, splice
from training.errors import BenchmarkError
from training.generate import current_source
from training.mutation import FIX_TYPES, OPERATORS, in_trial_order, mutants
from training.records import MethodRecord
from training.storage import short_hash

Start = Literal["mutant", "generate"]


def _sha256(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


BODY_REMOVED = "body removed"
"""The fix type of an item that starts from the method's body removed: the whole body is the fix."""
MAX_MUTANT_TRIALS = 12
"""Mutants tried per method before falling back to generation (each costs a sandbox run)."""


@dataclass(frozen=True)
class BenchmarkItem:
    id: str
    path: str
    qualname: str
    tests: list[str]
    start: Start
    source: str
    """The whole file as the loop receives it: the mutant applied, or the original (generate)."""
    ground_truth: str
    """The method as the repository has it (column-0 form)."""
    operator: str | None = None
    mutation: str | None = None
    broken_method: str | None = None

    @property
    def fix_type(self) -> str:
        """The kind of fix the item asks for: its operator's, or writing the body anew."""
        if self.start == "generate":
            return BODY_REMOVED
        return FIX_TYPES.get(self.operator or "", "other")

    def request(self, repo: Path) -> RepairRequest:
        return RepairRequest(
            repo=repo, path=self.path, qualname=self.qualname, tests=self.tests, source=self.source
        )

    def to_dict(self) -> dict:
        """Without the whole file (reports stay small): its hash, and the broken method to rebuild it."""
        data = asdict(self)
        data["source_sha256"] = _sha256(data.pop("source"))
        return data

    @classmethod
    def from_dict(cls, data: dict, repo: Path) -> BenchmarkItem:
        """Rebuild the file from the repository's copy and the stored broken method; refuses when
        the result is not byte for byte what was benchmarked."""
        fields = {k: v for k, v in data.items() if k != "source_sha256"}
        try:
            original = (repo / data["path"]).read_text(encoding="utf-8")
            source = original
            if data["start"] == "mutant":
                source = splice(original, find_method(original, data["qualname"]), data["broken_method"])
        except (OSError, UnicodeDecodeError, SourceError, CandidateRejected) as err:
            raise BenchmarkError(f"cannot rebuild {data['id']} from {repo}: {err}") from err
        if _sha256(source) != data["source_sha256"]:
            raise BenchmarkError(
                f"{data['path']} changed since the benchmark was made; cannot replay {data['id']}"
            )
        return cls(**{**fields, "tests": list(data["tests"]), "source": source})


@dataclass
class Benchmark:
    items: list[BenchmarkItem]
    seed: int
    start: Start
    skipped: dict[str, int] = field(default_factory=dict)
    """Held-out methods left out and why (file changed since extraction)."""

    def to_dict(self) -> dict:
        counts = Counter(item.start for item in self.items)
        return {
            "seed": self.seed,
            "start": self.start,
            "counts": {"methods": len(self.items), **dict(sorted(counts.items()))},
            "skipped": self.skipped,
            "items": [item.to_dict() for item in self.items],
        }

    @classmethod
    def from_dict(cls, data: dict, repo: Path) -> Benchmark:
        items = [BenchmarkItem.from_dict(item, repo) for item in data["items"]]
        return cls(
            items, int(data.get("seed", 0)), data.get("start", "mutant"), dict(data.get("skipped") or {})
        )


def choose_methods(records: Sequence[MethodRecord], *, seed: int, limit: int | None) -> list[MethodRecord]:
    """All held-out methods, or a seeded sample of `limit` of them, in a stable order."""
    ordered = sorted(records, key=lambda record: short_hash(str(seed), record.id))
    chosen = ordered if limit is None else ordered[:limit]
    return sorted(chosen, key=lambda record: record.id)


def _generate_item(record: MethodRecord, source: str) -> BenchmarkItem:
    return BenchmarkItem(
        id=record.id,
        path=record.path,
        qualname=record.qualname,
        tests=list(record.tests),
        start="generate",
        source=source,
        ground_truth=record.method_text,
    )


def break_method(
    record: MethodRecord, source: str, repo: Path, run: TestRunner, *, seed: int
) -> BenchmarkItem:
    """The first mutant (fixed order) the method's tests reject; the masked method when none is."""
    try:
        method = find_method(source, record.qualname)
    except SourceError:
        return _generate_item(record, source)
    candidates = in_trial_order(mutants(source, method, OPERATORS), key=record.id, seed=seed)
    truth = run(repo, record.tests, overrides={record.path: source})
    reference = Reference.of(truth, "the ground truth")
    for mutant in candidates[:MAX_MUTANT_TRIALS]:
        result = run(repo, record.tests, overrides={record.path: mutant.source})
        if judge(result, reference).passed or result.timed_out or result.crashed:
            continue  # survived, or a verdict that may not repeat: not a reproducible bug
        broken = method_text(mutant.source, find_method(mutant.source, record.qualname))
        return BenchmarkItem(
            id=record.id,
            path=record.path,
            qualname=record.qualname,
            tests=list(record.tests),
            start="mutant",
            source=mutant.source,
            ground_truth=record.method_text,
            operator=mutant.operator,
            mutation=mutant.description,
            broken_method=broken,
        )
    return _generate_item(record, source)


def build_benchmark(
    records: Sequence[MethodRecord],
    repo: Path,
    borrow_runner: Callable[[], object],
    *,
    start: Start = "mutant",
    seed: int = 0,
    workers: int = 1,
) -> Benchmark:
    """Break every method (in parallel, `workers` sandboxes); `borrow_runner()` is a context
    manager yielding a TestRunner (training.generate.RunnerPool.borrow)."""
    skipped: Counter[str] = Counter()
    sources: dict[str, str] = {}
    for record in records:
        source = current_source(repo, record)
        if source is None:
            skipped["changed_since_extraction"] += 1
        else:
            sources[record.id] = source
    usable = [record for record in records if record.id in sources]

    def one(record: MethodRecord) -> BenchmarkItem:
        if start == "generate":
            return _generate_item(record, sources[record.id])
        with borrow_runner() as run:  # type: ignore[attr-defined]
            return break_method(record, sources[record.id], repo, run, seed=seed)

    with ThreadPoolExecutor(max_workers=max(1, workers), thread_name_prefix="benchmark") as executor:
        items = list(executor.map(one, usable))
    return Benchmark(items, seed, start, dict(skipped))
