"""What a retraining job does and when one starts, per repository."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from server.errors import ApiError


class RetrainingPolicy(BaseModel):
    """Stored as JSON on the repository; a manual job may override any field for one run."""

    model_config = ConfigDict(extra="forbid")

    every_hours: float | None = Field(default=None, gt=0, description="Retrain this often; None = never")
    after_accepted: int | None = Field(
        default=None, ge=1, description="Retrain once this many fixes were accepted since the last job"
    )
    margin: float = Field(
        default=0.0, ge=0, le=1, description="Pass@5 (no-think) the new adapter must gain over the active one"
    )
    teachers: list[str] = Field(default_factory=lambda: ["mutation"], min_length=1)
    turns: int = Field(default=5, ge=1, le=10)
    epochs: float = Field(default=3, gt=0, le=50)
    max_steps: int | None = Field(default=None, ge=1, description="Cap on optimizer steps (CPU runs)")
    learning_rate: float = Field(default=1e-4, gt=0, le=1e-2, description="SFT peak learning rate")
    warmup_steps: int = Field(default=10, ge=0, description="SFT warm-up; fewer for runs of a few steps")
    max_length: int | None = Field(
        default=None,
        ge=256,
        description="Longest SFT row in tokens (longer are left out); None = the model's",
    )
    max_methods: int | None = Field(default=None, ge=1, description="Cap on training methods used")
    max_heldout: int | None = Field(default=None, ge=1, description="Cap on held-out methods evaluated")
    mode: Literal["no-think", "think", "hybrid"] = "no-think"
    dpo: bool = Field(default=False, description="Preference step on accepted vs rejected fixes")
    grpo: bool = Field(default=False, description="RL step with the tests as reward")
    grpo_steps: int = Field(default=20, ge=1)
    seed: int = 0


def policy_of(stored: dict | None, overrides: dict | None = None) -> RetrainingPolicy:
    """The stored policy with this job's overrides; a bad field is a 422 naming it."""
    try:
        return RetrainingPolicy.model_validate({**(stored or {}), **(overrides or {})})
    except ValidationError as err:
        first = err.errors()[0]
        where = ".".join(str(part) for part in first["loc"]) or "policy"
        raise ApiError(422, "invalid_retraining_settings", f"{where}: {first['msg']}") from err
