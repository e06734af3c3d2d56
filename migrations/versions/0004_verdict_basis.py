"""Repairs say what their outcome rests on (`basis`), and may end `unverified`.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-24 06:00:00

"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: str | Sequence[str] | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

OLD_STATUSES = ("queued", "running", "fixed", "unfixed", "already_passing", "cancelled", "failed")
NEW_STATUSES = (*OLD_STATUSES, "unverified")


def _replace_status_check(batch, values: tuple[str, ...]) -> None:
    """The column stays VARCHAR(32); only its CHECK constraint lists other values."""
    batch.drop_constraint(op.f("ck_repairs_repair_status"), type_="check")
    batch.create_check_constraint(op.f("ck_repairs_repair_status"), sa.column("status").in_(values))


def upgrade() -> None:
    with op.batch_alter_table("repairs") as batch:
        batch.add_column(sa.Column("basis", sa.JSON(), nullable=True))
        _replace_status_check(batch, NEW_STATUSES)


def downgrade() -> None:
    op.execute("UPDATE repairs SET status = 'unfixed' WHERE status = 'unverified'")
    with op.batch_alter_table("repairs") as batch:
        _replace_status_check(batch, OLD_STATUSES)
        batch.drop_column("basis")
