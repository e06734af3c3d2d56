"""Admin endpoints of retraining: start, watch, cancel jobs; read and set the policy (thin)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated

from fastapi import Depends, FastAPI
from fastapi import Path as PathParam
from sqlalchemy import select
from sqlalchemy.orm import Session

from server import service
from server.db.models import TrainingRun
from server.retraining import runs
from server.retraining.launcher import RetrainLauncher
from server.retraining.policy import RetrainingPolicy, policy_of
from server.retraining.schemas import RetrainIn, RetrainingPolicyOut, TrainingRunOut

RunId = Annotated[int, PathParam(ge=1, le=2**63 - 1, description="Retraining job id")]
RepositoryName = Annotated[str, PathParam(min_length=1, max_length=200)]
LIST_LIMIT = 50


def run_out(run: TrainingRun, with_log: bool = False) -> TrainingRunOut:
    return TrainingRunOut(
        id=run.id,
        repository=run.repository.name,
        state=run.state.value,
        step=run.step,
        progress=run.progress,
        trigger=run.trigger,
        reason=run.reason,
        config=run.config,
        steps=run.steps,
        adapter=f"v{run.adapter.version}" if run.adapter else None,
        created_at=run.created_at,
        started_at=run.started_at,
        finished_at=run.finished_at,
        log=run.log if with_log else None,
    )


def add_retraining_routes(
    app: FastAPI, launcher: RetrainLauncher, admin: Callable, session: Callable
) -> None:
    base = "/v1/admin/repositories/{name}"
    guard = [Depends(admin)]

    @app.post(f"{base}/retrain", status_code=202, dependencies=guard)
    def start_retraining(
        name: RepositoryName, body: RetrainIn | None = None, s: Session = Depends(session)
    ) -> TrainingRunOut:
        """Queue a retraining job (409 while one is queued or running for this repository)."""
        repository = service.repository_by_name(s, name)
        policy = policy_of(repository.retraining, body.overrides if body else None)
        run = runs.create_run(s, repository, "manual", policy.model_dump())
        launcher.launch(run.id, repository.name)
        return run_out(run)

    @app.get(f"{base}/retrain", dependencies=guard)
    def list_retraining(name: RepositoryName, s: Session = Depends(session)) -> list[TrainingRunOut]:
        repository = service.repository_by_name(s, name)
        found = s.scalars(
            select(TrainingRun)
            .where(TrainingRun.repository_id == repository.id)
            .order_by(TrainingRun.id.desc())
            .limit(LIST_LIMIT)
        )
        return [run_out(run) for run in found]

    @app.get(f"{base}/retrain/{{run_id}}", dependencies=guard)
    def show_retraining(name: RepositoryName, run_id: RunId, s: Session = Depends(session)) -> TrainingRunOut:
        run = runs.run_by_id(s, service.repository_by_name(s, name), run_id)
        return run_out(run, with_log=True)

    @app.post(f"{base}/retrain/{{run_id}}/cancel", status_code=202, dependencies=guard)
    def cancel_retraining(
        name: RepositoryName, run_id: RunId, s: Session = Depends(session)
    ) -> TrainingRunOut:
        """Ask the job to stop; it ends `cancelled` once its worker has stopped."""
        run = runs.run_by_id(s, service.repository_by_name(s, name), run_id)
        launcher.cancel(s, run)
        s.refresh(run)
        return run_out(run)

    @app.get(f"{base}/retraining", dependencies=guard)
    def show_policy(name: RepositoryName, s: Session = Depends(session)) -> RetrainingPolicyOut:
        repository = service.repository_by_name(s, name)
        return RetrainingPolicyOut(repository=name, **policy_of(repository.retraining).model_dump())

    @app.put(f"{base}/retraining", dependencies=guard)
    def set_policy(
        name: RepositoryName, body: RetrainingPolicy, s: Session = Depends(session)
    ) -> RetrainingPolicyOut:
        """When this repository retrains on its own, and how its jobs train and gate."""
        repository = service.repository_by_name(s, name)
        repository.retraining = body.model_dump(exclude_defaults=True)
        s.commit()
        return RetrainingPolicyOut(repository=name, **body.model_dump())
