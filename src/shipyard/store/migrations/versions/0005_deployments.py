"""Deployments: rollouts with their state, what is live per environment, pending actions.

Revision ID: 0005
Revises: 0001
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "deployments",
        sa.Column("id", sa.String(32), primary_key=True),
        sa.Column("project", sa.String(100), nullable=False),
        sa.Column("environment", sa.String(100), nullable=False),
        sa.Column("service", sa.String(100), nullable=False),
        sa.Column("version", sa.String(100), nullable=False),
        sa.Column("artifact", sa.String(300), nullable=True),
        sa.Column("digest", sa.String(100), nullable=True),
        sa.Column("config_revision", sa.String(32), nullable=False),
        sa.Column("strategy", sa.String(20), nullable=False),
        sa.Column("status", sa.String(20), nullable=False),
        sa.Column("phase", sa.String(20), nullable=False),
        sa.Column("state", sa.Text, nullable=True),
        sa.Column("plan", sa.Text, nullable=False),
        sa.Column("reason", sa.Text, nullable=False),
        sa.Column("actor", sa.String(200), nullable=False),
        sa.Column("controller_pid", sa.Integer, nullable=True),
        sa.Column("created_at", sa.String(32), nullable=False),
        sa.Column("updated_at", sa.String(32), nullable=False),
        sa.Column("finished_at", sa.String(32), nullable=True),
    )
    op.create_index("ix_deployments_env", "deployments", ["project", "environment", "created_at"])
    op.create_table(
        "deploy_environments",
        sa.Column("project", sa.String(100), primary_key=True),
        sa.Column("environment", sa.String(100), primary_key=True),
        sa.Column("version", sa.String(100), nullable=True),
        sa.Column("config_revision", sa.String(32), nullable=True),
        sa.Column("deployment_id", sa.String(32), nullable=True),
        sa.Column("active_deployment", sa.String(32), nullable=True),
        sa.Column("live_pool", sa.String(20), nullable=True),
        sa.Column("router", sa.Text, nullable=True),
        sa.Column("instances", sa.Text, nullable=False),
        sa.Column("updated_at", sa.String(32), nullable=False),
    )
    op.create_table(
        "rollout_actions",
        sa.Column("id", sa.String(32), primary_key=True),
        sa.Column("deployment_id", sa.String(32), nullable=False),
        sa.Column("action", sa.String(20), nullable=False),
        sa.Column("actor", sa.String(200), nullable=False),
        sa.Column("created_at", sa.String(32), nullable=False),
        sa.Column("taken_at", sa.String(32), nullable=True),
    )
    op.create_index("ix_rollout_actions_dep", "rollout_actions", ["deployment_id", "taken_at"])


def downgrade() -> None:
    op.drop_table("rollout_actions")
    op.drop_table("deploy_environments")
    op.drop_index("ix_deployments_env", table_name="deployments")
    op.drop_table("deployments")
