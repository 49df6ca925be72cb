"""Tables. Every record belongs to a project; the event log is the spine the rest hangs on."""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Column,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Table,
    Text,
)

metadata = MetaData()

projects = Table(
    "projects",
    metadata,
    Column("name", String(100), primary_key=True),
    Column("created_at", String(32), nullable=False),
)

events = Table(
    "events",
    metadata,
    Column("seq", BigInteger, primary_key=True, autoincrement=False),
    Column("project", String(100), nullable=False),
    Column("ts", String(32), nullable=False),
    Column("kind", String(100), nullable=False),
    Column("subject", String(300), nullable=False),
    Column("actor", String(200), nullable=False),
    Column("payload", Text, nullable=False),  # canonical JSON
    Column("leaf_hash", LargeBinary(32), nullable=False),
    Column("root_hash", LargeBinary(32), nullable=False),  # tree head after this event
    Index("ix_events_kind", "project", "kind", "seq"),
    Index("ix_events_subject", "project", "subject", "seq"),
)

# One row: the tree's right edge, so an append never rereads old leaves.
log_head = Table(
    "log_head",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=False),
    Column("size", BigInteger, nullable=False),
    Column("root_hash", LargeBinary(32), nullable=False),
    Column("frontier", LargeBinary, nullable=False),  # concatenated 32-byte nodes
    Column("seal", LargeBinary(32), nullable=True),  # store/seal.py; NULL only while empty
)

checkpoints = Table(
    "checkpoints",
    metadata,
    Column("tree_size", BigInteger, primary_key=True, autoincrement=False),
    Column("root_hash", LargeBinary(32), nullable=False),
    Column("ts", String(32), nullable=False),
    Column("key_id", String(16), nullable=False),
    Column("signature", LargeBinary(64), nullable=False),
)

signing_keys = Table(
    "signing_keys",
    metadata,
    Column("key_id", String(16), primary_key=True),
    Column("public_key", LargeBinary(32), nullable=False),
    Column("created_at", String(32), nullable=False),
)

api_tokens = Table(
    "api_tokens",
    metadata,
    Column("id", String(32), primary_key=True),
    Column("name", String(200), nullable=False),
    Column("role", String(20), nullable=False),
    Column("project", String(100), nullable=True),  # None: every project
    Column("token_hash", LargeBinary(32), nullable=False, unique=True),
    Column("created_at", String(32), nullable=False),
    Column("expires_at", String(32), nullable=True),
    Column("revoked_at", String(32), nullable=True),
    Column("environments", Text, nullable=True),  # JSON list; None: every environment
)
