"""Retraining: repairs keep their conversation; retraining policy, job config and one live job per repository.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-23 21:30:00

"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | Sequence[str] | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

LIVE = "state IN ('queued', 'running')"


def upgrade() -> None:
    with op.batch_alter_table("repositories") as batch:
        batch.add_column(sa.Column("retraining", sa.JSON(), nullable=True))
    with op.batch_alter_table("repairs") as batch:
        batch.add_column(sa.Column("original_method", sa.Text(), nullable=True))
        batch.add_column(sa.Column("messages", sa.JSON(), nullable=True))
    with op.batch_alter_table("training_runs") as batch:
        batch.add_column(sa.Column("trigger", sa.String(length=100), nullable=False, server_default="manual"))
        batch.add_column(sa.Column("config", sa.JSON(), nullable=True))
        batch.add_column(sa.Column("pid", sa.Integer(), nullable=True))
        batch.add_column(
            sa.Column("cancel_requested", sa.Boolean(), nullable=False, server_default=sa.false())
        )
        batch.add_column(sa.Column("steps", sa.JSON(), nullable=True))
    op.create_index(
        "uq_training_runs_one_live_per_repository",
        "training_runs",
        ["repository_id"],
        unique=True,
        sqlite_where=sa.text(LIVE),
        postgresql_where=sa.text(LIVE),
    )


def downgrade() -> None:
    op.drop_index("uq_training_runs_one_live_per_repository", table_name="training_runs")
    with op.batch_alter_table("training_runs") as batch:
        for column in ("steps", "cancel_requested", "pid", "config", "trigger"):
            batch.drop_column(column)
    with op.batch_alter_table("repairs") as batch:
        batch.drop_column("messages")
        batch.drop_column("original_method")
    with op.batch_alter_table("repositories") as batch:
        batch.drop_column("retraining")
