"""The remote build cache served over HTTP (Bazel's and Gradle's protocols): an index of its
entries, for lookups, sizes and least-recently-used eviction, and its hit and miss counts by day.

The bytes themselves live in a blob store; an entry names its blob by digest.

Revision ID: 0012_build
Revises: 0002
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0012_build"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "remote_cache_entries",
        sa.Column("kind", sa.String(8), primary_key=True),  # ac, cas, gradle
        sa.Column("key", sa.String(128), primary_key=True),
        sa.Column("digest", sa.String(80), nullable=False),
        sa.Column("size", sa.BigInteger, nullable=False),
        sa.Column("created_at", sa.String(32), nullable=False),
        sa.Column("last_used", sa.String(32), nullable=False),
    )
    op.create_index("ix_remote_cache_last_used", "remote_cache_entries", ["last_used"])
    op.create_index("ix_remote_cache_digest", "remote_cache_entries", ["digest"])
    op.create_table(
        "remote_cache_counts",
        sa.Column("day", sa.String(10), primary_key=True),
        sa.Column("kind", sa.String(8), primary_key=True),
        sa.Column("hits", sa.BigInteger, nullable=False),
        sa.Column("misses", sa.BigInteger, nullable=False),
        sa.Column("writes", sa.BigInteger, nullable=False),
        sa.Column("refused", sa.BigInteger, nullable=False),
        sa.Column("bytes_read", sa.BigInteger, nullable=False),
        sa.Column("bytes_written", sa.BigInteger, nullable=False),
        sa.Column("evicted", sa.BigInteger, nullable=False),
    )


def downgrade() -> None:
    op.drop_table("remote_cache_counts")
    op.drop_index("ix_remote_cache_digest", "remote_cache_entries")
    op.drop_index("ix_remote_cache_last_used", "remote_cache_entries")
    op.drop_table("remote_cache_entries")
