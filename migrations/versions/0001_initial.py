"""Initial schema: repositories, adapters, repairs, turns, feedback, training runs.

Revision ID: 0001
Revises:
Create Date: 2026-11-23 19:44:36

"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0001"
down_revision: str | Sequence[str] | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "repositories",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("path", sa.Text(), nullable=False),
        sa.Column("python", sa.Text(), nullable=False),
        sa.Column("test_command", sa.Text(), nullable=True),
        sa.Column("test_paths", sa.JSON(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_repositories")),
        sa.UniqueConstraint("name", name=op.f("uq_repositories_name")),
        sa.UniqueConstraint("path", name=op.f("uq_repositories_path")),
    )
    op.create_table(
        "adapters",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("repository_id", sa.Integer(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("path", sa.Text(), nullable=False),
        sa.Column("base_model", sa.String(length=500), nullable=False),
        sa.Column("metrics", sa.JSON(), nullable=True),
        sa.Column(
            "status",
            sa.Enum(
                "training",
                "evaluating",
                "promoted",
                "rejected",
                "failed",
                name="adapter_status",
                native_enum=False,
                create_constraint=True,
                length=32,
            ),
            nullable=False,
        ),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["repository_id"],
            ["repositories.id"],
            name=op.f("fk_adapters_repository_id_repositories"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_adapters")),
        sa.UniqueConstraint("repository_id", "version", name=op.f("uq_adapters_repository_id_version")),
    )
    op.create_index(op.f("ix_adapters_repository_id"), "adapters", ["repository_id"], unique=False)
    op.create_index(
        "uq_adapters_one_active_per_repository",
        "adapters",
        ["repository_id"],
        unique=True,
        sqlite_where=sa.text("active"),
        postgresql_where=sa.text("active"),
    )
    op.create_table(
        "repairs",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("repository_id", sa.Integer(), nullable=False),
        sa.Column("adapter_id", sa.Integer(), nullable=True),
        sa.Column("model", sa.String(length=500), nullable=False),
        sa.Column(
            "mode",
            sa.Enum(
                "think", "no-think", name="repair_mode", native_enum=False, create_constraint=True, length=32
            ),
            nullable=False,
        ),
        sa.Column("max_turns", sa.Integer(), nullable=False),
        sa.Column("samples_per_turn", sa.Integer(), nullable=False),
        sa.Column(
            "status",
            sa.Enum(
                "queued",
                "running",
                "fixed",
                "unfixed",
                "already_passing",
                "cancelled",
                "failed",
                name="repair_status",
                native_enum=False,
                create_constraint=True,
                length=32,
            ),
            nullable=False,
        ),
        sa.Column("file_path", sa.Text(), nullable=False),
        sa.Column("qualname", sa.String(length=500), nullable=False),
        sa.Column("tests", sa.JSON(), nullable=True),
        sa.Column("new_method", sa.Text(), nullable=True),
        sa.Column("diff", sa.Text(), nullable=True),
        sa.Column("error_code", sa.String(length=100), nullable=True),
        sa.Column("error_message", sa.Text(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("seconds", sa.Double(), nullable=True),
        sa.ForeignKeyConstraint(
            ["adapter_id"], ["adapters.id"], name=op.f("fk_repairs_adapter_id_adapters"), ondelete="SET NULL"
        ),
        sa.ForeignKeyConstraint(
            ["repository_id"],
            ["repositories.id"],
            name=op.f("fk_repairs_repository_id_repositories"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_repairs")),
    )
    op.create_index(op.f("ix_repairs_adapter_id"), "repairs", ["adapter_id"], unique=False)
    op.create_index(op.f("ix_repairs_repository_id"), "repairs", ["repository_id"], unique=False)
    op.create_index(op.f("ix_repairs_status"), "repairs", ["status"], unique=False)
    op.create_table(
        "training_runs",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("repository_id", sa.Integer(), nullable=False),
        sa.Column("adapter_id", sa.Integer(), nullable=True),
        sa.Column(
            "state",
            sa.Enum(
                "queued",
                "running",
                "succeeded",
                "failed",
                "cancelled",
                name="training_state",
                native_enum=False,
                create_constraint=True,
                length=32,
            ),
            nullable=False,
        ),
        sa.Column("step", sa.String(length=100), nullable=True),
        sa.Column("progress", sa.Double(), nullable=False),
        sa.Column("log", sa.Text(), nullable=False),
        sa.Column("reason", sa.Text(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["adapter_id"],
            ["adapters.id"],
            name=op.f("fk_training_runs_adapter_id_adapters"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["repository_id"],
            ["repositories.id"],
            name=op.f("fk_training_runs_repository_id_repositories"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_training_runs")),
    )
    op.create_index(op.f("ix_training_runs_repository_id"), "training_runs", ["repository_id"], unique=False)
    op.create_table(
        "feedback",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("repair_id", sa.Integer(), nullable=False),
        sa.Column(
            "verdict",
            sa.Enum(
                "accepted", "rejected", name="verdict", native_enum=False, create_constraint=True, length=32
            ),
            nullable=False,
        ),
        sa.Column("reason", sa.Text(), nullable=True),
        sa.Column("final_text", sa.Text(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["repair_id"], ["repairs.id"], name=op.f("fk_feedback_repair_id_repairs"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_feedback")),
        sa.UniqueConstraint("repair_id", name=op.f("uq_feedback_repair_id")),
    )
    op.create_table(
        "turns",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("repair_id", sa.Integer(), nullable=False),
        sa.Column("turn", sa.Integer(), nullable=False),
        sa.Column("sample", sa.Integer(), nullable=False),
        sa.Column("chosen", sa.Boolean(), nullable=False),
        sa.Column("reply", sa.Text(), nullable=False),
        sa.Column("reasoning_chars", sa.Integer(), nullable=False),
        sa.Column("budget_forced", sa.Boolean(), nullable=False),
        sa.Column("candidate", sa.Text(), nullable=True),
        sa.Column("rejection", sa.Text(), nullable=True),
        sa.Column("passed", sa.Boolean(), nullable=False),
        sa.Column("results", sa.JSON(), nullable=True),
        sa.Column("feedback", sa.Text(), nullable=True),
        sa.Column("generation_seconds", sa.Double(), nullable=False),
        sa.Column("test_seconds", sa.Double(), nullable=False),
        sa.Column("prompt_tokens", sa.Integer(), nullable=False),
        sa.Column("completion_tokens", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["repair_id"], ["repairs.id"], name=op.f("fk_turns_repair_id_repairs"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_turns")),
        sa.UniqueConstraint("repair_id", "turn", "sample", name=op.f("uq_turns_repair_id_turn_sample")),
    )
    op.create_index(op.f("ix_turns_repair_id"), "turns", ["repair_id"], unique=False)


def downgrade() -> None:
    op.drop_index(op.f("ix_turns_repair_id"), table_name="turns")
    op.drop_table("turns")
    op.drop_table("feedback")
    op.drop_index(op.f("ix_training_runs_repository_id"), table_name="training_runs")
    op.drop_table("training_runs")
    op.drop_index(op.f("ix_repairs_status"), table_name="repairs")
    op.drop_index(op.f("ix_repairs_repository_id"), table_name="repairs")
    op.drop_index(op.f("ix_repairs_adapter_id"), table_name="repairs")
    op.drop_table("repairs")
    op.drop_index(
        "uq_adapters_one_active_per_repository",
        table_name="adapters",
        sqlite_where=sa.text("active"),
        postgresql_where=sa.text("active"),
    )
    op.drop_index(op.f("ix_adapters_repository_id"), table_name="adapters")
    op.drop_table("adapters")
    op.drop_table("repositories")
