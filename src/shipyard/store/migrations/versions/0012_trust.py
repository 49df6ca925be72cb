"""The tree head carries a seal (store/seal.py), so a head recomputed by hand is detected.

The head of an existing log is sealed here with the key of the process that upgrades (the
signing key file in its state folder, or SHIPYARD_SIGNING_KEY_FILE): from then on every write
checks the seal before extending the log. Upgrading trusts the log as it stands then; run
`shipyard audit verify` against an exported checkpoint before upgrading a store you doubt.

Revision ID: 0012_trust
Revises: 0001
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0012_trust"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("log_head", sa.Column("seal", sa.LargeBinary(32), nullable=True))
    config = op.get_context().config
    key_of = config.attributes.get("seal_key") if config is not None else None
    conn = op.get_bind()
    size, root = conn.execute(sa.text("SELECT size, root_hash FROM log_head WHERE id = 1")).one()
    if size and key_of is not None:
        from shipyard.store.seal import seal

        key = key_of()
        conn.execute(
            sa.text("UPDATE log_head SET seal = :seal WHERE id = 1"),
            {"seal": seal(key, int(size), bytes(root))},
        )


def downgrade() -> None:
    with op.batch_alter_table("log_head") as batch:
        batch.drop_column("seal")
