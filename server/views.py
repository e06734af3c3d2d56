"""Repair rows, live jobs, feedback and adapters rendered as API responses."""

from __future__ import annotations

from repomend.trajectory import Status
from sandbox.results import RunResult
from server.db.models import Adapter, AdapterActivation, Feedback, Repair, Repository
from server.jobs import RepairJob
from server.repair_status import LIVE, RepairStatus
from server.schemas import (
    ActivationOut,
    ActiveAdapterOut,
    AdapterListOut,
    AdapterOut,
    FeedbackOut,
    RepairOut,
    TurnOut,
)


def _results(data: dict | None) -> RunResult | None:
    return RunResult.from_dict(data) if data else None


NOT_FIXED = (Status.UNFIXED, Status.UNVERIFIED, Status.FAILED)
"""Outcomes without a fix where the model may have answered: the last attempt is worth showing."""


def repair_out(row: Repair, job: RepairJob | None) -> RepairOut:
    """The database row is the record; a job still in memory adds what is not written yet."""
    status = row.status
    if job is not None and job.state in LIVE and row.status is RepairStatus.QUEUED:
        status = RepairStatus(job.state)
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
        if trajectory.status in NOT_FIXED and final is not None:
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
        if row.status in NOT_FIXED and chosen:
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
        mode=row.mode,
        model=row.model,
        adapter=row.adapter.label if row.adapter is not None else None,
        tests=list(row.tests or (job.request.tests if job else [])),
        new_method=row.new_method,
        diff=row.diff,
        fix_type=row.fix_type or (trajectory.fix_type if trajectory is not None else None),
        last_attempt_diff=last_attempt_diff,
        failure=failure,
        basis=row.basis or (trajectory.basis if trajectory is not None else None),
        turns=turns,
        error=error,
        seconds=row.seconds,
    )


def feedback_out(repair_id: int, feedback: Feedback) -> FeedbackOut:
    return FeedbackOut(
        repair_id=str(repair_id),
        verdict=feedback.verdict.value,
        reason=feedback.reason,
        recorded_at=feedback.updated_at,
    )


def adapter_out(repository: Repository, adapter: Adapter) -> AdapterOut:
    manifest = adapter.manifest or {}
    trained_at = manifest.get("created_at")
    return AdapterOut(
        version=adapter.label,
        name=f"{repository.name}/{adapter.label}",
        active=adapter.active,
        status=adapter.status.value,
        base_model=adapter.base_model,
        path=None if adapter.deleted_at else adapter.path,
        dataset=manifest.get("dataset"),
        training=manifest.get("training"),
        metrics=adapter.metrics,
        evaluation=adapter.evaluation,
        trained_at=trained_at,
        registered_at=adapter.created_at,
        activated_at=adapter.activated_at,
        deleted_at=adapter.deleted_at,
    )


def _label(version: int | None) -> str | None:
    return None if version is None else f"v{version}"


def adapter_list_out(
    repository: Repository, adapters: list[Adapter], history: list[AdapterActivation]
) -> AdapterListOut:
    active = next((a.label for a in adapters if a.active), None)
    return AdapterListOut(
        repository=repository.name,
        active=active,
        adapters=[adapter_out(repository, a) for a in adapters],
        history=[
            ActivationOut(
                action=event.action.value,
                version=_label(event.version),
                previous_version=_label(event.previous_version),
                reverted=event.reverted,
                at=event.created_at,
            )
            for event in history
        ],
    )


def active_adapter_out(repository: str, previous: str | None, active: str | None) -> ActiveAdapterOut:
    return ActiveAdapterOut(repository=repository, active=active, previous=previous)
