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

from shipyard.store.seal import new_key_pem
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
        # A server on PostgreSQL signs with a configured key shared by the CLI on its machine.
        key = tmp_path_factory.mktemp("key") / "signing.pem"
        key.write_bytes(new_key_pem(secrets.token_bytes(32)))
        key.chmod(0o600)
        yield {
            "SHIPYARD_DATABASE_URL": _pg_schema_url(PG_URL, schema),
            "SHIPYARD_SIGNING_KEY_FILE": str(key),
        }
    finally:
        with admin.begin() as conn:
            conn.execute(text(f"DROP SCHEMA {schema} CASCADE"))
        admin.dispose()


TOKENS = {
    # name: (role, project)
    "root": ("admin", None),
    "viewer": ("viewer", None),
    "developer": ("developer", None),
    "deployer": ("deployer", None),
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
    made = World(url="", repo=repo, env={**database_env, "BRAVO_SECRET": SECRET})
    # The first admin token is made on the server's machine, the others through the API.
    made.tokens["root"] = as_json(
        made.cli("token", "create", "--role", "admin", "--name", "root", "--json")
    )
    with running_server(repo, env=made.env) as url:
        made.url = url
        made.cli("apply")  # the server serves what was applied, not the folder it runs in
        for name, (role, project) in TOKENS.items():
            if name != "root":
                body = {"role": role, "name": name, "project": project}
                made.tokens[name] = made.call("POST", "/api/v1/tokens", "root", json=body).json()
        yield made


# A credential bravo's pipeline and service read: it must never be stored or shown.
SECRET = "bravo-secret-" + secrets.token_hex(8)

BRAVO_SPEC = """\
project: bravo
config: {GREETING: bravo-greeting}
pipeline:
  jobs:
    bravojob:
      run: |
        echo "bravo-step-log, token $API_TOKEN"
        echo "token=$API_TOKEN" >> "$SHIPYARD_OUTPUT"
        printf 'block<<END\\nkey: %s\\nEND\\n' "$API_TOKEN" >> "$SHIPYARD_OUTPUT"
      secrets: {API_TOKEN: {env: BRAVO_SECRET}}
environments:
  dev:
    target:
      type: process
      command: "python app.py --port {port}"
      instances: 1
      readiness: {timeout: 10s}
      grace: 1s
    strategy: recreate
    secrets: {API_TOKEN: {env: BRAVO_SECRET}}
"""

# bravo's service: it prints its credential, as careless services do, on both streams.
BRAVO_APP = """\
import os, sys
from http.server import BaseHTTPRequestHandler, HTTPServer

token = os.environ.get("API_TOKEN", "")
print("bravo-app starting with API_TOKEN=" + token, flush=True)
print("bravo-app stderr " + token, file=sys.stderr, flush=True)


class Handler(BaseHTTPRequestHandler):
    def do_GET(self):
        self.send_response(200)
        self.end_headers()
        self.wfile.write(b"ok")
        print("served " + self.path + " for " + token, flush=True)

    def log_message(self, *args):
        pass


HTTPServer(("127.0.0.1", int(sys.argv[sys.argv.index("--port") + 1])), Handler).serve_forever()
"""


@dataclass
class Bravo:
    """What project bravo holds, made as its users would: ids to aim another project's token
    at. Every name carries "bravo", so a leak shows as that word in an answer."""

    run_id: int
    incident_id: str
    segment_id: int
    schedule_id: int
    override_id: str
    client_token: str
    client_token_id: str
    request_id: int
    event_seq: int


@pytest.fixture(scope="package")
def bravo(world: World) -> Iterator[Bravo]:
    (world.repo / "app.py").write_text(BRAVO_APP)
    (world.repo / "shipyard.yaml").write_text(BRAVO_SPEC)
    gitrepo.commit(
        world.repo, "feat: bravo service", {"shipyard.yaml": BRAVO_SPEC, "app.py": BRAVO_APP}
    )
    world.cli("apply")  # the server serves the project's spec as applied, not its own folder
    world.cli("run")
    world.cli("deploy", "dev", "--version", "1.0.0")
    try:
        q = "?project=bravo&env=dev"
        flag = {"name": "bravo-flag", "enabled": True, "strategies": [{"name": "default"}]}
        assert world.call("PUT", f"/api/v1/flags/bravo-flag{q}", "root", json=flag).is_success
        segment = world.call(
            "POST",
            f"/api/v1/flags/segments{q}",
            "root",
            json={"name": "bravo-seg", "constraints": []},
        ).json()
        schedule = world.call(
            "POST",
            f"/api/v1/flags/schedules{q}",
            "root",
            json={"flag": "bravo-flag", "action": "disable", "at": "+30d"},
        ).json()
        client = world.call(
            "POST", "/api/v1/flags/tokens?project=bravo", "root", json={"environment": "dev"}
        ).json()
        art = world.call(
            "PUT",
            "/api/v1/artifacts/bravo-art/1.0.0?project=bravo&filename=bravo.bin",
            "root",
            content=b"bravo-bytes",
        )
        assert art.is_success, art.text
        incident = world.call(
            "POST",
            "/api/v1/incidents",
            "root",
            json={
                "service": "bravo-svc",
                "unlinked": True,
                "project": "bravo",
                "title": "bravo-down",
            },
        ).json()
        freeze = {"name": "bravo-freeze", "start": "2099-01-01", "end": "2099-01-02"}
        assert world.call(
            "POST", "/api/v1/release/freezes?project=bravo", "root", json=freeze
        ).is_success
        assert world.call(
            "POST", "/api/v1/release/locks/dev?project=bravo", "root", json={"reason": "bravo-lock"}
        ).is_success
        override = world.call(
            "POST",
            "/api/v1/release/break-glass?project=bravo",
            "root",
            json={"environment": "dev", "reason": "bravo-emergency"},
        ).json()
        assert world.call(
            "PUT", "/api/v1/flags/protections?project=bravo&env=dev", "root", json={"approvals": 1}
        ).is_success
        request = world.call(
            "POST",
            "/api/v1/flags/requests?project=bravo&env=dev",
            "root",
            json={"flag": "bravo-flag", "action": "disable"},
        ).json()
        assert world.call(
            "PUT", "/api/v1/flags/protections?project=bravo&env=dev", "root", json={"approvals": 0}
        ).is_success
        runs = world.call("GET", "/api/v1/runs?project=bravo", "root").json()["runs"]
        events = world.call("GET", "/api/v1/audit/events?limit=10000", "root").json()["events"]
        yield Bravo(
            run_id=runs[0]["id"],
            incident_id=incident["id"],
            segment_id=segment["id"],
            schedule_id=schedule["schedules"][0]["id"],
            override_id=override["id"],
            client_token=client["token"],
            client_token_id=client["id"],
            request_id=request["id"],
            event_seq=next(e["seq"] for e in events if e["project"] == "bravo"),
        )
    finally:
        world.cli("env", "stop", "dev")
