"""The server's tables; the single source of truth that Alembic migrations are checked against."""

from __future__ import annotations

from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    DateTime,
    Enum,
    ForeignKey,
    Index,
    MetaData,
    String,
    Text,
    UniqueConstraint,
    text,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

from repomend.contract.conversation import Mode
from server.repair_status import RepairStatus

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}
"""Deterministic constraint names, so later migrations can alter them on SQLite and PostgreSQL alike."""


def utcnow() -> datetime:
    return datetime.now(UTC)


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)
    type_annotation_map = {dict[str, Any]: JSON, list[str]: JSON}  # noqa: RUF012


class Verdict(StrEnum):
    ACCEPTED = "accepted"
    REJECTED = "rejected"


class AdapterStatus(StrEnum):
    REGISTERED = "registered"
    """Finished and stored in the registry; no gate has judged it."""
    TRAINING = "training"
    EVALUATING = "evaluating"
    PROMOTED = "promoted"
    """Beat the adapter active at the time on held-out methods."""
    REJECTED = "rejected"
    """Did not beat it; kept on disk for inspection."""
    FAILED = "failed"


class ActivationAction(StrEnum):
    ACTIVATE = "activate"
    DEACTIVATE = "deactivate"
    """Back to the bare base model."""
    ROLLBACK = "rollback"


class TrainingState(StrEnum):
    QUEUED = "queued"
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    CANCELLED = "cancelled"


def _enum(cls: type[StrEnum], name: str) -> Enum:
    # Stored as plain strings plus a CHECK constraint: adding a value later is an ordinary
    # migration on both SQLite and PostgreSQL (no native PostgreSQL enum type to alter).
    return Enum(
        cls,
        name=name,
        native_enum=False,
        create_constraint=True,
        length=32,
        values_callable=lambda members: [m.value for m in members],
        validate_strings=True,
    )


class Repository(Base):
    """A repository the server fixes methods in; everything else hangs off one of these."""

    __tablename__ = "repositories"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(200), unique=True)
    path: Mapped[str] = mapped_column(Text, unique=True)
    """Absolute path of the checkout on the server."""
    python: Mapped[str] = mapped_column(Text)
    """The repository's own interpreter: its tests run with it."""
    test_command: Mapped[str | None] = mapped_column(Text)
    test_paths: Mapped[list[str] | None]
    retraining: Mapped[dict[str, Any] | None]
    """Its retraining policy (`server.retraining.policy.RetrainingPolicy` as JSON); None = defaults."""
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow, onupdate=utcnow)

    repairs: Mapped[list[Repair]] = relationship(
        back_populates="repository", cascade="all, delete-orphan", passive_deletes=True
    )
    adapters: Mapped[list[Adapter]] = relationship(
        back_populates="repository", cascade="all, delete-orphan", passive_deletes=True
    )
    training_runs: Mapped[list[TrainingRun]] = relationship(
        back_populates="repository", cascade="all, delete-orphan", passive_deletes=True
    )
    adapter_activations: Mapped[list[AdapterActivation]] = relationship(
        cascade="all, delete-orphan", passive_deletes=True, order_by="AdapterActivation.id"
    )


