"""The steps of a retraining job, each a call into `training`, in one place.

extract -> generate -> dataset (with accepted fixes) -> SFT -> [DPO] -> [GRPO] -> evaluate
-> gate -> register (and activate when the gate says so). Every candidate is registered with
its report; only the best one, and only when it beats what serves now, becomes active, and that
is the very last thing a job does, so a job stopped anywhere never leaves a half-made adapter live.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from server import adapters
from server.db.models import AdapterStatus, Repository, TrainingRun
from server.retraining import from_use
from server.retraining.context import JobContext
from server.retraining.gate import GATE_MODE, GateDecision, decide

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


@dataclass
class Candidate:
    name: str
    """`sft`, `dpo` or `grpo`: the step that made it."""
    folder: Path
    pass_at_k: float | None = None


def _step(context: JobContext, name: str, work: Callable[[], dict]) -> dict:
    context.check_cancelled()
    context.begin(name, *SPANS[name])
    started = time.perf_counter()
    summary = work()
    context.finish_step(name, time.perf_counter() - started, summary)
    return summary


def run_pipeline(context: JobContext) -> str:
    """Works every step; returns the job's outcome in one line (the gate's verdict)."""
    from server.retraining import training_steps as steps

    policy = context.policy
    state: dict = {}
    _step(context, "extract", lambda: steps.extract(context, state))
    _step(context, "generate", lambda: steps.generate(context, state))
    _step(context, "dataset", lambda: steps.dataset(context, state, _from_use(context, state)))
    candidates = [Candidate("sft", Path())]
    _step(context, "sft", lambda: steps.sft(context, state, candidates[0]))
    if policy.dpo:
        pairs = state["folder_pairs"]
        if pairs is not None:
            dpo = Candidate("dpo", Path())
            _step(context, "dpo", lambda: steps.dpo(context, state, candidates[0], dpo))
            candidates.append(dpo)
        else:
            context.log("step dpo: skipped, no accepted-vs-rejected pairs yet")
    if policy.grpo:
        grpo = Candidate("grpo", Path())
        _step(context, "grpo", lambda: steps.grpo(context, state, candidates[-1], grpo))
        candidates.append(grpo)
    baseline = _active_adapter_folder(context)
    evaluation = _step(context, "evaluate", lambda: steps.evaluate(context, state, candidates, baseline))
    decision_holder: list[GateDecision] = []
    _step(
        context,
        "gate",
        lambda: _gate(context, candidates, evaluation["baseline"], evaluation["k"], decision_holder),
    )
    return decision_holder[0].reason


def _from_use(context: JobContext, state: dict) -> Path | None:
    """Accepted fixes as a trajectory folder, and accepted-vs-rejected pairs for DPO."""
    from training.records import read_records
    from training.trajectory_store import ITEMS_FILE, MANIFEST_FILE

    heldout = {r.id for r in read_records(state["extraction"], "heldout")}
    with context.sessions() as session:
        judged = from_use.judged_repairs(session, context.repository.id, heldout)
        items = from_use.accepted_items(judged)
        pairs = from_use.preference_pairs(judged)
    folder = context.folder / "from_use"
    folder.mkdir(parents=True, exist_ok=True)
    state["folder_pairs"] = None
    if pairs:
        (folder / "pairs.jsonl").write_text("".join(json.dumps(p) + "\n" for p in pairs), encoding="utf-8")
        state["folder_pairs"] = folder / "pairs.jsonl"
    state["from_use"] = {"accepted_items": len(items), "preference_pairs": len(pairs)}
    if not items:
        return None
    (folder / ITEMS_FILE).write_text("".join(json.dumps(i) + "\n" for i in items), encoding="utf-8")
    manifest = {"extraction": {"folder": str(state["extraction"]), "name": context.repository.name}}
    (folder / MANIFEST_FILE).write_text(json.dumps(manifest), encoding="utf-8")
    return folder


def _active_adapter_folder(context: JobContext) -> Path | None:
    """The adapter serving now, or None for the base model."""
    with context.sessions() as session:
        repository = session.get(Repository, context.repository.id)
        active = adapters.active_adapter(session, repository)  # type: ignore[arg-type]
        return Path(active.path) if active else None


def _gate(
    context: JobContext, candidates: list[Candidate], baseline: float, k: int, out: list[GateDecision]
) -> dict:
    best = max(candidates, key=lambda c: c.pass_at_k or 0.0)
    with context.sessions() as session:
        repository = session.get(Repository, context.repository.id)
        assert repository is not None
        active = adapters.active_adapter(session, repository)
        baseline_name = active.label if active else "the base model"
        decision = decide(best.pass_at_k or 0.0, baseline, context.policy.margin, baseline_name, k)
        out.append(decision)
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
