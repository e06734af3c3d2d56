"""What one repair produced, turn by turn: the record the CLI, server, training and evaluation read."""

from __future__ import annotations

import difflib
from dataclasses import asdict, dataclass, field
from enum import StrEnum

from repomend.contract.conversation import Message, Mode
from repomend.contract.verdict import Verdict
from repomend.fix_types import fix_type
from repomend.source import find_method, method_text
from sandbox.results import RunResult


class Status(StrEnum):
    """How a repair ended: the one outcome vocabulary of the CLI, the server, its API and the editors."""

    FIXED = "fixed"
    UNFIXED = "unfixed"
    ALREADY_PASSING = "already_passing"
    CANCELLED = "cancelled"
    FAILED = "failed"
    """The repair stopped on an error: the engine mid-repair (the turns made before are kept,
    `Trajectory.error` says why), or, on the server, before it could run (no tests, no sandbox)."""
    UNVERIFIED = "unverified"
    """A candidate passed once but not again in a fresh sandbox: never handed over as fixed."""


@dataclass
class Attempt:
    """One sampled answer of a turn and its verdict."""

    reply: str
    reasoning: str | None
    candidate: str | None
    """The method code extracted from the reply; None when there was no usable code block."""
    rejection: str | None
    """Why the answer could not be tested (no code block, wrong name, does not parse, or the
    screen's reason: `repomend.contract.screen`)."""
    results: RunResult | None
    generation_seconds: float
    test_seconds: float
    prompt_tokens: int
    completion_tokens: int
    budget_forced: bool = False
    new_source: str | None = None
    """The whole file with the candidate spliced in."""
    verdict: Verdict | None = None
    """The tests' verdict against the repair's reference (`repomend.contract.verdict`)."""
    repeat: bool = False
    """The answer is code already tested in this repair (the method as given included, compared
    by `repomend.source.code_key`): it is not tested again."""

    @property
    def passed(self) -> bool:
        if self.results is None:
            return False
        return self.verdict.passed if self.verdict is not None else self.results.passed

    @property
    def tests_passed(self) -> int:
        return 0 if self.results is None else self.results.passed_count

    @property
    def tests_failed(self) -> int:
        return 0 if self.results is None else len(self.results.failures)


@dataclass
class Turn:
    index: int
    """1-based."""
    prompt: str
    attempts: list[Attempt] = field(default_factory=list)
    chosen: int = 0
    """The attempt that passed, or the one fed back to the model for the next turn."""
    feedback: str | None = None
    """The TEST_RESULT text sent after this turn (None when it passed)."""
    left_out: int = 0
    """Earlier answers left out of this turn's prompt so that it fits the engine's context."""
    follow_up: str | None = None
    """The whole user turn that follows a failed answer (`prompts.iteration_prompt`), sent when
    a turn is left; training's rule b ends its conversations with it."""

    @property
    def passed(self) -> bool:
        return any(a.passed for a in self.attempts)

    @property
    def answer(self) -> Attempt:
        return self.attempts[self.chosen]


@dataclass
class Trajectory:
    path: str
    qualname: str
    mode: Mode
    model: str
    tests: list[str]
    original_source: str
    original_method: str
    status: Status = Status.UNFIXED
    initial_results: RunResult | None = None
    """Test results of the method as given (repair start); None when generating from scratch."""
    turns: list[Turn] = field(default_factory=list)
    messages: list[Message] = field(default_factory=list)
    """The conversation as the model saw it, reasoning stripped; ends with the last reply."""
    seconds: float = 0.0
    reference: str | None = None
    """What the verdicts compared with: "the method as given", "the ground truth"."""
    confirmation: RunResult | None = None
    """The second run of the passing candidate, in a fresh cold sandbox."""
    confirmation_verdict: Verdict | None = None
    verdict: Verdict | None = None
    """The verdict the status rests on: the method as given when already passing, else the final
    answer's."""
    error: str | None = None
    """Why the repair stopped early (status `failed`): the engine's one-line error."""

    @property
    def basis(self) -> dict | None:
        """What the outcome rests on: tests that ran and passed, the reference, the second run."""
        verdict = self.verdict
        if verdict is None:
            return None
        second = self.confirmation_verdict
        return {
            "summary": verdict.describe(),
            "reference": verdict.reference,
            "ran": verdict.ran,
            "passed": verdict.passed_tests,
            "neutral": verdict.neutral,
            "dodged": verdict.dodged,
            "failed": verdict.failed,
            "problem": verdict.problem,
            "second_run": None if second is None else ("agreed" if second.passed else "disagreed"),
            "second_run_summary": None if second is None else second.describe(),
        }

    @property
    def final(self) -> Attempt | None:
        """The passing attempt, else the last answer."""
        return self.turns[-1].answer if self.turns else None

    @property
    def fixed_source(self) -> str | None:
        final = self.final
        return final.new_source if self.status is Status.FIXED and final else None

    @property
    def fixed_method(self) -> str | None:
        """The verified method as it now reads in the file (docstring kept, file's indentation)."""
        fixed = self.fixed_source
        return None if fixed is None else method_text(fixed, find_method(fixed, self.qualname))

    @property
    def fix_type(self) -> str | None:
        """What kind of fix it is (`repomend.fix_types`), from the method as given and the fix;
        None for a method written from its body removed, which has no one kind."""
        if self.initial_results is None:
            return None
        return fix_type(self.original_method, self.fixed_method)

    @property
    def turns_used(self) -> int:
        return len(self.turns)

    def diff(self, new_source: str | None = None) -> str:
        """Unified diff of the file from the original to `new_source` (default: the fix)."""
        target = new_source if new_source is not None else self.fixed_source
        if target is None:
            return ""
        return "".join(
            difflib.unified_diff(
                self.original_source.splitlines(keepends=True),
                target.splitlines(keepends=True),
                fromfile=f"a/{self.path}",
                tofile=f"b/{self.path}",
            )
        )

    def to_dict(self) -> dict:
        return asdict(self)
