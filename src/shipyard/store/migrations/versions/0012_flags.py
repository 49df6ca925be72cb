"""Flags, second round: client tokens that expire and frontend tokens with CORS origins; API
tokens limited to environments; change requests for protected environments; variant counts.

Revision ID: 0012_flags
Revises: 0008
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0012_flags"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("flag_client_tokens") as batch:
        batch.add_column(sa.Column("expires_at", sa.String(32), nullable=True))
        batch.add_column(sa.Column("kind", sa.String(20), nullable=False, server_default="client"))
        batch.add_column(sa.Column("origins", sa.Text, nullable=True))
    with op.batch_alter_table("api_tokens") as batch:
        batch.add_column(sa.Column("environments", sa.Text, nullable=True))
    op.create_table(
        "flag_protections",
        sa.Column("project", sa.String(100), primary_key=True),
        sa.Column("environment", sa.String(100), primary_key=True),
        sa.Column("approvals", sa.Integer, nullable=False),
        sa.Column("updated_at", sa.String(32), nullable=False),
    )
    op.create_table(
        "flag_change_requests",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("project", sa.String(100), nullable=False),
        sa.Column("environment", sa.String(100), nullable=False),
        sa.Column("flag", sa.String(200), nullable=False),
        sa.Column("change", sa.Text, nullable=False),
        sa.Column("status", sa.String(20), nullable=False),
        sa.Column("approvals_needed", sa.Integer, nullable=False),
        sa.Column("proposed_by", sa.String(200), nullable=False),
        sa.Column("created_at", sa.String(32), nullable=False),
        sa.Column("apply_at", sa.String(32), nullable=True),
        sa.Column("closed_at", sa.String(32), nullable=True),
        sa.Column("closed_by", sa.String(200), nullable=True),
        sa.Column("error", sa.Text, nullable=True),
    )
    op.create_index("ix_flag_change_requests_status", "flag_change_requests", ["project", "status"])
    op.create_table(
        "flag_change_approvals",
        sa.Column("request_id", sa.Integer, primary_key=True, autoincrement=False),
        sa.Column("actor", sa.String(200), primary_key=True),
        sa.Column("at", sa.String(32), nullable=False),
    )
    op.create_table(
        "flag_variant_counts",
        sa.Column("project", sa.String(100), primary_key=True),
        sa.Column("environment", sa.String(100), primary_key=True),
        sa.Column("name", sa.String(200), primary_key=True),
        sa.Column("variant", sa.String(200), primary_key=True),
        sa.Column("app_name", sa.String(200), primary_key=True),
        sa.Column("day", sa.String(10), primary_key=True),
        sa.Column("count", sa.BigInteger, nullable=False),
    )


def downgrade() -> None:
    op.drop_table("flag_variant_counts")
    op.drop_table("flag_change_approvals")
    op.drop_index("ix_flag_change_requests_status", table_name="flag_change_requests")
    op.drop_table("flag_change_requests")
    op.drop_table("flag_protections")
    with op.batch_alter_table("api_tokens") as batch:
        batch.drop_column("environments")
    with op.batch_alter_table("flag_client_tokens") as batch:
        batch.drop_column("origins")
        batch.drop_column("kind")
        batch.drop_column("expires_at")
