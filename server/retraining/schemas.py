"""Request and response bodies of the retraining endpoints."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field

from server.retraining.policy import RetrainingPolicy


class RetrainIn(BaseModel):
    """Start a job now; any policy field given here applies to this job only."""

    model_config = ConfigDict(extra="forbid")

    overrides: dict = Field(default_factory=dict, description="RetrainingPolicy fields for this job")


class TrainingRunOut(BaseModel):
    id: int
    repository: str
    state: str
    step: str | None
    progress: float
    trigger: str
    reason: str | None
    config: dict | None
    steps: dict | None = Field(description="Per finished step: seconds and a summary")
    adapter: str | None = Field(description="The adapter version this job registered, if any")
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None
    log: str | None = Field(default=None, description="The log's tail (only when showing one job)")


class RetrainingPolicyOut(RetrainingPolicy):
    repository: str
