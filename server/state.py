"""What one running server holds: settings, the database, the repair queue, metrics, retraining.

Built once by `build_state` before anything listens, so a database that is not migrated, or
repairs and retraining jobs a previous run left unfinished, are dealt with at start-up.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass

from sqlalchemy.orm import Session, sessionmaker

from repomend.backends.base import Backend
from repomend.loop import TestRunner
from repomend.settings import Settings
from server import service
from server.db.engine import default_database_url, make_engine, session_factory
from server.db.migrate import check_up_to_date
from server.jobs import RepairJob, RepairQueue
from server.metrics import Metrics
from server.retraining.launcher import RetrainLauncher
from server.retraining.schedule import Scheduler

log = logging.getLogger("repomend.server")
RunnerFactory = Callable[[Settings, str], TestRunner]


@dataclass
class AppState:
    settings: Settings
    sessions: sessionmaker[Session]
    queue: RepairQueue
    metrics: Metrics
    runner_factory: RunnerFactory
    launcher: RetrainLauncher
    scheduler: Scheduler


def build_state(settings: Settings, backend: Backend, runner_factory: RunnerFactory) -> AppState:
    """Refuses a database that is not migrated, then settles what a previous run left unfinished."""
    url = settings.database_url or default_database_url(settings)
    check_up_to_date(url)
    sessions = session_factory(make_engine(url))
    with sessions() as session:
        if interrupted := service.fail_interrupted(session):
            log.warning("marked %d interrupted repairs as failed", interrupted)
    launcher = RetrainLauncher(settings, sessions)
    if failed_jobs := launcher.recover():
        log.warning("marked retraining jobs %s as failed: the server restarted", failed_jobs)
    scheduler = Scheduler(sessions, launcher.launch, every=settings.server.retrain_check_seconds)
    metrics = Metrics()

    def finished(job: RepairJob) -> None:
        service.record_job(sessions, job)
        metrics.observe_repair(job)

    server = settings.server
    queue = RepairQueue(backend, capacity=server.queue_capacity, workers=server.workers, on_finish=finished)
    metrics.queue_depth.set_function(lambda: queue.depth)
    return AppState(settings, sessions, queue, metrics, runner_factory, launcher, scheduler)
