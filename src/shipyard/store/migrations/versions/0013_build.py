"""Runs started by events: each project's repository (where its commits are fetched from, the
webhook secret, the executor, the command that reports commit statuses) and the queue of
requested runs that workers take.

Revision ID: 0013_build
Revises: 0012_build
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0013_build"
down_revision = "0012_build"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "repositories",
        sa.Column("project", sa.String(100), primary_key=True),
        sa.Column("name", sa.String(300), nullable=False, unique=True),  # owner/repo as hosted
        sa.Column("remote", sa.Text, nullable=False),
        sa.Column("secret", sa.Text, nullable=False),
        sa.Column("executor", sa.String(300), nullable=False),
        sa.Column("status_command", sa.Text, nullable=True),
        sa.Column("updated_at", sa.String(32), nullable=False),
    )
    op.create_table(
        "run_requests",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("project", sa.String(100), nullable=False),
        sa.Column("commit", sa.String(64), nullable=False),
        sa.Column("ref", sa.String(300), nullable=False),
        sa.Column("trigger", sa.String(100), nullable=False),
        sa.Column("requested_by", sa.String(200), nullable=False),
        sa.Column("status", sa.String(20), nullable=False),  # queued, running, done, failed
        sa.Column("run_id", sa.Integer, nullable=True),
        sa.Column("reason", sa.Text, nullable=False),
        sa.Column("created_at", sa.String(32), nullable=False),
        sa.Column("updated_at", sa.String(32), nullable=False),
    )
    op.create_index("ix_run_requests_status", "run_requests", ["status", "id"])


def downgrade() -> None:
    op.drop_index("ix_run_requests_status", "run_requests")
    op.drop_table("run_requests")
    op.drop_table("repositories")
