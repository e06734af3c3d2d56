"""Adapter registry: manifest, evaluation, activation and deletion times, activation history.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-23 22:30:00

"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | Sequence[str] | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

OLD_STATUSES = ("training", "evaluating", "promoted", "rejected", "failed")
NEW_STATUSES = ("registered", *OLD_STATUSES)


def _replace_status_check(batch, values: tuple[str, ...]) -> None:
    """The column stays VARCHAR(32); only its CHECK constraint lists other values."""
    batch.drop_constraint(op.f("ck_adapters_adapter_status"), type_="check")
    batch.create_check_constraint(op.f("ck_adapters_adapter_status"), sa.column("status").in_(values))


def upgrade() -> None:
    with op.batch_alter_table("adapters") as batch:
        batch.add_column(sa.Column("manifest", sa.JSON(), nullable=True))
        batch.add_column(sa.Column("evaluation", sa.JSON(), nullable=True))
        batch.add_column(sa.Column("activated_at", sa.DateTime(timezone=True), nullable=True))
        batch.add_column(sa.Column("deleted_at", sa.DateTime(timezone=True), nullable=True))
        _replace_status_check(batch, NEW_STATUSES)
    op.create_table(
        "adapter_activations",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("repository_id", sa.Integer(), nullable=False),
        sa.Column(
            "action",
            sa.Enum(
                "activate",
                "deactivate",
                "rollback",
                name="activation_action",
                native_enum=False,
                create_constraint=True,
                length=32,
            ),
            nullable=False,
        ),
        sa.Column("version", sa.Integer(), nullable=True),
        sa.Column("previous_version", sa.Integer(), nullable=True),
        sa.Column("reverted", sa.Boolean(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["repository_id"],
            ["repositories.id"],
            name=op.f("fk_adapter_activations_repository_id_repositories"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_adapter_activations")),
    )
    op.create_index(
        op.f("ix_adapter_activations_repository_id"), "adapter_activations", ["repository_id"], unique=False
    )


def downgrade() -> None:
    op.drop_index(op.f("ix_adapter_activations_repository_id"), table_name="adapter_activations")
    op.drop_table("adapter_activations")
    op.execute("UPDATE adapters SET status = 'promoted' WHERE status = 'registered' AND active")
    op.execute("UPDATE adapters SET status = 'rejected' WHERE status = 'registered'")
    with op.batch_alter_table("adapters") as batch:
        _replace_status_check(batch, OLD_STATUSES)
        for column in ("deleted_at", "activated_at", "evaluation", "manifest"):
            batch.drop_column(column)
