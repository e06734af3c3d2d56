"""What a pipeline step sees of its job: where to write, how to report, whether to stop."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path

from sqlalchemy.orm import Session, sessionmaker

from repomend.settings import Settings
from server.db.models import TrainingRun
from server.retraining import runs
from server.retraining.policy import RetrainingPolicy

PROGRESS_EVERY_SECONDS = 1.0


class JobCancelled(Exception):
    """Raised inside the worker when the job was asked to stop."""


@dataclass
class RepositoryInfo:
    id: int
    name: str
    path: Path
    python: str


@dataclass
class JobContext:
    run_id: int
    settings: Settings
    sessions: sessionmaker[Session]
    policy: RetrainingPolicy
    repository: RepositoryInfo
    folder: Path
    """The job's own folder: extraction, trajectories, dataset, adapters in the making, reports."""
    _span: tuple[float, float] = (0.0, 1.0)

    @property
    def student_settings(self) -> Settings:
        """The settings the adapters are trained with: the served ones on the policy's student base."""
        return self.settings.model_copy(update={"model": self.policy.student_model(self.settings.model)})

    _last_write: float = field(default=0.0)

    def begin(self, step: str, start: float, end: float) -> None:
        self._span = (start, end)
        with self.sessions() as session:
            run = self._run(session)
            run.step = step
            run.progress = start
            session.commit()
        self.log(f"step {step}: started")

    def progress(self, fraction: float) -> None:
        """Within the current step, 0..1; written at most once a second."""
        now = time.monotonic()
        if now - self._last_write < PROGRESS_EVERY_SECONDS and fraction < 1.0:
            return
        self._last_write = now
        start, end = self._span
        with self.sessions() as session:
            run = self._run(session)
            run.progress = start + (end - start) * min(max(fraction, 0.0), 1.0)
            session.commit()

    def log(self, line: str) -> None:
        print(line, flush=True)  # the worker's log file
        with self.sessions() as session:
            runs.append_log(session, self._run(session), line)

    def finish_step(self, step: str, seconds: float, summary: dict) -> None:
        with self.sessions() as session:
            run = self._run(session)
            run.steps = {**(run.steps or {}), step: {"seconds": round(seconds, 2), **summary}}
            session.commit()
        self.log(f"step {step}: done in {seconds:.1f} s {summary}")

    def cancel_requested(self) -> bool:
        with self.sessions() as session:
            return self._run(session).cancel_requested

    def check_cancelled(self) -> None:
        if self.cancel_requested():
            raise JobCancelled

    def _run(self, session: Session) -> TrainingRun:
        run = session.get(TrainingRun, self.run_id)
        assert run is not None
        return run
