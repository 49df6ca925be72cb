"""Analysis measurements: every interval's verdict of every metric of a rollout's analyses, with
the numbers behind it, for `shipyard rollout explain`.

Revision ID: 0013_deploy
Revises: 0005
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0013_deploy"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "analysis_measurements",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("deployment_id", sa.String(32), nullable=False),
        sa.Column("analysis", sa.String(100), nullable=False),
        sa.Column("kind", sa.String(20), nullable=False),
        sa.Column("metric", sa.String(100), nullable=False),
        sa.Column("seq", sa.Integer, nullable=False),
        sa.Column("at", sa.String(32), nullable=False),
        sa.Column("phase", sa.String(20), nullable=False),
        sa.Column("decision", sa.String(20), nullable=False),
        sa.Column("data", sa.Text, nullable=False),
    )
    op.create_index(
        "ix_analysis_measurements_dep", "analysis_measurements", ["deployment_id", "id"]
    )


def downgrade() -> None:
    op.drop_index("ix_analysis_measurements_dep", "analysis_measurements")
    op.drop_table("analysis_measurements")
