"""Shared fixtures. Every store test runs on SQLite and, when SHIPYARD_TEST_DATABASE_URL is
set (CI sets it), on PostgreSQL too, each test in a schema of its own."""

from __future__ import annotations

import os
import secrets
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text

from shipyard.settings import Settings
from shipyard.store.uow import Store

PG_URL = os.environ.get("SHIPYARD_TEST_DATABASE_URL")


def _pg_schema_url(base: str, schema: str) -> str:
    sep = "&" if "?" in base else "?"
    return f"{base}{sep}options=-csearch_path%3D{schema}"


@pytest.fixture(params=["sqlite", "postgres"])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A fresh, empty database: a SQLite file, or a PostgreSQL schema dropped afterwards."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'state.db'}"
        return
    if not PG_URL:
        pytest.skip("SHIPYARD_TEST_DATABASE_URL is not set")
    schema = "t_" + secrets.token_hex(6)
    admin = create_engine(PG_URL)
    with admin.begin() as conn:
        conn.execute(text(f"CREATE SCHEMA {schema}"))
    try:
        yield _pg_schema_url(PG_URL, schema)
    finally:
        with admin.begin() as conn:
            conn.execute(text(f"DROP SCHEMA {schema} CASCADE"))
        admin.dispose()


@pytest.fixture
def pg_url() -> Iterator[str]:
    """A fresh PostgreSQL schema, for what only PostgreSQL does (organisation mode)."""
    if not PG_URL:
        pytest.skip("SHIPYARD_TEST_DATABASE_URL is not set")
    schema = "t_" + secrets.token_hex(6)
    admin = create_engine(PG_URL)
    with admin.begin() as conn:
        conn.execute(text(f"CREATE SCHEMA {schema}"))
    try:
        yield _pg_schema_url(PG_URL, schema)
    finally:
        with admin.begin() as conn:
            conn.execute(text(f"DROP SCHEMA {schema} CASCADE"))
        admin.dispose()


@pytest.fixture
def settings(database_url: str, tmp_path: Path) -> Settings:
    return Settings(home=tmp_path / ".shipyard", database_url=database_url)


@pytest.fixture
def store(settings: Settings) -> Iterator[Store]:
    s = Store.open(settings)
    yield s
    s.dispose()


@pytest.fixture(scope="session")
def s3_endpoint() -> Iterator[str]:
    """One local S3-compatible server (moto) for the whole session."""
    from tests.s3_server import s3_server

    with s3_server() as url:
        yield url


@pytest.fixture
def s3_env(s3_endpoint: str, monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    """A fresh bucket on the local S3 server, and the environment that points boto3 at it."""
    from tests.s3_server import ENV, make_bucket

    bucket = "b-" + secrets.token_hex(6)
    make_bucket(s3_endpoint, bucket)
    env = {**ENV, "SHIPYARD_S3_ENDPOINT_URL": s3_endpoint, "SHIPYARD_BLOBS": f"s3://{bucket}/x"}
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    return env
