"""What the routes do, as plain functions over a database session and the repair queue."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from repomend.discovery import discover_tests
from repomend.loop import RepairOptions, RepairRequest, TestRunner
from repomend.settings import Settings
from repomend.targets import find_python
from repomend.warm_runs import WarmTestRunner
from server import adapters
from server.db.models import Feedback, Repair, Repository, Turn, Verdict
from server.errors import ApiError
from server.jobs import QueueFull, RepairJob, RepairQueue
from server.repair_status import LIVE, RepairStatus
from server.schemas import FeedbackIn, RepairIn, RepositoryIn
from server.targets import resolve_http_target

# -- repositories --------------------------------------------------------------------------------


def register_repository(session: Session, body: RepositoryIn) -> Repository:
    path = Path(body.path)
    if not path.is_absolute() or not path.is_dir():
        raise ApiError(422, "repository_path_invalid", f"`{body.path}` is not an absolute path to a folder")
    python = Path(body.python) if body.python else find_python(path.resolve())
    if not python.is_file():
        raise ApiError(422, "python_not_found", f"no interpreter at `{python}`")
    repository = Repository(
        name=body.name, path=str(path.resolve()), python=str(python), test_paths=body.test_paths
    )
    session.add(repository)
    try:
        session.commit()
    except IntegrityError as err:
        session.rollback()
        raise ApiError(409, "repository_exists", "a repository with that name or path exists") from err
    return repository


def repository_by_name(session: Session, name: str) -> Repository:
    repository = session.scalar(select(Repository).where(Repository.name == name))
    if repository is None:
        raise ApiError(404, "repository_not_found", f"no registered repository `{name}`")
    return repository


def list_repositories(session: Session) -> list[Repository]:
    return list(session.scalars(select(Repository).order_by(Repository.name)))


def remove_repository(session: Session, name: str) -> None:
    session.delete(repository_by_name(session, name))
    session.commit()


# -- the server ------------------------------------------------------------------------------------


def health(queue: RepairQueue) -> dict:
    return {"status": "ok", "model": queue.backend.describe(), "queue_depth": queue.depth}


# -- repairs ---------------------------------------------------------------------------------------


def submit_repair(
    session: Session,
    queue: RepairQueue,
    settings: Settings,
    body: RepairIn,
    runner_factory: Callable[[Settings, str], TestRunner] = WarmTestRunner,
) -> tuple[Repair, RepairJob]:
    """Record the request and queue it; refused (503) when the queue is full, leaving no row."""
    repository = repository_by_name(session, body.repository)
    target = resolve_http_target(
        Path(repository.path),
        body.path,
        content=body.content,
        qualname=body.target.qualname,
        line=body.target.line,
        column=body.target.column,
    )
    overrides: dict[str, object] = {}
    if body.mode is not None:
        overrides["mode"] = body.mode
    if body.max_turns is not None:
        overrides["max_turns"] = body.max_turns
    if body.samples_per_turn is not None:
        overrides["samples_per_turn"] = body.samples_per_turn
    # Read for every repair: activating, rolling back or deleting takes effect at the next one.
    adapter = adapters.active_adapter(session, repository)
    overrides["adapter"] = adapters.adapter_name(repository, adapter) if adapter else None
    options = RepairOptions.from_settings(settings, **overrides)
    row = Repair(
        repository_id=repository.id,
        adapter_id=adapter.id if adapter else None,
        model=queue.backend.describe(options.adapter),
        mode=options.mode,
        max_turns=options.max_turns,
        samples_per_turn=options.samples_per_turn,
        file_path=target.path,
        qualname=target.method.qualname,
        tests=body.tests,
    )
    session.add(row)
    session.commit()
    request = RepairRequest(
        target.repo, target.path, target.method.qualname, body.tests or [], source=target.source
    )
    runner = runner_factory(settings, repository.python)

    def find_tests(req: RepairRequest) -> RepairRequest:
        found = discover_tests(
            req.repo, req.path, target.method, python=repository.python, settings=settings, source=req.source
        )
        return RepairRequest(req.repo, req.path, req.qualname, found.ids, req.source, req.description)

    try:
        job = queue.submit(
            request, options, runner, job_id=str(row.id), prepare=None if body.tests else find_tests
        )
    except QueueFull as err:
        session.delete(row)
        session.commit()
        raise ApiError(
            503, "queue_full", str(err), headers={"Retry-After": str(max(1, round(err.retry_after)))}
        ) from err
    return row, job


def record_job(sessions: sessionmaker[Session], job: RepairJob) -> None:
    """Write a finished job's outcome and every attempt into its row: nothing is kept only in memory."""
    with sessions() as session:
        row = session.get(Repair, int(job.id))
        if row is None:  # the repository was removed meanwhile
            return
        trajectory = job.trajectory
        row.started_at = datetime.fromtimestamp(job.started, UTC) if job.started else None
        row.finished_at = datetime.fromtimestamp(job.finished or job.created, UTC)
        row.seconds = (job.finished - job.started) if job.started and job.finished else None
        if job.error_code is not None:
            row.error_code, row.error_message = job.error_code, job.error
        row.status = RepairStatus(job.outcome)
        if trajectory is not None:  # an engine failure mid-repair keeps the turns it made
            row.tests = trajectory.tests
            row.new_method = trajectory.fixed_method
            row.diff = trajectory.diff() or None
            row.fix_type = trajectory.fix_type
            row.basis = trajectory.basis
            row.original_method = trajectory.original_method
            row.messages = [dict(message) for message in trajectory.messages]
            for turn in trajectory.turns:
                for sample, attempt in enumerate(turn.attempts):
                    row.turns.append(
                        Turn(
                            turn=turn.index,
                            sample=sample,
                            chosen=sample == turn.chosen,
                            reply=attempt.reply,
                            reasoning_chars=len(attempt.reasoning or ""),
                            budget_forced=attempt.budget_forced,
                            candidate=attempt.candidate,
                            rejection=attempt.rejection,
                            passed=attempt.passed,
                            results=attempt.results.to_dict() if attempt.results else None,
                            feedback=turn.feedback if sample == turn.chosen else None,
                            generation_seconds=attempt.generation_seconds,
                            test_seconds=attempt.test_seconds,
                            prompt_tokens=attempt.prompt_tokens,
                            completion_tokens=attempt.completion_tokens,
                        )
                    )
        session.commit()


