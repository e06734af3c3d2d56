"""What the retraining endpoints do, as plain functions over a session and the launcher."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from server.db.models import TrainingRun
from server.retraining import runs
from server.retraining.launcher import RetrainLauncher
from server.retraining.policy import RetrainingPolicy, policy_of
from server.retraining.schemas import RetrainIn
from server.service import repository_by_name

LIST_LIMIT = 50


def start_manual(
    session: Session, launcher: RetrainLauncher, name: str, body: RetrainIn | None
) -> TrainingRun:
    """Queue a job on the repository's policy with this job's overrides and start its worker
    (409 while one is queued or running for the repository)."""
    repository = repository_by_name(session, name)
    policy = policy_of(repository.retraining, body.overrides if body else None)
    run = runs.create_run(session, repository, "manual", policy.model_dump())
    launcher.launch(run.id, repository.name)
    return run


def recent_runs(session: Session, name: str, limit: int = LIST_LIMIT) -> list[TrainingRun]:
    """The repository's jobs, newest first."""
    repository = repository_by_name(session, name)
    return list(
        session.scalars(
            select(TrainingRun)
            .where(TrainingRun.repository_id == repository.id)
            .order_by(TrainingRun.id.desc())
            .limit(limit)
        )
    )


def run_of(session: Session, name: str, run_id: int) -> TrainingRun:
    """One job of the repository; 404 for another repository's job too."""
    return runs.run_by_id(session, repository_by_name(session, name), run_id)


def cancel(session: Session, launcher: RetrainLauncher, name: str, run_id: int) -> TrainingRun:
    """Ask the job to stop; it ends `cancelled` once its worker has stopped."""
    run = run_of(session, name, run_id)
    launcher.cancel(session, run)
    session.refresh(run)
    return run


def policy(session: Session, name: str) -> RetrainingPolicy:
    """The stored policy, every field filled in with its default."""
    return policy_of(repository_by_name(session, name).retraining)


def set_policy(session: Session, name: str, new: RetrainingPolicy) -> RetrainingPolicy:
    """Only fields that differ from the defaults are stored, so a changed default applies later."""
    repository = repository_by_name(session, name)
    repository.retraining = new.model_dump(exclude_defaults=True)
    session.commit()
    return new
