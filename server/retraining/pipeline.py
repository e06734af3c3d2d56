"""The order of a retraining job's steps (`training_steps.py`), and the gate that ends it.

extract -> generate -> dataset (with accepted fixes) -> SFT -> [DPO] -> [GRPO] -> evaluate
-> gate -> register (and activate when the gate says so). Every candidate is registered with
its report; only the best one, and only when it beats what serves now, becomes active, and that
is the very last thing a job does, so a job stopped anywhere never leaves a half-made adapter live.
"""

from __future__ import annotations

import time
from pathlib import Path

from server import adapters
from server.db.models import AdapterStatus, Repository, TrainingRun
from server.retraining import training_steps as steps
from server.retraining.context import JobContext
from server.retraining.gate import GATE_MODE, decide
from server.retraining.step_outputs import Step, StepOutputs

SPANS = {
    "extract": (0.0, 0.1),
    "generate": (0.1, 0.35),
    "dataset": (0.35, 0.4),
    "sft": (0.4, 0.7),
    "dpo": (0.7, 0.78),
    "grpo": (0.78, 0.85),
    "evaluate": (0.85, 0.99),
    "gate": (0.99, 1.0),
}


def _step(context: JobContext, name: str, step: Step, state: StepOutputs) -> None:
    context.check_cancelled()
    context.begin(name, *SPANS[name])
    started = time.perf_counter()
    summary = step(context, state)
    context.finish_step(name, time.perf_counter() - started, summary)


def run_pipeline(context: JobContext) -> str:
    """Works every step; returns the job's outcome in one line (the gate's verdict)."""
    policy, state = context.policy, StepOutputs()
    _step(context, "extract", steps.extract, state)
    _step(context, "generate", steps.generate, state)
    _step(context, "dataset", steps.dataset, state)
    _step(context, "sft", steps.sft, state)
    if policy.dpo:
        if state.pairs is not None:
            _step(context, "dpo", steps.dpo, state)
        else:
            context.log("step dpo: skipped, no accepted-vs-rejected pairs yet")
    if policy.grpo:
        _step(context, "grpo", steps.grpo, state)
    state.baseline = _active_adapter_folder(context)
    _step(context, "evaluate", steps.evaluate, state)
    _step(context, "gate", _gate, state)
    assert state.decision is not None
    return state.decision.reason


def _active_adapter_folder(context: JobContext) -> Path | None:
    """The adapter serving now, or None for the base model."""
    with context.sessions() as session:
        repository = session.get(Repository, context.repository.id)
        active = adapters.active_adapter(session, repository)  # type: ignore[arg-type]
        return Path(active.path) if active else None


def _gate(context: JobContext, state: StepOutputs) -> dict:
    """Registers every candidate with its report; activates the best one if it beats what serves."""
    candidates, k = state.candidates, state.k
    best = max(candidates, key=lambda c: c.pass_at_k or 0.0)
    with context.sessions() as session:
        repository = session.get(Repository, context.repository.id)
        assert repository is not None
        active = adapters.active_adapter(session, repository)
        baseline_name = active.label if active else "the base model"
        decision = state.decision = decide(
            best.pass_at_k or 0.0, state.baseline_pass_at_k, context.policy.margin, baseline_name, k
        )
        registered = {}
        for candidate in candidates:
            promoted = candidate is best and decision.promote
            adapter = adapters.register_adapter(
                session,
                context.settings,
                repository,
                candidate.folder,
                force=True,  # the job trained it on the served model itself
                status=AdapterStatus.PROMOTED if promoted else AdapterStatus.REJECTED,
            )
            registered[candidate.name] = adapter.label
            if candidate is best:
                run = session.get(TrainingRun, context.run_id)
                assert run is not None
                run.adapter_id = adapter.id
                session.commit()
        if decision.promote:
            adapters.activate(session, repository, registered[best.name].lstrip("v"))
    context.log(decision.reason)
    return {
        "promoted": decision.promote,
        "best": best.name,
        "versions": registered,
        f"candidate_pass@{k}_{GATE_MODE}": round(decision.candidate, 4),
        f"baseline_pass@{k}_{GATE_MODE}": round(decision.baseline, 4),
    }
