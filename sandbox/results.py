"""Structured outcome of a sandboxed test run: per test, never a raw log only."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Literal

Outcome = Literal["passed", "failed", "error", "skipped", "xfailed", "xpassed"]
SPARED = frozenset({"skipped", "xfailed", "xpassed"})
"""Outcomes that do not count against a run when the test's own marks expect them."""


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
    collected: list[str] = field(default_factory=list)
    """The node ids pytest collected and kept for this run."""
    marked: dict[str, str] = field(default_factory=dict)
    """nodeid -> 'skip' | 'xfail' for collected tests whose own marks say so before they run."""
    not_run: list[str] = field(default_factory=list)
    """Collected tests without an outcome: the run stopped (or was stopped) before them."""
    integrity: str | None = None
    """Why the records are not the run's trustworthy account (then `crashed` is set too)."""
    replaced: list[str] = field(default_factory=list)
    """Functions or classes of the test modules (and of the repository modules they name) and
    builtins that were replaced while the tests ran, as `module.name`."""

    @property
    def passed(self) -> bool:
        """Every collected test ran and passed, on a complete, authenticated record set.

        A skip, xfail or xpass counts against it, except where the test's own static mark says
        so: with no reference to compare with, a dodged test must never look like a pass. This
        is `repomend.contract.verdict.judge` without a reference; "fixed" is decided there."""
        marked = self.marked
        return (
            any(t.outcome == "passed" for t in self.tests)
            and not (self.timed_out or self.crashed or self.collection_errors or self.killed_reason)
            and not self.replaced
            and all(nodeid in marked for nodeid in self.not_run)
            and all(t.outcome == "passed" or (t.outcome in SPARED and t.nodeid in marked) for t in self.tests)
        )

    @property
    def start_failure(self) -> str | None:
        """One line when the interpreter never got as far as running pytest: nothing a candidate
        changes can help, so callers stop before asking a model."""
        problem = self.integrity or ""
        return problem if problem.startswith("the interpreter could not start") else None

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
