"""Release coordination tables: freezes added at runtime, approvals, deploy locks, break-glass
grants, cut trains, the offline OSV snapshot and the notification delivery log.

History lives in the event log; these tables hold only current state that decisions read.
"""

from __future__ import annotations

from sqlalchemy import Column, Index, Integer, String, Table, Text

from shipyard.store.schema import metadata

release_freezes = Table(
    "release_freezes",
    metadata,
    Column("project", String(100), primary_key=True),
    Column("name", String(100), primary_key=True),
    Column("definition", Text, nullable=False),  # JSON, the shape of a release.freezes entry
    Column("created_by", String(200), nullable=False),
    Column("created_at", String(32), nullable=False),
)

release_approvals = Table(
    "release_approvals",
    metadata,
    Column("id", String(32), primary_key=True),
    Column("project", String(100), nullable=False),
    Column("environment", String(100), nullable=False),
    Column("version", String(100), nullable=False),
    Column("release_digest", String(100), nullable=False),  # what the approver saw
    Column("revision", String(64), nullable=True),
    Column("approver", String(200), nullable=False),
    Column("comment", Text, nullable=False),
    Column("created_at", String(32), nullable=False),
    Index("ix_release_approvals_env", "project", "environment", "version"),
)

release_locks = Table(
    "release_locks",
    metadata,
    Column("project", String(100), primary_key=True),
    Column("environment", String(100), primary_key=True),
    Column("held_by", String(200), nullable=False),
    Column("reason", Text, nullable=False),
    Column("created_at", String(32), nullable=False),
    Column("expires_at", String(32), nullable=True),
)

release_overrides = Table(
    "release_overrides",
    metadata,
    Column("id", String(32), primary_key=True),
    Column("project", String(100), nullable=False),
    Column("environment", String(100), nullable=False),
    Column("gates", Text, nullable=False),  # JSON list of gate names
    Column("reason", Text, nullable=False),
    Column("incident", String(200), nullable=True),
    Column("ttl_seconds", Integer, nullable=False),
    Column("requested_by", String(200), nullable=False),
    Column("requested_at", String(32), nullable=False),
    Column("approved_by", String(200), nullable=True),
    Column("approved_at", String(32), nullable=True),
    Column("expires_at", String(32), nullable=True),  # set on approval: the clock starts then
    Column("reviewed_at", String(32), nullable=True),  # the follow-up review is done
    Index("ix_release_overrides_env", "project", "environment"),
)

release_trains = Table(
    "release_trains",
    metadata,
    Column("project", String(100), primary_key=True),
    Column("name", String(100), primary_key=True),
    Column("branch", String(200), nullable=False),
    Column("commit", String(64), nullable=False),
    Column("cut_by", String(200), nullable=False),
    Column("cut_at", String(32), nullable=False),
)

# Advisories are public facts shared by every project on a server, so they carry none.
osv_records = Table(
    "osv_records",
    metadata,
    Column("id", String(100), primary_key=True),
    Column("modified", String(40), nullable=False),
    Column("body", Text, nullable=False),  # the record's JSON as imported
)

notify_deliveries = Table(
    "notify_deliveries",
    metadata,
    Column("sink", String(100), primary_key=True),
    Column("seq", Integer, primary_key=True, autoincrement=False),
    Column("kind", String(100), nullable=False),
    Column("status", String(20), nullable=False),  # delivered | failed
    Column("attempts", Integer, nullable=False),
    Column("detail", Text, nullable=False),
    Column("at", String(32), nullable=False),
)
