"""Metrics: incidents, linked to deployments by id.

Revision ID: 0007
Revises: 0001
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "incidents",
        sa.Column("id", sa.String(32), primary_key=True),
        sa.Column("project", sa.String(100), nullable=False),
        sa.Column("service", sa.String(200), nullable=False),
        sa.Column("deployment_id", sa.String(200), nullable=True),
        sa.Column("title", sa.Text, nullable=False),
        sa.Column("opened_at", sa.String(32), nullable=False),
        sa.Column("opened_by", sa.String(200), nullable=False),
        sa.Column("resolved_at", sa.String(32), nullable=True),
        sa.Column("resolved_by", sa.String(200), nullable=True),
    )
    op.create_index("ix_incidents_service", "incidents", ["project", "service", "opened_at"])
    op.create_index("ix_incidents_deployment", "incidents", ["project", "deployment_id"])


def downgrade() -> None:
    op.drop_table("incidents")
