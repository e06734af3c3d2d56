"""What the steps of one retraining job hand on to each other (`StepOutputs`), and the shape of a step.

The pipeline (`pipeline.py`) makes one `StepOutputs` per job and passes it to every step
(`training_steps.py`); each step reads what earlier steps set and sets its own fields, named
after the step in their docstrings (None until that step ran).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from server.retraining.context import JobContext
from server.retraining.gate import GATE_K, Contender, GateDecision

if TYPE_CHECKING:
    from training.records import MethodRecord


@dataclass
class Candidate:
    """A new adapter the job trained."""

    name: str
    """`sft`, `dpo` or `grpo`: the step that made it."""
    folder: Path
    pass_at_k: float | None = None
    """Its held-out Pass@k (no-think), set by the evaluate step."""
    seconds: float | None = None
    """evaluate: its seconds per held-out method (no-think), on its own base's engine."""


@dataclass
class StepOutputs:
    """What the steps of one job have produced so far (a field is None until its step ran)."""

    extraction: Path | None = None
    """extract: the extraction folder."""
    records: list[MethodRecord] = field(default_factory=list)
    """extract: every method record, all splits."""
    trajectories: Path | None = None
    """generate: the teachers' trajectory folder."""
    accepted: Path | None = None
    """dataset: the users' accepted fixes as a trajectory folder; None when there are none."""
    pairs: Path | None = None
    """dataset: accepted-vs-rejected preference pairs (JSON lines) for DPO; None when there are none."""
    from_use: dict[str, int] = field(default_factory=dict)
    """dataset: how many accepted items and preference pairs came from use."""
    dataset: Path | None = None
    """dataset: the fine-tuning dataset folder."""
    candidates: list[Candidate] = field(default_factory=list)
    """sft, dpo, grpo: the adapters trained, in order (each continues the one before)."""
    baseline: Path | None = None
    """The adapter serving when evaluation began; None for the base model."""
    k: int = GATE_K
    """evaluate: the k of the gate's Pass@k (at most the job's repair turns)."""
    baseline_pass_at_k: float = 0.0
    """evaluate: what serves now, on the same held-out methods."""
    baseline_seconds: float | None = None
    """evaluate: what serves now, seconds per held-out method."""
    base: Contender | None = None
    """evaluate: the served base model without an adapter, when an adapter serves now."""
    decision: GateDecision | None = None
    """gate: whether the best candidate went live, and why."""


Step = Callable[[JobContext, StepOutputs], dict]
"""A step works on the job's state and returns its summary (stored with the job, shown in its log)."""
