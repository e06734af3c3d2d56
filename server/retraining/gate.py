"""The evaluation gate: what serves next is what measured best, and nothing replaces what serves
now unless it measurably does at least as well.

The contenders are every new adapter (trained on the student base), what serves now, and the
served base model without an adapter when an adapter serves now. A challenger qualifies when its
held-out Pass@k reaches the current one's plus the margin; of those, the best serves, and of
those within the margin of the best, the fastest (seconds per method): the small adapted model
wins over the large base where it repairs as well.
"""

from __future__ import annotations

from dataclasses import dataclass

from repomend.contract.conversation import Mode

GATE_MODE = Mode.NO_THINK
GATE_K = 5


@dataclass(frozen=True)
class GateDecision:
    promote: bool
    candidate: float
    baseline: float
    margin: float
    baseline_name: str
    k: int = GATE_K
    to_base: bool = False
    """What serves next is the served base model without an adapter (it beat the active one)."""
    seconds: tuple[float | None, float | None] = (None, None)
    """Seconds per held-out method of the candidate (or base) and of what serves now."""

    @property
    def reason(self) -> str:
        if self.to_base:
            verdict, relation = "returned to the base model", ">="
        else:
            verdict = "promoted" if self.promote else "kept inactive"
            relation = ">=" if self.promote else "<"
        subject = "the base model " if self.to_base else ""
        line = (
            f"{verdict}: held-out Pass@{self.k} ({GATE_MODE}) {subject}{self.candidate:.1%} {relation} "
            f"{self.baseline_name} {self.baseline:.1%} + margin {self.margin:.1%}"
        )
        if None not in self.seconds:
            line += f" ({self.seconds[0]:.1f} s vs {self.seconds[1]:.1f} s per method)"
        return line


def decide(
    candidate: float, baseline: float, margin: float, baseline_name: str, k: int = GATE_K
) -> GateDecision:
    """Promote when the candidate is at least the baseline plus the margin (ties pass at margin 0).

    `k` is Pass@5 unless the job allows fewer repair turns (Pass@k is cumulative over turns)."""
    promote = candidate + 1e-9 >= baseline + margin
    return GateDecision(promote, candidate, baseline, margin, baseline_name, k)


@dataclass(frozen=True)
class Contender:
    """A serving choice as the evaluation measured it."""

    name: str
    pass_at_k: float
    seconds: float | None = None
    """Seconds per held-out method; None: unmeasured, never preferred for speed."""


def serving_choice(current: Contender, challengers: list[Contender], margin: float) -> Contender:
    """What serves next: the best qualifying challenger (the fastest within the margin of the
    best), or `current` when none reaches its Pass@k plus the margin."""
    qualified = [c for c in challengers if c.pass_at_k + 1e-9 >= current.pass_at_k + margin]
    if not qualified:
        return current
    best = max(c.pass_at_k for c in qualified)
    close = [c for c in qualified if c.pass_at_k + margin + 1e-9 >= best]
    return min(close, key=lambda c: (c.seconds is None, c.seconds or 0.0, -c.pass_at_k))