class Adapter(Base):
    """One trained LoRA adapter version of a repository; at most one per repository is active."""

    __tablename__ = "adapters"
    __table_args__ = (UniqueConstraint("repository_id", "version"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    repository_id: Mapped[int] = mapped_column(ForeignKey("repositories.id", ondelete="CASCADE"), index=True)
    version: Mapped[int]
    path: Mapped[str] = mapped_column(Text)
    """Folder holding the PEFT adapter and its metrics, under the data directory."""
    base_model: Mapped[str] = mapped_column(String(500))
    metrics: Mapped[dict[str, Any] | None]
    status: Mapped[AdapterStatus] = mapped_column(
        _enum(AdapterStatus, "adapter_status"), default=AdapterStatus.TRAINING
    )
    active: Mapped[bool] = mapped_column(Boolean, default=False)
    manifest: Mapped[dict[str, Any] | None]
    """Its `repomend_adapter.json`: base model, dataset version, training config, metrics."""
    evaluation: Mapped[dict[str, Any] | None]
    """Its `eval_report.json` (Pass@k per model and mode), when evaluation wrote one."""
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    activated_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    """When it last became the active adapter."""
    deleted_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    """Its files are gone; the row stays so repairs keep naming the version that served them
    and a version number is never issued twice."""

    repository: Mapped[Repository] = relationship(back_populates="adapters")

    @property
    def label(self) -> str:
        return f"v{self.version}"


class AdapterActivation(Base):
    """One change of a repository's active adapter: the history that a rollback walks back."""

    __tablename__ = "adapter_activations"

    id: Mapped[int] = mapped_column(primary_key=True)
    repository_id: Mapped[int] = mapped_column(ForeignKey("repositories.id", ondelete="CASCADE"), index=True)
    action: Mapped[ActivationAction] = mapped_column(_enum(ActivationAction, "activation_action"))
    version: Mapped[int | None]
    """The version active afterwards; None = the base model."""
    previous_version: Mapped[int | None]
    """The version active before; None = the base model."""
    reverted: Mapped[bool] = mapped_column(Boolean, default=False)
    """A rollback undid this change; a later rollback goes further back."""
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


# Exactly one active adapter per repository, or none: a partial unique index, so the database
# itself refuses a second active row however the application got there.
Index(
    "uq_adapters_one_active_per_repository",
    Adapter.repository_id,
    unique=True,
    sqlite_where=text("active"),
    postgresql_where=text("active"),
)


class Repair(Base):
    """One "fix this method" request and its outcome."""

    __tablename__ = "repairs"

    id: Mapped[int] = mapped_column(primary_key=True)
    repository_id: Mapped[int] = mapped_column(ForeignKey("repositories.id", ondelete="CASCADE"), index=True)
    adapter_id: Mapped[int | None] = mapped_column(ForeignKey("adapters.id", ondelete="SET NULL"), index=True)
    """The adapter that produced the fix; None for the base model."""
    model: Mapped[str] = mapped_column(String(500))
    """The model name as the backend knew it, kept even after the adapter row is gone."""
    mode: Mapped[Mode] = mapped_column(_enum(Mode, "repair_mode"))
    max_turns: Mapped[int]
    samples_per_turn: Mapped[int] = mapped_column(default=1)
    status: Mapped[RepairStatus] = mapped_column(
        _enum(RepairStatus, "repair_status"), default=RepairStatus.QUEUED, index=True
    )
    """`server.repair_status`: queued or running, then the outcome; error_code / error_message
    say why a failed one failed."""
    file_path: Mapped[str] = mapped_column(Text)
    """Relative to the repository root."""
    qualname: Mapped[str] = mapped_column(String(500))
    tests: Mapped[list[str] | None]
    """The pytest node ids that judged the candidates."""
    new_method: Mapped[str | None] = mapped_column(Text)
    """The verified method text; set only when the tests passed."""
    original_method: Mapped[str | None] = mapped_column(Text)
    """The method as the user had it when asking (column-0 form)."""
    messages: Mapped[list[dict[str, Any]] | None] = mapped_column(JSON)
    """The conversation as the model saw it (reasoning stripped): accepted fixes train from it."""
    diff: Mapped[str | None] = mapped_column(Text)
    fix_type: Mapped[str | None] = mapped_column(String(64))
    """What kind of fix it made (`repomend.fix_types`: off by one, comparison, ...); set when fixed.
    Rows from before the column have None: the dashboard reads their kind from the two methods."""
    basis: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    """What the outcome rests on: the tests that ran and passed, the reference, the second run."""
    error_code: Mapped[str | None] = mapped_column(String(100))
    error_message: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    started_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    finished_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    seconds: Mapped[float | None]

    repository: Mapped[Repository] = relationship(back_populates="repairs")
    adapter: Mapped[Adapter | None] = relationship()
    turns: Mapped[list[Turn]] = relationship(
        back_populates="repair",
        cascade="all, delete-orphan",
        passive_deletes=True,
        order_by="(Turn.turn, Turn.sample)",
    )
    feedback: Mapped[Feedback | None] = relationship(
        back_populates="repair", cascade="all, delete-orphan", passive_deletes=True
    )

    def give_feedback(
        self, verdict: Verdict, reason: str | None = None, final_text: str | None = None
    ) -> Feedback:
        """Record the user's verdict; repeating it (or changing one's mind) updates the same row."""
        if self.feedback is None:
            self.feedback = Feedback(verdict=verdict, reason=reason, final_text=final_text)
        else:
            self.feedback.verdict = verdict
            self.feedback.reason = reason
            self.feedback.final_text = final_text
            self.feedback.updated_at = utcnow()
        return self.feedback


class Turn(Base):
    """One sampled attempt of one turn (a turn with n samples has n rows)."""

    __tablename__ = "turns"
    __table_args__ = (UniqueConstraint("repair_id", "turn", "sample"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    repair_id: Mapped[int] = mapped_column(ForeignKey("repairs.id", ondelete="CASCADE"), index=True)
    turn: Mapped[int]
    """1-based turn number."""
    sample: Mapped[int] = mapped_column(default=0)
    """0-based attempt index within the turn."""
    chosen: Mapped[bool] = mapped_column(default=False)
    """The attempt that passed, or the one fed back to the model for the next turn."""
    reply: Mapped[str] = mapped_column(Text)
    """The model's answer with the reasoning stripped."""
    reasoning_chars: Mapped[int] = mapped_column(default=0)
    budget_forced: Mapped[bool] = mapped_column(default=False)
    candidate: Mapped[str | None] = mapped_column(Text)
    rejection: Mapped[str | None] = mapped_column(Text)
    """Why the answer could not be tested (no code block, wrong name, does not parse)."""
    passed: Mapped[bool] = mapped_column(default=False)
    results: Mapped[dict[str, Any] | None]
    """`sandbox.results.RunResult.to_dict()`: per-test outcomes, not a raw log."""
    feedback: Mapped[str | None] = mapped_column(Text)
    """The TEST_RESULT text sent to the model after this attempt, if it was the chosen one."""
    generation_seconds: Mapped[float] = mapped_column(default=0.0)
    test_seconds: Mapped[float] = mapped_column(default=0.0)
    prompt_tokens: Mapped[int] = mapped_column(default=0)
    completion_tokens: Mapped[int] = mapped_column(default=0)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)

    repair: Mapped[Repair] = relationship(back_populates="turns")


class Feedback(Base):
    """The user's verdict on a repair: one row per repair, the training signal."""

    __tablename__ = "feedback"

    id: Mapped[int] = mapped_column(primary_key=True)
    repair_id: Mapped[int] = mapped_column(ForeignKey("repairs.id", ondelete="CASCADE"), unique=True)
    verdict: Mapped[Verdict] = mapped_column(_enum(Verdict, "verdict"))
    reason: Mapped[str | None] = mapped_column(Text)
    final_text: Mapped[str | None] = mapped_column(Text)
    """The method as the user finally kept it (may differ from the proposed fix)."""
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)

    repair: Mapped[Repair] = relationship(back_populates="feedback")


class TrainingRun(Base):
    """One run of the training pipeline for a repository, watched from the admin endpoints."""

    __tablename__ = "training_runs"

    id: Mapped[int] = mapped_column(primary_key=True)
    repository_id: Mapped[int] = mapped_column(ForeignKey("repositories.id", ondelete="CASCADE"), index=True)
    adapter_id: Mapped[int | None] = mapped_column(ForeignKey("adapters.id", ondelete="SET NULL"))
    """The adapter this run produced, once it exists."""
    state: Mapped[TrainingState] = mapped_column(
        _enum(TrainingState, "training_state"), default=TrainingState.QUEUED
    )
    step: Mapped[str | None] = mapped_column(String(100))
    """The pipeline step under way (extract, generate, train, evaluate, ...)."""
    progress: Mapped[float] = mapped_column(default=0.0)
    """0..1 within the whole run."""
    log: Mapped[str] = mapped_column(Text, default="")
    reason: Mapped[str | None] = mapped_column(Text)
    """Why it ended as it did: the gate's verdict, the error, or who cancelled it."""
    trigger: Mapped[str] = mapped_column(String(100), default="manual")
    """What started it: `manual`, `schedule` or `feedback`."""
    config: Mapped[dict[str, Any] | None]
    """The job's settings (teachers, epochs, DPO, GRPO, gate margin) as it was started."""
    pid: Mapped[int | None]
    """The worker process running it, so a cancel or a server restart can reach it."""
    cancel_requested: Mapped[bool] = mapped_column(Boolean, default=False)
    steps: Mapped[dict[str, Any] | None]
    """Per finished step: seconds and a short summary (counts, losses, Pass@k)."""
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    started_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    finished_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))

    repository: Mapped[Repository] = relationship(back_populates="training_runs")
    adapter: Mapped[Adapter | None] = relationship()


# One queued or running job per repository: the database refuses a second however it was started.
Index(
    "uq_training_runs_one_live_per_repository",
    TrainingRun.repository_id,
    unique=True,
    sqlite_where=text("state IN ('queued', 'running')"),
    postgresql_where=text("state IN ('queued', 'running')"),
)
