"""What a retraining job does and when one starts, per repository.

The SFT fields take their defaults and help from `training.sft_config.SFTConfig`; `sft_config()`
and `grpo_config()` turn a policy into the trainers' configs.
"""

from __future__ import annotations

from dataclasses import MISSING, fields
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from server.errors import ApiError
from training.exports import DatasetMode
from training.sft_config import SFTConfig

if TYPE_CHECKING:
    from training.rl_config import RLConfig

DEFAULT_TEACHERS = ("mutation", "local:qwen2.5-coder-1.5b")
"""Mutants and bodies removed answered by the ground truth, and the default serving model as a
teacher that needs no network: its trajectories give the retention rules a (failed, then fixed)
and c (fixed at once) with a model's own answers, which the ground truth's items never hold."""
MODEL_TEACHER_METHODS = 12
"""A model teacher costs minutes per method on a laptop's CPU (up to 5 turns, twice: from the body
removed and from a mutant); mutation covers the rest in seconds."""

STUDENTS = {"qwen2.5-coder-1.5b": "qwen2.5-coder-0.5b"}
"""The base a served model's repository adapters are trained on by default. Repository adaptation
gains most for the smallest models, and the 0.5B trains about three times faster on a CPU; the
gate then serves it only where, adapted, it repairs as well as the served model."""

SFT_FIELDS = (
    "epochs", "max_steps", "max_seconds", "learning_rate", "warmup_steps", "upper_layers", "validation_rows",
    "changed_token_weight",
)  # fmt: skip
"""Policy fields that are `SFTConfig` fields of the same name, default (but `max_seconds`) and help."""
JOB_SFT_SECONDS = 7200.0
"""A job's SFT ends within 2 hours: on a laptop's CPU that is about an epoch and a half to three of a
package's rows (see `CPU_UPPER_LAYERS`); a GPU finishes the recipe's epochs long before."""
CPU_UPPER_LAYERS = 6
"""On a CPU a job's LoRA goes on the top 6 of the 0.5B's 24 layers unless the policy says otherwise:
measured on toolz's rows (2 cores, bf16), 58 s per step of 8 rows against 99 s for every layer, so
2 hours hold about 124 steps (2.9 epochs of toolz's 346 rows) instead of 73. A GPU runs the recipe
(every layer)."""


def _sft(name: str, default: Any = MISSING, **constraints: Any) -> Any:
    """A policy field with the help (and unless given, the default) of `SFTConfig.<name>`, and the
    policy's bounds."""
    found = next(f for f in fields(SFTConfig) if f.name == name)
    default = found.default if default is MISSING else default
    return Field(default=default, description=f"SFT: {found.metadata['help']}", **constraints)


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
    teachers: list[str] = Field(
        default_factory=lambda: list(DEFAULT_TEACHERS),
        min_length=1,
        description="Who answers while training data is made: `mutation`, `local:MODEL`, `student`, "
        "or NAME=openai:URL:MODEL[:ENVVAR]",
    )
    model_teacher_methods: int | None = Field(
        default=MODEL_TEACHER_METHODS,
        ge=1,
        description="Training methods the model teachers repair (each from its body removed and from a "
        "mutant); the mutation teacher covers every one; None = all",
    )
    student: str | None = Field(
        default=None,
        description="Base model the adapters are trained on (catalogue name or model folder); None = "
        "the served model's default student (Qwen2.5-Coder-0.5B for the 1.5B), else the served model",
    )
    turns: int = Field(default=5, ge=1, le=10)
    epochs: float = _sft("epochs", gt=0, le=50)
    max_steps: int | None = _sft("max_steps", ge=1)
    max_seconds: float | None = _sft("max_seconds", JOB_SFT_SECONDS, gt=0)
    learning_rate: float = _sft("learning_rate", gt=0, le=1e-2)
    warmup_steps: int = _sft("warmup_steps", ge=0)
    upper_layers: int | None = Field(
        default=None,
        ge=0,
        description=f"SFT: LoRA on the top N decoder layers only; 0 = every layer; None = {CPU_UPPER_LAYERS} "
        "on a CPU, every layer on a GPU",
    )
    validation_rows: int | None = _sft("validation_rows", ge=1)
    changed_token_weight: float = _sft("changed_token_weight", gt=0, le=100)
    max_length: int | None = Field(
        default=None,
        ge=256,
        description=f"Longest SFT row in tokens (longer are left out); None = {SFTConfig.max_length}, "
        "capped at the model's context",
    )
    max_methods: int | None = Field(default=None, ge=1, description="Cap on training methods used")
    max_heldout: int | None = Field(default=None, ge=1, description="Cap on held-out methods evaluated")
    mode: DatasetMode = DatasetMode.NO_THINK
    dpo: bool = Field(default=False, description="Preference step on accepted vs rejected fixes")
    grpo: bool = Field(default=False, description="RL step with the tests as reward")
    grpo_steps: int = Field(default=20, ge=1, description="GRPO optimiser steps (a job's run is short)")
    seed: int = 0

    def student_model(self, served: str) -> str:
        """The base the job trains on when `served` is the model the server runs."""
        return self.student or STUDENTS.get(served, served)

    def sft_config(self, *, gpu: bool | None = None) -> SFTConfig:
        """The job's SFT run: these fields and the seed, `SFTConfig`'s defaults for the rest; `gpu`
        (default: whether torch sees one) settles an unset `upper_layers`."""
        values = {name: getattr(self, name) for name in SFT_FIELDS}
        if self.upper_layers is None:
            if gpu is None:
                import torch

                gpu = torch.cuda.is_available()
            values["upper_layers"] = None if gpu else CPU_UPPER_LAYERS
        elif self.upper_layers == 0:
            values["upper_layers"] = None
        length = {"max_length": self.max_length} if self.max_length else {}
        return SFTConfig(**values, seed=self.seed, **length)

    def grpo_config(self) -> RLConfig:
        """The job's GRPO run: its steps, method cap and seed, `RLConfig`'s defaults for the rest."""
        from training.rl_config import RLConfig

        return RLConfig(max_steps=self.grpo_steps, max_methods=self.max_methods, seed=self.seed)


def policy_of(stored: dict | None, overrides: dict | None = None) -> RetrainingPolicy:
    """The stored policy with this job's overrides; a bad field is a 422 naming it."""
    try:
        return RetrainingPolicy.model_validate({**(stored or {}), **(overrides or {})})
    except ValidationError as err:
        first = err.errors()[0]
        where = ".".join(str(part) for part in first["loc"]) or "policy"
        raise ApiError(422, "invalid_retraining_settings", f"{where}: {first['msg']}") from err
