"""Signing keys kept in the database for every replica and worker: each private key sealed
under the operator's master key (``adapters/keyseal.py``), never stored in the clear.

The newest key not retired signs; retired keys stay (their public halves in ``signing_keys``
and their ``key.registered`` events) so what they signed still verifies.
"""

from __future__ import annotations

from sqlalchemy import Column, LargeBinary, String, Table

from shipyard.store.schema import metadata

server_keys = Table(
    "server_keys",
    metadata,
    Column("key_id", String(16), primary_key=True),
    Column("public_key", LargeBinary(32), nullable=False),
    Column("sealed", LargeBinary, nullable=False),  # salt, nonce, AES-GCM ciphertext
    Column("created_at", String(32), nullable=False),
    Column("created_by", String(200), nullable=False),
    Column("retired_at", String(32), nullable=True),
)
