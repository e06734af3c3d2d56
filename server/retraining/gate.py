"""The evaluation gate: no adapter goes live unless it measurably beats what serves now."""

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

    @property
    def reason(self) -> str:
        verdict = "promoted" if self.promote else "kept inactive"
        relation = ">=" if self.promote else "<"
        return (
            f"{verdict}: held-out Pass@{self.k} ({GATE_MODE}) {self.candidate:.1%} {relation} "
            f"{self.baseline_name} {self.baseline:.1%} + margin {self.margin:.1%}"
        )


def decide(
    candidate: float, baseline: float, margin: float, baseline_name: str, k: int = GATE_K
) -> GateDecision:
    """Promote when the candidate is at least the baseline plus the margin (ties pass at margin 0).

    `k` is Pass@5 unless the job allows fewer repair turns (Pass@k is cumulative over turns)."""
    promote = candidate + 1e-9 >= baseline + margin
    return GateDecision(promote, candidate, baseline, margin, baseline_name, k)
