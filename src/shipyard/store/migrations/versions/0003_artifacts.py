"""Artifacts: immutable name@version records with provenance and SBOM digests; releases.

Revision ID: 0003
Revises: 0001
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "artifacts",
        sa.Column("project", sa.String(100), primary_key=True),
        sa.Column("name", sa.String(100), primary_key=True),
        sa.Column("version", sa.String(100), primary_key=True),
        sa.Column("digest", sa.String(71), nullable=False),
        sa.Column("size", sa.BigInteger, nullable=False),
        sa.Column("media_type", sa.String(100), nullable=False),
        sa.Column("filename", sa.String(300), nullable=False),
        sa.Column("commit", sa.String(64), nullable=True),
        sa.Column("run_id", sa.String(64), nullable=True),
        sa.Column("provenance_digest", sa.String(71), nullable=False),
        sa.Column("sbom_digest", sa.String(71), nullable=False),
        sa.Column("created_at", sa.String(32), nullable=False),
        sa.Column("created_by", sa.String(200), nullable=False),
    )
    op.create_index("ix_artifacts_digest", "artifacts", ["project", "digest"])
    op.create_table(
        "service_releases",
        sa.Column("project", sa.String(100), primary_key=True),
        sa.Column("service", sa.String(100), primary_key=True),
        sa.Column("version", sa.String(100), primary_key=True),
        sa.Column("previous", sa.String(100), nullable=True),
        sa.Column("bump", sa.String(10), nullable=False),
        sa.Column("tag", sa.String(200), nullable=False),
        sa.Column("commit", sa.String(64), nullable=False),
        sa.Column("created_at", sa.String(32), nullable=False),
        sa.Column("created_by", sa.String(200), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("service_releases")
    op.drop_index("ix_artifacts_digest", table_name="artifacts")
    op.drop_table("artifacts")
