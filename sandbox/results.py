"""Structured outcome of a sandboxed test run: per test, never a raw log only."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Literal

Outcome = Literal["passed", "failed", "error", "skipped", "xfailed", "xpassed"]


@dataclass
class TestResult:
    __test__ = False  # not a pytest test class

    nodeid: str
    outcome: Outcome
    duration: float = 0.0
    exception_type: str | None = None
    message: str | None = None
    traceback: str | None = None
    """Short traceback (pytest --tb=short style), bounded in size."""


@dataclass
class RunResult:
    tests: list[TestResult] = field(default_factory=list)
    timed_out: bool = False
    crashed: bool = False
    """The runner died (killed, out of memory, interpreter crash) before reporting normally."""
    exit_code: int | None = None
    collection_errors: list[str] = field(default_factory=list)
    """Import / collection failures, one message per failing file (a candidate failing at import)."""
    output: str = ""
    """Captured stdout+stderr tail, bounded by the output limit."""
    duration: float = 0.0
    killed_reason: str | None = None
    """Why the sandbox killed the run: 'wall-clock', 'output-limit', 'memory', ... ."""
    not_found: list[str] = field(default_factory=list)
    """Requested node ids that were not collected (each is also listed in collection_errors,
    so a candidate that makes a test disappear never counts as passing)."""
    coverage: dict[str, dict[str, list[int]]] | None = None
    """nodeid -> repo-relative path -> executed line numbers, when coverage was requested."""
    coverage_error: str | None = None
    """Why coverage is None although it was requested (callers fall back to naming)."""

    @property
    def passed(self) -> bool:
        """True only when tests ran and every one of them passed (skips alone do not count)."""
        ran = [t for t in self.tests if t.outcome not in ("skipped",)]
        return (
            bool(ran)
            and not self.timed_out
            and not self.crashed
            and not self.collection_errors
            and all(t.outcome in ("passed", "xfailed") for t in ran)
        )

    @property
    def failures(self) -> list[TestResult]:
        return [t for t in self.tests if t.outcome in ("failed", "error", "xpassed")]

    @property
    def passed_count(self) -> int:
        return sum(1 for t in self.tests if t.outcome == "passed")

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict) -> RunResult:
        """The inverse of `to_dict`, for results read back from storage."""
        return cls(**{**data, "tests": [TestResult(**t) for t in data.get("tests", [])]})


@dataclass
class CollectResult:
    """Outcome of collecting (not running) a repository's tests."""

    node_ids: list[str] = field(default_factory=list)
    collection_errors: list[str] = field(default_factory=list)
    timed_out: bool = False
    crashed: bool = False
    exit_code: int | None = None
    output: str = ""
    duration: float = 0.0
    killed_reason: str | None = None

    def to_dict(self) -> dict:
        return asdict(self)
