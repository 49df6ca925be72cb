"""Release coordination: freezes, approvals, locks, break-glass, trains, OSV, deliveries.

Revision ID: 0006
Revises: 0001
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0001"
branch_labels = None
depends_on = None

_TABLES = (
    "notify_deliveries",
    "osv_records",
    "release_trains",
    "release_overrides",
    "release_locks",
    "release_approvals",
    "release_freezes",
)


def upgrade() -> None:
    op.create_table(
        "release_freezes",
        sa.Column("project", sa.String(100), primary_key=True),
        sa.Column("name", sa.String(100), primary_key=True),
        sa.Column("definition", sa.Text, nullable=False),
        sa.Column("created_by", sa.String(200), nullable=False),
        sa.Column("created_at", sa.String(32), nullable=False),
    )
    op.create_table(
        "release_approvals",
        sa.Column("id", sa.String(32), primary_key=True),
        sa.Column("project", sa.String(100), nullable=False),
        sa.Column("environment", sa.String(100), nullable=False),
        sa.Column("version", sa.String(100), nullable=False),
        sa.Column("release_digest", sa.String(100), nullable=False),
        sa.Column("revision", sa.String(64), nullable=True),
        sa.Column("approver", sa.String(200), nullable=False),
        sa.Column("comment", sa.Text, nullable=False),
        sa.Column("created_at", sa.String(32), nullable=False),
    )
    op.create_index(
        "ix_release_approvals_env", "release_approvals", ["project", "environment", "version"]
    )
    op.create_table(
        "release_locks",
        sa.Column("project", sa.String(100), primary_key=True),
        sa.Column("environment", sa.String(100), primary_key=True),
        sa.Column("held_by", sa.String(200), nullable=False),
        sa.Column("reason", sa.Text, nullable=False),
        sa.Column("created_at", sa.String(32), nullable=False),
        sa.Column("expires_at", sa.String(32), nullable=True),
    )
    op.create_table(
        "release_overrides",
        sa.Column("id", sa.String(32), primary_key=True),
        sa.Column("project", sa.String(100), nullable=False),
        sa.Column("environment", sa.String(100), nullable=False),
        sa.Column("gates", sa.Text, nullable=False),
        sa.Column("reason", sa.Text, nullable=False),
        sa.Column("incident", sa.String(200), nullable=True),
        sa.Column("ttl_seconds", sa.Integer, nullable=False),
        sa.Column("requested_by", sa.String(200), nullable=False),
        sa.Column("requested_at", sa.String(32), nullable=False),
        sa.Column("approved_by", sa.String(200), nullable=True),
        sa.Column("approved_at", sa.String(32), nullable=True),
        sa.Column("expires_at", sa.String(32), nullable=True),
        sa.Column("reviewed_at", sa.String(32), nullable=True),
    )
    op.create_index("ix_release_overrides_env", "release_overrides", ["project", "environment"])
    op.create_table(
        "release_trains",
        sa.Column("project", sa.String(100), primary_key=True),
        sa.Column("name", sa.String(100), primary_key=True),
        sa.Column("branch", sa.String(200), nullable=False),
        sa.Column("commit", sa.String(64), nullable=False),
        sa.Column("cut_by", sa.String(200), nullable=False),
        sa.Column("cut_at", sa.String(32), nullable=False),
    )
    op.create_table(
        "osv_records",
        sa.Column("id", sa.String(100), primary_key=True),
        sa.Column("modified", sa.String(40), nullable=False),
        sa.Column("body", sa.Text, nullable=False),
    )
    op.create_table(
        "notify_deliveries",
        sa.Column("sink", sa.String(100), primary_key=True),
        sa.Column("seq", sa.Integer, primary_key=True, autoincrement=False),
        sa.Column("kind", sa.String(100), nullable=False),
        sa.Column("status", sa.String(20), nullable=False),
        sa.Column("attempts", sa.Integer, nullable=False),
        sa.Column("detail", sa.Text, nullable=False),
        sa.Column("at", sa.String(32), nullable=False),
    )


def downgrade() -> None:
    for table in _TABLES:
        op.drop_table(table)
