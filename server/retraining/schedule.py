"""Starts retraining jobs on each repository's policy: every N hours and/or after N accepted fixes.

Nothing is kept in memory between ticks: what is due is read from the database (the last job's
start, the feedback since then), so the schedule survives restarts, and the one-live-job index
keeps a tick from starting a second job for a repository.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from server.db.models import Feedback, Repair, Repository, TrainingRun, Verdict
from server.errors import ApiError
from server.retraining import runs
from server.retraining.policy import RetrainingPolicy, policy_of

log = logging.getLogger("repomend.retraining")
TICK_SECONDS = 60.0


def _aware(moment: datetime) -> datetime:
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def last_run(session: Session, repository: Repository) -> TrainingRun | None:
    return session.scalar(
        select(TrainingRun)
        .where(TrainingRun.repository_id == repository.id)
        .order_by(TrainingRun.created_at.desc(), TrainingRun.id.desc())
        .limit(1)
    )


def accepted_since(session: Session, repository: Repository, since: datetime | None) -> int:
    query = (
        select(func.count())
        .select_from(Feedback)
        .join(Repair, Feedback.repair_id == Repair.id)
        .where(Repair.repository_id == repository.id, Feedback.verdict == Verdict.ACCEPTED)
    )
    if since is not None:
        query = query.where(Feedback.updated_at > since)
    return session.scalar(query) or 0


def due_trigger(
    session: Session, repository: Repository, policy: RetrainingPolicy, now: datetime
) -> str | None:
    """`schedule`, `feedback` or None: why this repository should retrain now."""
    if policy.every_hours is None and policy.after_accepted is None:
        return None
    previous = last_run(session, repository)
    since = _aware(previous.created_at) if previous else None
    if policy.every_hours is not None:
        anchor = since or _aware(repository.created_at)
        if now - anchor >= timedelta(hours=policy.every_hours):
            return "schedule"
    if (
        policy.after_accepted is not None
        and accepted_since(session, repository, since) >= policy.after_accepted
    ):
        return "feedback"
    return None


def tick(
    sessions: sessionmaker[Session], launch: Callable[[int, str], None], now: datetime | None = None
) -> list[int]:
    """Starts every due job; returns their ids."""
    started = []
    now = now or datetime.now(UTC)
    with sessions() as session:
        for repository in session.scalars(select(Repository)):
            policy = policy_of(repository.retraining)
            trigger = due_trigger(session, repository, policy, now)
            if trigger is None or runs.live_run(session, repository) is not None:
                continue
            try:
                run = runs.create_run(session, repository, trigger, policy.model_dump())
            except ApiError:
                continue
            log.info("retraining %s: %s", repository.name, trigger)
            launch(run.id, repository.name)
            started.append(run.id)
    return started


class Scheduler:
    """A daemon thread that ticks until stopped."""

    def __init__(
        self, sessions: sessionmaker[Session], launch: Callable[[int, str], None], every: float = TICK_SECONDS
    ) -> None:
        self._sessions = sessions
        self._launch = launch
        self._every = every
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        """Starts ticking; an app may be started again after a stop (test clients do)."""
        self._stop.clear()
        self._thread = threading.Thread(target=self._loop, name="retraining-scheduler", daemon=True)
        self._thread.start()

    def _loop(self) -> None:
        while not self._stop.wait(self._every):
            try:
                tick(self._sessions, self._launch)
            except Exception:  # a bad tick must not end the schedule
                log.exception("retraining schedule tick failed")

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None and self._thread.is_alive():
            self._thread.join(timeout=5)
