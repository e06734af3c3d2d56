"""The one verdict: did a candidate's tests really pass, compared with a reference run?

A test counts for a candidate only when it ran and passed. Which tests must pass comes from a
reference run: for a repair, the method as the user had it; for evaluation and training, the
ground truth. A test the reference ran (passed or failed) must pass; a test the reference
skipped or xfailed, or that its own marks skip, is neutral (the environment's skip, shared).
A candidate under which a test that counts skips, xfails, disappears or never runs has dodged
it: not a fix, and the feedback names it. A run whose records are incomplete, unauthenticated
or inconsistent (see `sandbox.runner`) is never a pass.

The server, the LSP (through the server), the CLI, training rewards and teachers, and
evaluation all decide "fixed" here, through the repair loop or `judge` directly.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

from sandbox.results import RunResult

NEUTRAL_OUTCOMES = frozenset({"skipped", "xfailed"})
FAILED_OUTCOMES = frozenset({"failed", "error", "xpassed"})


@dataclass(frozen=True)
class Reference:
    """Which tests a candidate must pass, read off one trusted run."""

    label: str
    """What ran: "the method as given", "the ground truth"."""
    outcomes: dict[str, str] = field(default_factory=dict)
    marked: dict[str, str] = field(default_factory=dict)
    collected: tuple[str, ...] = ()
    replaced: frozenset[str] = frozenset()
    """What the reference run's own tests or fixtures replaced while running (not a candidate's doing)."""

    @classmethod
    def of(cls, result: RunResult, label: str) -> Reference:
        return cls(
            label=label,
            outcomes={t.nodeid: t.outcome for t in result.tests},
            marked=dict(result.marked),
            collected=tuple(result.collected),
            replaced=frozenset(result.replaced),
        )

    def neutral(self, nodeid: str) -> bool:
        return self.outcomes.get(nodeid) in NEUTRAL_OUTCOMES or nodeid in self.marked

    def knows(self, nodeid: str) -> bool:
        return nodeid in self.outcomes or nodeid in self.collected


@dataclass
class Verdict:
    """What "passed" rests on: which tests ran, passed, were neutral, were dodged or failed."""

    passed: bool
    reference: str | None
    """The reference's label; None when judged on the tests' own marks only."""
    ran: list[str] = field(default_factory=list)
    passed_tests: list[str] = field(default_factory=list)
    neutral: list[str] = field(default_factory=list)
    """Skipped or xfailed as in the reference (or by their own marks)."""
    dodged: dict[str, str] = field(default_factory=dict)
    """nodeid -> how a test that counts escaped: skipped, xfailed, did not run, not collected."""
    failed: list[str] = field(default_factory=list)
    problem: str | None = None
    """Why the run as a whole cannot pass (time limit, crash, untrusted records, collection)."""

    def describe(self) -> str:
        """One line for people: what the verdict rests on."""
        basis = f"against {self.reference}" if self.reference else "on the tests' own marks"
        parts = [f"{len(self.passed_tests)} of {len(self.ran)} tests ran and passed ({basis})"]
        if self.neutral:
            parts.append(f"{len(self.neutral)} skipped as in the reference")
        if self.dodged:
            parts.append(f"{len(self.dodged)} dodged")
        if self.failed:
            parts.append(f"{len(self.failed)} failed")
        if self.problem:
            parts.append(self.problem)
        return "; ".join(parts)

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict) -> Verdict:
        return cls(**data)


def judge(result: RunResult, reference: Reference | None) -> Verdict:
    """The verdict on `result`; `reference` None judges on the tests' own static marks alone."""
    outcomes = {t.nodeid: t.outcome for t in result.tests}
    order = list(dict.fromkeys([*result.collected, *outcomes, *(reference.outcomes if reference else ())]))
    verdict = Verdict(
        passed=False, reference=reference.label if reference else None, problem=_problem(result, reference)
    )
    for nodeid in order:
        outcome = outcomes.get(nodeid)
        if reference is not None and reference.knows(nodeid):
            neutral = reference.neutral(nodeid)
        else:
            neutral = nodeid in result.marked
        if outcome is not None:
            verdict.ran.append(nodeid)
        if outcome == "passed":
            verdict.passed_tests.append(nodeid)
        elif outcome in ("failed", "error") or (outcome == "xpassed" and not neutral):
            verdict.failed.append(nodeid)
        elif neutral:
            verdict.neutral.append(nodeid)
        elif outcome is not None:
            verdict.dodged[nodeid] = outcome
        else:
            verdict.dodged[nodeid] = "did not run" if nodeid in result.collected else "not collected"
    verdict.passed = bool(verdict.passed_tests) and not (verdict.problem or verdict.dodged or verdict.failed)
    return verdict


def _problem(result: RunResult, reference: Reference | None) -> str | None:
    if result.timed_out:
        return "the tests ran past the time limit"
    if result.killed_reason:
        return f"the tests were stopped ({result.killed_reason})"
    if result.integrity:
        return f"the results cannot be trusted: {result.integrity}"
    if result.crashed:
        return "the test process crashed before reporting"
    if result.collection_errors:
        return f"{len(result.collection_errors)} collection error(s)"
    replaced = [name for name in result.replaced if reference is None or name not in reference.replaced]
    if replaced:
        return "replaced while the tests ran: " + ", ".join(replaced[:5])
    return None
