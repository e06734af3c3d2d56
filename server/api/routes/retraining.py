"""Retraining (admin): start, watch and cancel a repository's jobs; read and set its policy.

The logic is in `server.retraining.service`; jobs run in their own processes (the launcher).
"""

from __future__ import annotations

from fastapi import APIRouter, Depends

from server.api.deps import LauncherDep, SessionDep, require_admin
from server.api.params import RepositoryName, RunId
from server.retraining import service as retraining
from server.retraining.policy import RetrainingPolicy
from server.retraining.schemas import RetrainIn, RetrainingPolicyOut, TrainingRunOut
from server.retraining.views import policy_out, run_out

router = APIRouter(prefix="/v1/admin/repositories/{name}", dependencies=[Depends(require_admin)])


@router.post("/retrain", status_code=202)
def start_retraining(
    name: RepositoryName, session: SessionDep, launcher: LauncherDep, body: RetrainIn | None = None
) -> TrainingRunOut:
    """Queue a retraining job (409 while one is queued or running for this repository)."""
    return run_out(retraining.start_manual(session, launcher, name, body))


@router.get("/retrain")
def list_retraining(name: RepositoryName, session: SessionDep) -> list[TrainingRunOut]:
    return [run_out(run) for run in retraining.recent_runs(session, name)]


@router.get("/retrain/{run_id}")
def show_retraining(name: RepositoryName, run_id: RunId, session: SessionDep) -> TrainingRunOut:
    return run_out(retraining.run_of(session, name, run_id), with_log=True)


@router.post("/retrain/{run_id}/cancel", status_code=202)
def cancel_retraining(
    name: RepositoryName, run_id: RunId, session: SessionDep, launcher: LauncherDep
) -> TrainingRunOut:
    """Ask the job to stop; it ends `cancelled` once its worker has stopped."""
    return run_out(retraining.cancel(session, launcher, name, run_id))


@router.get("/retraining")
def show_policy(name: RepositoryName, session: SessionDep) -> RetrainingPolicyOut:
    return policy_out(name, retraining.policy(session, name))


@router.put("/retraining")
def set_policy(name: RepositoryName, body: RetrainingPolicy, session: SessionDep) -> RetrainingPolicyOut:
    """When this repository retrains on its own, and how its jobs train and gate."""
    return policy_out(name, retraining.set_policy(session, name, body))
