"""Blob tables for the database backend of the blob store (``adapters/blobs/postgres.py``).

A blob is its chunks (at most 1 MiB each, in order) and, once they are all written, its row in
``blob_objects``: the row is written last in the same transaction, so a reader that finds it
finds every chunk. ``space`` keeps the pipeline cache apart from artifacts, as the disk
backend's folders do, so `cache gc` never deletes an artifact's bytes.
"""

from __future__ import annotations

from sqlalchemy import BigInteger, Column, Integer, LargeBinary, String, Table

from shipyard.store.schema import metadata

blob_objects = Table(
    "blob_objects",
    metadata,
    Column("space", String(20), primary_key=True),
    Column("digest", String(71), primary_key=True),
    Column("size", BigInteger, nullable=False),
    Column("chunks", Integer, nullable=False),
    Column("created_at", String(32), nullable=False),
)

blob_chunks = Table(
    "blob_chunks",
    metadata,
    Column("space", String(20), primary_key=True),
    Column("digest", String(71), primary_key=True),
    Column("seq", Integer, primary_key=True, autoincrement=False),
    Column("data", LargeBinary, nullable=False),
)
