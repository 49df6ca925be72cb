"""One real server per database (SQLite, and PostgreSQL when SHIPYARD_TEST_DATABASE_URL is set),
shared by the security tests: it runs in the repository of project ``bravo`` and holds tokens
of every scope, made with `shipyard token create` as an operator would."""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import create_engine, text

from tests import gitrepo
from tests.conftest import PG_URL, _pg_schema_url
from tests.e2e.helpers import as_json, running_server, shipyard


@dataclass
class World:
    url: str
    repo: Path
    env: dict[str, str]  # what a CLI process needs to reach the same database
    tokens: dict[str, dict[str, Any]] = field(default_factory=dict)

    def token(self, who: str) -> str:
        return str(self.tokens[who]["token"])

    def headers(self, who: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token(who)}"}

    def call(self, method: str, path: str, who: str | None, **kw: Any) -> httpx.Response:
        headers = {**(self.headers(who) if who else {}), **kw.pop("headers", {})}
        return httpx.request(method, self.url + path, headers=headers, timeout=60, **kw)

    def cli(self, *args: str, cwd: Path | None = None) -> Any:
        proc = shipyard(*args, cwd=cwd or self.repo, env=self.env)
        assert proc.returncode == 0, proc.stderr
        return proc


@pytest.fixture(scope="package", params=["sqlite", "postgres"])
def database_env(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[dict[str, str]]:
    """The environment that points every process at one fresh database."""
    if request.param == "sqlite":
        yield {}  # each repository's own .shipyard/state.db
        return
    if not PG_URL:
        pytest.skip("SHIPYARD_TEST_DATABASE_URL is not set")
    schema = "sec_" + secrets.token_hex(6)
    admin = create_engine(PG_URL)
    with admin.begin() as conn:
        conn.execute(text(f"CREATE SCHEMA {schema}"))
    try:
        yield {"SHIPYARD_DATABASE_URL": _pg_schema_url(PG_URL, schema)}
    finally:
        with admin.begin() as conn:
            conn.execute(text(f"DROP SCHEMA {schema} CASCADE"))
        admin.dispose()


TOKENS = {
    # name: (role, project)
    "root": ("admin", None),
    "viewer": ("viewer", None),
    "alpha_admin": ("admin", "alpha"),
    "alpha_viewer": ("viewer", "alpha"),
    "alpha_deployer": ("deployer", "alpha"),
    "bravo_admin": ("admin", "bravo"),
    "bravo_viewer": ("viewer", "bravo"),
}


@pytest.fixture(scope="package")
def world(
    database_env: dict[str, str], tmp_path_factory: pytest.TempPathFactory
) -> Iterator[World]:
    repo = gitrepo.init(tmp_path_factory.mktemp("bravo"))
    gitrepo.commit(repo, "chore: start", {"shipyard.yaml": "project: bravo\n"})
    made = World(url="", repo=repo, env=dict(database_env))
    for name, (role, project) in TOKENS.items():
        args = ["token", "create", "--role", role, "--name", name, "--json"]
        made.tokens[name] = as_json(made.cli(*args, *(["--project", project] if project else [])))
    with running_server(repo, env=database_env) as url:
        made.url = url
        yield made
