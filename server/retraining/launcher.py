"""Starts each retraining job in its own worker process and settles jobs whose worker is gone."""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

from sqlalchemy.orm import Session, sessionmaker

from repomend.settings import Settings
from server.db.models import TrainingRun, TrainingState
from server.retraining import runs

log = logging.getLogger("repomend.retraining")
TERMINATE_GRACE_SECONDS = 30.0
ADOPTED_POLL_SECONDS = 2.0


def pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def job_folder(settings: Settings, repository: str, run_id: int) -> Path:
    return settings.data_dir / "training" / repository / "jobs" / str(run_id)


class RetrainLauncher:
    """Owns the worker processes of one server; the database says what state each job is in."""

    def __init__(self, settings: Settings, sessions: sessionmaker[Session]) -> None:
        self.settings = settings
        self.sessions = sessions
        self._workers: dict[int, subprocess.Popen] = {}
        self._lock = threading.Lock()

    def recover(self) -> list[int]:
        """At start-up: jobs whose worker is gone are failed (never resumed); live workers (a previous
        server's, or a `repomend retrain` in a terminal) are watched until they end."""
        with self.sessions() as session:
            failed = runs.fail_orphans(session, pid_alive, "interrupted: the server restarted")
            survivors = [(run.id, run.pid) for run in session.scalars(runs.live_runs())]
        for run_id, pid in survivors:
            threading.Thread(target=self._adopt, args=(run_id, pid), daemon=True).start()
        return failed

    def _adopt(self, run_id: int, pid: int) -> None:
        while pid_alive(pid):
            time.sleep(ADOPTED_POLL_SECONDS)
        self._settle(run_id, "its worker ended")

    def launch(self, run_id: int, repository: str) -> None:
        folder = job_folder(self.settings, repository, run_id)
        folder.mkdir(parents=True, exist_ok=True)
        settings_file = folder / "settings.json"
        with tempfile.NamedTemporaryFile("w", dir=folder, delete=False, suffix=".tmp") as tmp:
            tmp.write(self.settings.model_dump_json())
        os.replace(tmp.name, settings_file)
        log_file = (folder / "worker.log").open("ab")
        process = subprocess.Popen(
            [sys.executable, "-m", "server.retraining.worker", str(run_id), str(settings_file)],
            stdout=log_file,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,  # its own process group: a cancel reaches the sandbox runs too
        )
        log_file.close()
        with self._lock:
            self._workers[run_id] = process
        threading.Thread(target=self._watch, args=(run_id, process), daemon=True).start()

    def _watch(self, run_id: int, process: subprocess.Popen) -> None:
        code = process.wait()
        with self._lock:
            self._workers.pop(run_id, None)
        self._settle(run_id, f"signal {-code}" if code < 0 else f"exit code {code}")

    def _settle(self, run_id: int, how: str) -> None:
        """A worker ended; if it could not write its job's end itself, write it here."""
        with self.sessions() as session:
            run = session.get(TrainingRun, run_id)
            if run is None or run.state not in runs.LIVE:
                return
            if run.cancel_requested:
                state, reason = TrainingState.CANCELLED, "cancelled"
            else:
                step = run.step or "start-up"
                state, reason = TrainingState.FAILED, f"the worker died ({how}) during {step}"
            runs.transition(session, run, state, reason)
            log.warning("retraining job %d: %s", run_id, reason)

    def cancel(self, session: Session, run: TrainingRun) -> None:
        """Asks the worker to stop; the job ends `cancelled` once it has (a queued job at once)."""
        if run.state not in runs.LIVE:
            return
        run.cancel_requested = True
        session.commit()
        with self._lock:
            process = self._workers.get(run.id)
        pid = process.pid if process else run.pid
        if pid is not None and pid_alive(pid):
            _kill_group(pid, signal.SIGTERM)
        elif run.state is TrainingState.QUEUED or pid is None:
            runs.transition(session, run, TrainingState.CANCELLED, "cancelled before it started")

    def close(self) -> None:
        """Server shutdown: stop the workers; their jobs end failed (a restart would do the same)."""
        with self._lock:
            workers = dict(self._workers)
        for process in workers.values():
            _kill_group(process.pid, signal.SIGTERM)
        for process in workers.values():
            try:
                process.wait(TERMINATE_GRACE_SECONDS)
            except subprocess.TimeoutExpired:
                _kill_group(process.pid, signal.SIGKILL)


def _kill_group(pid: int, sig: int) -> None:
    """The worker leads its own process group (sandbox runs included); a job started from a
    terminal may not, so then only the process itself is signalled."""
    try:
        os.killpg(pid, sig)
    except (ProcessLookupError, PermissionError):
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.kill(pid, sig)