def fail_interrupted(session: Session) -> int:
    """After a restart, repairs that were queued or running can never finish: say so."""
    rows = session.scalars(
        select(Repair).where(Repair.status.in_([RepairStatus(state) for state in LIVE]))
    ).all()
    for row in rows:
        row.status = RepairStatus.FAILED
        row.error_code, row.error_message = "interrupted", "the server stopped before this repair finished"
    session.commit()
    return len(rows)


def get_repair(session: Session, repair_id: int) -> Repair:
    row = session.get(Repair, repair_id)
    if row is None:
        raise ApiError(404, "repair_not_found", f"no repair {repair_id}")
    return row


def live_repair(session: Session, queue: RepairQueue, repair_id: int) -> tuple[Repair, RepairJob | None]:
    """The row, and its job while the queue still holds it (what is not written yet)."""
    row = get_repair(session, repair_id)
    return row, queue.get(str(repair_id))


def cancel_repair(session: Session, queue: RepairQueue, repair_id: int) -> tuple[Repair, RepairJob]:
    """Ask a queued or running repair to stop; 409 once it has finished."""
    row, job = live_repair(session, queue, repair_id)
    if job is None or job.finished_ok:
        raise ApiError(409, "repair_not_running", f"repair {repair_id} has already finished")
    job.cancel()
    return row, job


def record_feedback(session: Session, repair_id: int, body: FeedbackIn) -> Feedback:
    """Idempotent: the same verdict again changes nothing; a new one replaces it."""
    row = get_repair(session, repair_id)
    if row.status in LIVE:
        raise ApiError(409, "repair_not_finished", "feedback can only be given on a finished repair")
    feedback = row.give_feedback(Verdict(body.verdict), body.reason, body.final_text)
    session.commit()
    return feedback
