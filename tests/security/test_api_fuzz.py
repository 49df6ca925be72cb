"""Property-based testing of every route with schemathesis, from the server's own /openapi.json,
with an admin token, on SQLite and PostgreSQL: no input a client can send makes the server
answer 5xx or drop the connection.

A server of its own (its own repository and database): the generated requests create, lock
and delete at random, which must not reach the other security tests' shared world. The run
is bounded (a few examples per operation, derandomized so CI sees the same cases each time)
to keep the suite fast; raise SHIPYARD_FUZZ_EXAMPLES to search harder locally.
"""

from __future__ import annotations

import os
import re
import secrets
from collections.abc import Iterator

import httpx
import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from sqlalchemy import create_engine, text

from tests import gitrepo
from tests.conftest import PG_URL, _pg_schema_url
from tests.e2e.helpers import as_json, running_server, shipyard

EXAMPLES = int(os.environ.get("SHIPYARD_FUZZ_EXAMPLES", "3"))
STREAMS = r"/stream(ing)?$"


@pytest.fixture(scope="module")
def fuzz_server(
    database_env: dict[str, str], tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[str, str]]:
    """A server in a repository of its own, and a global admin token for it."""
    repo = gitrepo.init(tmp_path_factory.mktemp("fuzz"))
    gitrepo.commit(repo, "chore: start", {"shipyard.yaml": "project: fuzz\n"})
    env = dict(database_env)
    schema = "fuzz_" + secrets.token_hex(6)
    if PG_URL and "SHIPYARD_DATABASE_URL" in env:  # its own schema, not the shared world's
        admin = create_engine(PG_URL)
        with admin.begin() as conn:
            conn.execute(text(f"CREATE SCHEMA {schema}"))
        env["SHIPYARD_DATABASE_URL"] = _pg_schema_url(PG_URL, schema)
    try:
        made = shipyard("token", "create", "--role", "admin", "--json", cwd=repo, env=env)
        assert made.returncode == 0, made.stderr
        with running_server(repo, env=env) as url:
            yield url, as_json(made)["token"]
    finally:
        if PG_URL and "SHIPYARD_DATABASE_URL" in database_env:
            with admin.begin() as conn:
                conn.execute(text(f"DROP SCHEMA {schema} CASCADE"))
            admin.dispose()


@pytest.fixture(scope="module")
def api_schema(fuzz_server: tuple[str, str]) -> schemathesis.BaseSchema:
    url, token = fuzz_server
    schema = schemathesis.openapi.from_url(
        f"{url}/openapi.json", headers={"Authorization": f"Bearer {token}"}
    )
    # Valid and invalid requests alike (wrong types, out-of-range values, NUL bytes): the
    # invalid ones are what found the 500s of the issue this test guards.
    schema.config.generation.update(
        modes=[GenerationMode.POSITIVE, GenerationMode.NEGATIVE], allow_x00=True
    )
    return schema


# A stream that is accepted stays open (minutes, with pings): streams are checked by their
# status line alone, below, rather than read to their end.
schema = schemathesis.pytest.from_fixture("api_schema").exclude(path_regex=STREAMS)


@schema.parametrize()
@settings(
    max_examples=EXAMPLES,
    deadline=None,
    derandomize=True,
    suppress_health_check=list(HealthCheck),
)
def test_no_route_answers_5xx(case: schemathesis.Case, fuzz_server: tuple[str, str]) -> None:
    """Whatever the generated request, the server answers it, and never with a 5xx."""
    url, token = fuzz_server
    try:
        response = case.call(base_url=url, headers={"Authorization": f"Bearer {token}"}, timeout=60)
    except (httpx.HTTPError, OSError) as exc:  # a dropped connection is a failure too
        raise AssertionError(f"{case.method} {case.formatted_path}: {exc!r}") from exc
    case.validate_response(response, checks=[not_a_server_error])


def test_no_stream_answers_5xx(fuzz_server: tuple[str, str]) -> None:
    """Each route that streams, found in /openapi.json, answers its status line without a 5xx
    to a request with no parameters, with wrong ones (a NUL byte, text for a number) and with
    likely ones."""
    url, token = fuzz_server
    auth = {"Authorization": f"Bearer {token}"}
    paths = httpx.get(f"{url}/openapi.json", headers=auth, timeout=30).json()["paths"]
    streams = [path for path in paths if re.search(STREAMS, path) and "get" in paths[path]]
    assert "/api/v1/flags/stream" in streams and "/api/client/streaming" in streams
    queries = [{}, {"env": "\x00", "project": "fuzz"}, {"env": "production", "project": "fuzz"}]
    for path in streams:
        for filled in ("1", "x%00", "999999999999999999999"):
            concrete = re.sub(r"\{[^}]+\}", filled, path)
            for query in queries:
                with httpx.stream(
                    "GET", url + concrete, params=query, headers=auth, timeout=30
                ) as resp:
                    assert resp.status_code < 500, (concrete, query, resp.status_code)
