"""Retraining jobs and policies rendered as API responses."""

from __future__ import annotations

from server.db.models import TrainingRun
from server.retraining.policy import RetrainingPolicy
from server.retraining.schemas import RetrainingPolicyOut, TrainingRunOut


def run_out(run: TrainingRun, with_log: bool = False) -> TrainingRunOut:
    return TrainingRunOut(
        id=run.id,
        repository=run.repository.name,
        state=run.state.value,
        step=run.step,
        progress=run.progress,
        trigger=run.trigger,
        reason=run.reason,
        config=run.config,
        steps=run.steps,
        adapter=f"v{run.adapter.version}" if run.adapter else None,
        created_at=run.created_at,
        started_at=run.started_at,
        finished_at=run.finished_at,
        log=run.log if with_log else None,
    )


def policy_out(repository: str, policy: RetrainingPolicy) -> RetrainingPolicyOut:
    return RetrainingPolicyOut(repository=repository, **policy.model_dump())
