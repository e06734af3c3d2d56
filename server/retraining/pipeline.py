"""The order of a retraining job's steps (`training_steps.py`), and the gate that ends it.

extract -> generate -> dataset (with accepted fixes) -> SFT -> [DPO] -> [GRPO] -> evaluate
-> gate -> register (and activate when the gate says so). Every candidate is registered with
its report; only the best one, and only when it beats what serves now, becomes active, and that
is the very last thing a job does, so a job stopped anywhere never leaves a half-made adapter live.
"""

from __future__ import annotations

import time
from dataclasses import replace
from pathlib import Path

from server import adapters
from server.db.models import AdapterStatus, Repository, TrainingRun
from server.retraining import training_steps as steps
from server.retraining.context import JobContext
from server.retraining.gate import GATE_MODE, Contender, decide, serving_choice
from server.retraining.step_outputs import Step, StepOutputs
from training.evaluate import BASE

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
    """Registers every candidate with its report, and serves what measured best
    (`gate.serving_choice`): the best new adapter, the served base model, or what serves now."""
    candidates, k, margin = state.candidates, state.k, context.policy.margin
    current = Contender("current", state.baseline_pass_at_k, state.baseline_seconds)
    challengers = [Contender(c.name, c.pass_at_k or 0.0, c.seconds) for c in candidates]
    chosen = serving_choice(current, challengers + ([state.base] if state.base else []), margin)
    best = next((c for c in candidates if c.name == chosen.name), None)
    shown = best or max(candidates, key=lambda c: c.pass_at_k or 0.0)
    to_base = state.base is not None and chosen is state.base
    with context.sessions() as session:
        repository = session.get(Repository, context.repository.id)
        assert repository is not None
        active = adapters.active_adapter(session, repository)
        measured = state.base if to_base else Contender(shown.name, shown.pass_at_k or 0.0, shown.seconds)
        assert measured is not None
        serving = active.label if active else "the base model"
        decision = state.decision = replace(
            decide(measured.pass_at_k, current.pass_at_k, margin, serving, k),
            promote=best is not None,
            to_base=to_base,
            seconds=(measured.seconds, current.seconds),
        )
        registered = {}
        for candidate in candidates:
            adapter = adapters.register_adapter(
                session,
                context.settings,
                repository,
                candidate.folder,
                force=True,  # the job trained it on the student base, which the engine starts on need
                status=AdapterStatus.PROMOTED if candidate is best else AdapterStatus.REJECTED,
            )
            registered[candidate.name] = adapter.label
            if candidate is shown:
                run = session.get(TrainingRun, context.run_id)
                assert run is not None
                run.adapter_id = adapter.id
                session.commit()
        if best is not None:
            adapters.activate(session, repository, registered[best.name].lstrip("v"))
        elif to_base:
            adapters.deactivate(session, repository)
    context.log(decision.reason)
    return {
        "promoted": decision.promote,
        "serves": best.name if best else (BASE if to_base else "unchanged"),
        "best": shown.name,
        "versions": registered,
        f"candidate_pass@{k}_{GATE_MODE}": round(shown.pass_at_k or 0.0, 4),
        f"baseline_pass@{k}_{GATE_MODE}": round(current.pass_at_k, 4),
        **({f"base_pass@{k}_{GATE_MODE}": round(state.base.pass_at_k, 4)} if state.base else {}),
    }
