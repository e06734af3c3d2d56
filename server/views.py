"""Repair rows and live jobs rendered as API responses."""

from __future__ import annotations

from repomend.trajectory import Status
from sandbox.results import RunResult
from server.db.models import Repair, RepairStatus
from server.jobs import JobState, RepairJob
from server.schemas import RepairOut, TurnOut


def _results(data: dict | None) -> RunResult | None:
    return RunResult.from_dict(data) if data else None


_LIVE = {JobState.QUEUED: "queued", JobState.RUNNING: "running"}


def repair_out(row: Repair, job: RepairJob | None) -> RepairOut:
    """The database row is the record; a job still in memory adds what is not written yet."""
    status = row.status.value
    if job is not None and job.state in _LIVE and row.status is RepairStatus.QUEUED:
        status = _LIVE[job.state]
    turns: list[TurnOut] = []
    last_attempt_diff = failure = None
    trajectory = job.trajectory if job is not None else None
    if trajectory is not None:
        turns = [
            TurnOut(
                turn=turn.index,
                passed=turn.passed,
                tests_passed=turn.answer.tests_passed,
                tests_failed=turn.answer.tests_failed,
                rejection=turn.answer.rejection,
                reasoning_words=len((turn.answer.reasoning or "").split()),
                generation_seconds=sum(a.generation_seconds for a in turn.attempts),
                test_seconds=sum(a.test_seconds for a in turn.attempts),
                completion_tokens=sum(a.completion_tokens for a in turn.attempts),
            )
            for turn in trajectory.turns
        ]
        final = trajectory.final
        if trajectory.status is Status.UNFIXED and final is not None:
            last_attempt_diff = trajectory.diff(final.new_source) if final.new_source else None
            failure = trajectory.turns[-1].feedback
    else:
        chosen = [t for t in row.turns if t.chosen]
        turns = [
            TurnOut(
                turn=t.turn,
                passed=t.passed,
                tests_passed=stored.passed_count if (stored := _results(t.results)) else 0,
                tests_failed=len(stored.failures) if stored else 0,
                rejection=t.rejection,
                reasoning_words=0,
                generation_seconds=t.generation_seconds,
                test_seconds=t.test_seconds,
                completion_tokens=t.completion_tokens,
            )
            for t in chosen
        ]
        if row.status is RepairStatus.UNFIXED and chosen:
            failure = chosen[-1].feedback
    error = {"code": row.error_code, "message": row.error_message} if row.error_code else None
    if error is None and job is not None and job.error_code:
        error = {"code": job.error_code, "message": job.error}
    return RepairOut(
        id=str(row.id),
        status=status,
        repository=row.repository.name,
        path=row.file_path,
        qualname=row.qualname,
        mode=row.mode.value,
        model=row.model,
        tests=list(row.tests or (job.request.tests if job else [])),
        new_method=row.new_method,
        diff=row.diff,
        last_attempt_diff=last_attempt_diff,
        failure=failure,
        turns=turns,
        error=error,
        seconds=row.seconds,
    )
