"""`python -m server.retraining.worker RUN_ID SETTINGS_JSON`: works one retraining job to its end.

Started by `RetrainLauncher`; writes every state change to the database, so a crash at any point
leaves a job the server can settle, and an adapter is only ever made active by the last step.
"""

from __future__ import annotations

import signal
import sys
import traceback
from pathlib import Path

from repomend.settings import Settings
from server.db.engine import default_database_url, make_engine, session_factory
from server.db.models import TrainingRun, TrainingState
from server.retraining import runs
from server.retraining.context import JobCancelled, JobContext, RepositoryInfo
from server.retraining.launcher import job_folder
from server.retraining.pipeline import run_pipeline
from server.retraining.policy import policy_of


def _raise_cancelled(signum: int, frame: object) -> None:
    raise JobCancelled


def work(run_id: int, settings: Settings) -> TrainingState:
    sessions = session_factory(make_engine(settings.database_url or default_database_url(settings)))
    with sessions() as session:
        run = session.get(TrainingRun, run_id)
        if run is None or run.state is not TrainingState.QUEUED:
            return run.state if run else TrainingState.FAILED
        repository = run.repository
        info = RepositoryInfo(repository.id, repository.name, Path(repository.path), repository.python)
        context = JobContext(
            run_id=run_id,
            settings=settings,
            sessions=sessions,
            policy=policy_of(run.config),
            repository=info,
            folder=job_folder(settings, repository.name, run_id),
        )
        runs.transition(session, run, TrainingState.RUNNING)
    try:
        context.check_cancelled()
        outcome = run_pipeline(context)
        state, reason = TrainingState.SUCCEEDED, outcome
    except (JobCancelled, KeyboardInterrupt) as stop:
        with sessions() as session:
            asked = session.get(TrainingRun, run_id).cancel_requested  # type: ignore[union-attr]
        asked = asked or isinstance(stop, KeyboardInterrupt)  # Ctrl-C of `repomend retrain`
        state = TrainingState.CANCELLED if asked else TrainingState.FAILED
        reason = "cancelled" if asked else "stopped: the server shut down"
    except Exception as err:  # the job fails with its reason; the server lives on
        context.log(traceback.format_exc())
        with sessions() as session:
            step = session.get(TrainingRun, run_id).step  # type: ignore[union-attr]
        state, reason = TrainingState.FAILED, f"{step or 'start-up'}: {type(err).__name__}: {err}"
    with sessions() as session:
        run = session.get(TrainingRun, run_id)
        assert run is not None
        if run.state in runs.LIVE:
            runs.transition(session, run, state, reason)
        context.log(f"job {state.value}: {reason}")
    return state


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 2:
        print("usage: python -m server.retraining.worker RUN_ID SETTINGS_JSON", file=sys.stderr)
        return 2
    signal.signal(signal.SIGTERM, _raise_cancelled)
    settings = Settings.model_validate_json(Path(args[1]).read_text(encoding="utf-8"))
    state = work(int(args[0]), settings)
    return 0 if state is TrainingState.SUCCEEDED else 1


if __name__ == "__main__":
    sys.exit(main())
