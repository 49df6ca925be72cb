"""DORA projection: flag changes leave the weekly roll-up, so the projection is built again.

A ``flag.changed`` event is a change but not a deployment: the four keys no longer count it,
and ``dora_week_counts`` (which they read whole weeks from) must not hold it. The projection
is emptied here and rebuilt from the event log by the next read (``catch_up``), as
``shipyard metrics rebuild`` would; no table changes shape.

Revision ID: 0011_journey
Revises: 0009
"""

from __future__ import annotations

from alembic import op

revision = "0011_journey"
down_revision = "0009"
branch_labels = None
depends_on = None

TABLES = (
    "dora_commits",
    "dora_deployments",
    "dora_week_counts",
    "dora_week_leads",
    "dora_hotfixes",
)


def upgrade() -> None:
    for table in TABLES:
        op.execute(f"DELETE FROM {table}")
    op.execute("UPDATE dora_cursor SET seq = -1")


def downgrade() -> None:
    upgrade()  # the older code rebuilds from the log the same way
