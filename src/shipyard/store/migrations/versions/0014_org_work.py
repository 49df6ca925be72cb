"""Leased background work and controller logs: any worker takes a rollout, scheduled changes
or notification delivery; a fencing token refuses a stale holder's writes.

Revision ID: 0014_org_work
Revises: 0005
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0014_org_work"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "work_items",
        sa.Column("id", sa.String(300), primary_key=True),
        sa.Column("kind", sa.String(20), nullable=False),
        sa.Column("project", sa.String(100), nullable=False),
        sa.Column("state", sa.String(10), nullable=False),
        sa.Column("owner", sa.String(200), nullable=True),
        sa.Column("fence", sa.BigInteger, nullable=False),
        sa.Column("expires_at", sa.Float, nullable=True),
        sa.Column("heartbeat_at", sa.Float, nullable=True),
        sa.Column("not_before", sa.Float, nullable=True),
        sa.Column("attempts", sa.Integer, nullable=False),
        sa.Column("created_at", sa.String(32), nullable=False),
        sa.Column("finished_at", sa.String(32), nullable=True),
    )
    op.create_index("ix_work_items_pending", "work_items", ["state", "kind"])
    op.create_table(
        "controller_logs",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("item", sa.String(300), nullable=False),
        sa.Column("ts", sa.String(32), nullable=False),
        sa.Column("owner", sa.String(200), nullable=False),
        sa.Column("fence", sa.BigInteger, nullable=False),
        sa.Column("line", sa.Text, nullable=False),
    )
    op.create_index("ix_controller_logs_item", "controller_logs", ["item", "id"])


def downgrade() -> None:
    op.drop_index("ix_controller_logs_item", table_name="controller_logs")
    op.drop_table("controller_logs")
    op.drop_index("ix_work_items_pending", table_name="work_items")
    op.drop_table("work_items")
