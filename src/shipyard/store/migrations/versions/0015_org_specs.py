"""Projects' shipyard.yaml in the database, sent by `shipyard apply`, one row per revision.

Revision ID: 0015_org_specs
Revises: 0001
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0015_org_specs"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "project_specs",
        sa.Column("project", sa.String(100), primary_key=True),
        sa.Column("revision", sa.Integer, primary_key=True, autoincrement=False),
        sa.Column("digest", sa.String(71), nullable=False),
        sa.Column("yaml", sa.Text, nullable=False),
        sa.Column("file", sa.String(300), nullable=False),
        sa.Column("created_at", sa.String(32), nullable=False),
        sa.Column("created_by", sa.String(200), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("project_specs")
