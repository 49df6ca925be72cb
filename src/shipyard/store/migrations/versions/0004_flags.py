"""Feature flags: definitions per environment, segments, revisions, client tokens, metrics.

Revision ID: 0004
Revises: 0001
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "flags",
        sa.Column("project", sa.String(100), primary_key=True),
        sa.Column("environment", sa.String(100), primary_key=True),
        sa.Column("name", sa.String(200), primary_key=True),
        sa.Column("type", sa.String(20), nullable=False),
        sa.Column("definition", sa.Text, nullable=False),
        sa.Column("created_at", sa.String(32), nullable=False),
        sa.Column("updated_at", sa.String(32), nullable=False),
    )
    op.create_table(
        "flag_segments",
        sa.Column("project", sa.String(100), primary_key=True),
        sa.Column("environment", sa.String(100), primary_key=True),
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=False),
        sa.Column("definition", sa.Text, nullable=False),
        sa.Column("updated_at", sa.String(32), nullable=False),
    )
    op.create_table(
        "flag_revisions",
        sa.Column("project", sa.String(100), primary_key=True),
        sa.Column("environment", sa.String(100), primary_key=True),
        sa.Column("revision", sa.BigInteger, nullable=False),
    )
    op.create_table(
        "flag_client_tokens",
        sa.Column("id", sa.String(32), primary_key=True),
        sa.Column("project", sa.String(100), nullable=False),
        sa.Column("environment", sa.String(100), nullable=False),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("token_hash", sa.LargeBinary(32), nullable=False, unique=True),
        sa.Column("created_at", sa.String(32), nullable=False),
        sa.Column("revoked_at", sa.String(32), nullable=True),
    )
    op.create_table(
        "flag_metrics",
        sa.Column("project", sa.String(100), primary_key=True),
        sa.Column("environment", sa.String(100), primary_key=True),
        sa.Column("name", sa.String(200), primary_key=True),
        sa.Column("app_name", sa.String(200), primary_key=True),
        sa.Column("hour", sa.String(13), primary_key=True),
        sa.Column("yes", sa.BigInteger, nullable=False),
        sa.Column("no", sa.BigInteger, nullable=False),
    )
    op.create_index("ix_flag_metrics_name", "flag_metrics", ["project", "name", "hour"])
    op.create_table(
        "flag_clients",
        sa.Column("project", sa.String(100), primary_key=True),
        sa.Column("environment", sa.String(100), primary_key=True),
        sa.Column("app_name", sa.String(200), primary_key=True),
        sa.Column("instance_id", sa.String(200), primary_key=True),
        sa.Column("sdk_version", sa.String(100), nullable=True),
        sa.Column("strategies", sa.Text, nullable=False),
        sa.Column("started", sa.String(40), nullable=True),
        sa.Column("last_seen", sa.String(32), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("flag_clients")
    op.drop_index("ix_flag_metrics_name", table_name="flag_metrics")
    op.drop_table("flag_metrics")
    op.drop_table("flag_client_tokens")
    op.drop_table("flag_revisions")
    op.drop_table("flag_segments")
    op.drop_table("flags")
