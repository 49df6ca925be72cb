"""Pipelines: runs, their steps, and the action cache.

Revision ID: 0002
Revises: 0001
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "pipeline_runs",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("project", sa.String(100), nullable=False),
        sa.Column("commit", sa.String(64), nullable=False),
        sa.Column("trigger", sa.String(100), nullable=False),
        sa.Column("status", sa.String(20), nullable=False),
        sa.Column("jobs", sa.Text, nullable=False),
        sa.Column("started_at", sa.String(32), nullable=False),
        sa.Column("finished_at", sa.String(32), nullable=True),
        sa.Column("duration", sa.Float, nullable=True),
    )
    op.create_index("ix_pipeline_runs_project", "pipeline_runs", ["project", "id"])
    op.create_table(
        "pipeline_steps",
        sa.Column("run_id", sa.Integer, sa.ForeignKey("pipeline_runs.id"), primary_key=True),
        sa.Column("node", sa.String(300), primary_key=True),
        sa.Column("job", sa.String(100), nullable=False),
        sa.Column("matrix", sa.Text, nullable=False),
        sa.Column("status", sa.String(20), nullable=False),
        sa.Column("cached", sa.Boolean, nullable=False),
        sa.Column("key", sa.String(64), nullable=True),
        sa.Column("manifest", sa.Text, nullable=True),
        sa.Column("duration", sa.Float, nullable=False),
        sa.Column("queued", sa.Float, nullable=False),
        sa.Column("attempt", sa.Integer, nullable=False),
        sa.Column("log_digest", sa.String(80), nullable=True),
        sa.Column("outputs", sa.Text, nullable=False),
        sa.Column("reason", sa.Text, nullable=False),
        sa.Column("finished_at", sa.String(32), nullable=False),
    )
    op.create_index("ix_pipeline_steps_node", "pipeline_steps", ["node", "run_id"])
    op.create_table(
        "action_cache",
        sa.Column("key", sa.String(64), primary_key=True),
        sa.Column("project", sa.String(100), nullable=False),
        sa.Column("node", sa.String(300), nullable=False),
        sa.Column("files", sa.Text, nullable=False),
        sa.Column("outputs", sa.Text, nullable=False),
        sa.Column("log_digest", sa.String(80), nullable=True),
        sa.Column("duration", sa.Float, nullable=False),
        sa.Column("size", sa.Integer, nullable=False),
        sa.Column("created_at", sa.String(32), nullable=False),
        sa.Column("last_used", sa.String(32), nullable=False),
    )
    op.create_index("ix_action_cache_last_used", "action_cache", ["last_used"])


def downgrade() -> None:
    op.drop_index("ix_action_cache_last_used", "action_cache")
    op.drop_table("action_cache")
    op.drop_index("ix_pipeline_steps_node", "pipeline_steps")
    op.drop_table("pipeline_steps")
    op.drop_index("ix_pipeline_runs_project", "pipeline_runs")
    op.drop_table("pipeline_runs")
