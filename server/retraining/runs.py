"""The life of a retraining job as plain functions over its `TrainingRun` row.

queued -> running -> succeeded | failed | cancelled; queued -> failed | cancelled. A finished job
never changes again. The database allows one queued-or-running job per repository.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from datetime import UTC, datetime

from sqlalchemy import Select, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from server.db.models import Repository, TrainingRun, TrainingState
from server.errors import ApiError

LIVE = (TrainingState.QUEUED, TrainingState.RUNNING)
FINISHED = (TrainingState.SUCCEEDED, TrainingState.FAILED, TrainingState.CANCELLED)
MAX_LOG_CHARS = 200_000
"""The database keeps the tail of the log; the full log is in the job's log file."""

_ALLOWED = {
    TrainingState.QUEUED: {TrainingState.RUNNING, TrainingState.FAILED, TrainingState.CANCELLED},
    TrainingState.RUNNING: set(FINISHED),
}


class InvalidTransition(RuntimeError):
    pass


def live_runs() -> Select[tuple[TrainingRun]]:
    return select(TrainingRun).where(TrainingRun.state.in_(LIVE))


def live_run(session: Session, repository: Repository) -> TrainingRun | None:
    return session.scalar(
        select(TrainingRun).where(TrainingRun.repository_id == repository.id, TrainingRun.state.in_(LIVE))
    )


def create_run(session: Session, repository: Repository, trigger: str, config: dict) -> TrainingRun:
    """Queues a job, or refuses with 409 when the repository already has one queued or running."""
    if (current := live_run(session, repository)) is not None:
        raise _busy(repository, current)
    run = TrainingRun(repository=repository, trigger=trigger, config=config, state=TrainingState.QUEUED)
    session.add(run)
    try:
        session.commit()
    except IntegrityError as err:  # another process queued one between the check and the insert
        session.rollback()
        raise _busy(repository, live_run(session, repository)) from err
    return run


def _busy(repository: Repository, current: TrainingRun | None) -> ApiError:
    which = f" (job {current.id}, {current.state.value})" if current else ""
    return ApiError(409, "retraining_in_progress", f"`{repository.name}` is already retraining{which}")


def transition(session: Session, run: TrainingRun, state: TrainingState, reason: str | None = None) -> None:
    if state not in _ALLOWED.get(run.state, set()):
        raise InvalidTransition(f"job {run.id} cannot go from {run.state.value} to {state.value}")
    run.state = state
    now = datetime.now(UTC)
    if state is TrainingState.RUNNING:
        run.started_at = now
        run.pid = os.getpid()
    else:
        run.finished_at = now
        run.reason = reason if reason is not None else run.reason
        if state is TrainingState.SUCCEEDED:
            run.progress = 1.0
    session.commit()


def append_log(session: Session, run: TrainingRun, line: str) -> None:
    stamp = datetime.now(UTC).strftime("%H:%M:%S")
    run.log = ((run.log or "") + f"{stamp} {line}\n")[-MAX_LOG_CHARS:]
    session.commit()


def fail_orphans(session: Session, alive: Callable[[int], bool], reason: str) -> list[int]:
    """Marks live jobs whose worker is gone as failed; returns their ids (run at server start)."""
    failed = []
    for run in session.scalars(live_runs()):
        if run.pid is not None and alive(run.pid):
            continue
        run.state = TrainingState.FAILED
        run.finished_at = datetime.now(UTC)
        run.reason = reason
        failed.append(run.id)
    session.commit()
    return failed


def run_by_id(session: Session, repository: Repository, run_id: int) -> TrainingRun:
    run = session.get(TrainingRun, run_id)
    if run is None or run.repository_id != repository.id:
        raise ApiError(404, "training_run_not_found", f"no retraining job {run_id} for `{repository.name}`")
    return run
