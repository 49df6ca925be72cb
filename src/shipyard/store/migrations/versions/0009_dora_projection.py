"""DORA projection: production changes and the commits they shipped, projected from the
event log so the four keys are an aggregate over narrow indexed rows, not JSON extraction.

The event log stays the source of truth; these tables can be emptied and rebuilt from it
(``shipyard metrics rebuild``).

Revision ID: 0009
Revises: 0007
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "dora_deployments",
        sa.Column("seq", sa.BigInteger, primary_key=True, autoincrement=False),
        sa.Column("project", sa.String(100), nullable=False),
        sa.Column("id", sa.String(300), nullable=False),
        sa.Column("service", sa.String(200), nullable=True),
        sa.Column("env", sa.String(100), nullable=True),
        sa.Column("kind", sa.String(10), nullable=False),
        sa.Column("status", sa.String(20), nullable=False),
        sa.Column("ok", sa.Integer, nullable=False),
        sa.Column("started_at", sa.Float(53), nullable=True),
        sa.Column("finished_at", sa.Float(53), nullable=False),
        sa.Column("week", sa.Integer, nullable=False),
    )
    op.create_index(
        "ix_dora_deployments_window",
        "dora_deployments",
        ["env", "finished_at", "project", "service", "ok", "week"],
    )
    op.create_index(
        "ix_dora_deployments_next",
        "dora_deployments",
        ["env", "service", "ok", "finished_at", "project"],
    )
    op.create_index(
        "ix_dora_deployments_failures",
        "dora_deployments",
        ["env", "ok", "finished_at", "project", "service", "status", "week"],
    )
    op.create_index("ix_dora_deployments_id", "dora_deployments", ["project", "id"])
    op.create_table(
        "dora_commits",
        sa.Column("deployment_seq", sa.BigInteger, nullable=False),
        sa.Column("position", sa.Integer, nullable=False),
        sa.Column("sha", sa.String(64), nullable=True),
        sa.Column("project", sa.String(100), nullable=False),
        sa.Column("service", sa.String(200), nullable=True),
        sa.Column("env", sa.String(100), nullable=True),
        sa.Column("ok", sa.Integer, nullable=False),
        sa.Column("week", sa.Integer, nullable=False),
        sa.Column("committed_at", sa.Float(53), nullable=False),
        sa.Column("finished_at", sa.Float(53), nullable=False),
        sa.Column("lead", sa.Float(53), nullable=False),
    )
    op.create_index(
        "ix_dora_commits_lead",
        "dora_commits",
        ["env", "ok", "week", "lead", "finished_at", "project", "service"],
    )
    # Weekly roll-ups the projection keeps with its rows, so a year is read from a few
    # thousand cells instead of millions of rows; '' stands for a missing service or env.
    op.create_table(
        "dora_week_counts",
        sa.Column("env", sa.String(100), primary_key=True),
        sa.Column("project", sa.String(100), primary_key=True),
        sa.Column("service", sa.String(200), primary_key=True),
        sa.Column("week", sa.Integer, primary_key=True, autoincrement=False),
        sa.Column("deployments", sa.BigInteger, nullable=False),
        sa.Column("succeeded", sa.BigInteger, nullable=False),
    )
    op.create_table(
        "dora_week_leads",
        sa.Column("env", sa.String(100), primary_key=True),
        sa.Column("project", sa.String(100), primary_key=True),
        sa.Column("week", sa.Integer, primary_key=True, autoincrement=False),
        sa.Column("bucket", sa.Integer, primary_key=True, autoincrement=False),
        sa.Column("n", sa.BigInteger, nullable=False),
        sa.Column("total", sa.Float(53), nullable=False),
    )
    op.create_table(
        "dora_hotfixes",
        sa.Column("seq", sa.BigInteger, primary_key=True, autoincrement=False),
        sa.Column("project", sa.String(100), nullable=False),
        sa.Column("id", sa.String(300), nullable=False),
        sa.Column("deployment_id", sa.String(300), nullable=False),
    )
    op.create_index("ix_dora_hotfixes_deployment", "dora_hotfixes", ["project", "deployment_id"])
    op.create_table(
        "dora_cursor",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=False),
        sa.Column("seq", sa.BigInteger, nullable=False),
    )
    op.execute("INSERT INTO dora_cursor (id, seq) VALUES (1, -1)")


def downgrade() -> None:
    op.drop_table("dora_cursor")
    op.drop_table("dora_hotfixes")
    op.drop_table("dora_week_leads")
    op.drop_table("dora_week_counts")
    op.drop_table("dora_commits")
    op.drop_table("dora_deployments")
