"""Pipeline runs recorded compactly: a run may name the run whose steps it shares, and the step
rows of old runs may be pruned.

``base_run``: the steps this run has no row of are ``base_run``'s successful steps, each
served from the cache under the same key (a run with nothing changed writes no step rows).
``pruned_at``: when ``shipyard cache gc --keep-runs`` deleted this run's step rows.

Revision ID: 0010_cache
Revises: 0002
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0010_cache"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("pipeline_runs", sa.Column("base_run", sa.Integer, nullable=True))
    op.add_column("pipeline_runs", sa.Column("pruned_at", sa.String(32), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("pipeline_runs") as batch:
        batch.drop_column("pruned_at")
        batch.drop_column("base_run")
