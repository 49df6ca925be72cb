"""Hole 4: a secret a pipeline step and a deployed service both handle is found nowhere: not
in the database, not in any file under .shipyard/, not in any API answer or CLI output."""

from __future__ import annotations

import hashlib
import json
import stat
import time
from pathlib import Path

import pytest
from sqlalchemy import create_engine, inspect, text

from tests.security.conftest import SECRET, Bravo, World
from tests.security.routes import route_calls, send


def _database_rows(world: World) -> list[str]:
    """Every row of every table of the store, as text."""
    url = world.env.get("SHIPYARD_DATABASE_URL") or f"sqlite:///{world.repo}/.shipyard/state.db"
    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            tables = inspect(conn).get_table_names()
            assert "events" in tables and "pipeline_steps" in tables
            return [
                repr(tuple(row))
                for t in tables
                for row in conn.execute(text(f'SELECT * FROM "{t}"'))
            ]
    finally:
        engine.dispose()


@pytest.fixture(scope="module")
def served(world: World, bravo: Bravo) -> Path:
    """bravo's run and its live dev instance, once the instance has logged a request."""
    logs = world.repo / ".shipyard" / "deploy" / "dev" / "logs"
    deadline = time.monotonic() + 30
    while not any("served" in p.read_text() for p in logs.rglob("*.log")):
        assert time.monotonic() < deadline, "the instance never logged a request"
        time.sleep(0.2)
    return logs


def test_secret_is_in_no_file_under_shipyard(world: World, served: Path) -> None:
    """No file of the state folder (database, CAS, logs, instance logs) holds the secret."""
    files = [p for p in (world.repo / ".shipyard").rglob("*") if p.is_file()]
    assert any(p.suffix == ".log" for p in files)
    holding = [str(p) for p in files if SECRET.encode() in p.read_bytes()]
    assert holding == []
    assert "***" in "".join(p.read_text() for p in served.rglob("*.log"))


def test_secret_is_in_no_database_row(world: World, served: Path) -> None:
    """No row of any table holds the secret; the step's outputs are kept masked."""
    rows = _database_rows(world)
    assert [r for r in rows if SECRET in r] == []
    # the step's rows (not the applied spec's, which names the job and its secret's source)
    steps = [r for r in rows if "bravojob" in r and "token" in r and "project: bravo" not in r]
    assert steps and all("***" in r for r in steps)


def test_secret_is_in_no_api_answer_or_cli_output(world: World, bravo: Bravo, served: Path) -> None:
    """Every read route, asked by a global admin, and the CLI's views answer without it."""
    shown = []
    for (method, _), requests in route_calls(world, bravo).items():
        if method != "GET":
            continue
        for path, _ in requests:
            token = bravo.client_token if path.startswith("/api/client") else None
            headers = {"Authorization": token} if token else world.headers("root")
            status, body = send(world, method, path, None, headers)
            if SECRET in body:
                shown.append(f"{path}: {status}")
    run = world.call("GET", f"/api/v1/runs/{bravo.run_id}", "root").json()
    outputs = run["steps"][0]["outputs"]
    assert outputs == {"token": "***", "block": "key: ***"}
    for args in (
        ("runs", "show", str(bravo.run_id), "--json"),
        ("logs", str(bravo.run_id), "bravojob"),
        ("audit", "log", "--json"),
        ("--json", "env"),
    ):
        out = world.cli(*args)
        if SECRET in out.stdout + out.stderr:
            shown.append(" ".join(args))
    assert shown == []


def test_config_revision_is_keyed(world: World, served: Path) -> None:
    """The deployment's config revision is not the plain digest a viewer could recompute to
    test guesses of the secret."""
    events = world.call("GET", "/api/v1/audit/events?kind=deployment.started", "root").json()
    revision = events["events"][0]["payload"]["config_revision"]
    hashed = {"API_TOKEN": hashlib.sha256(SECRET.encode()).hexdigest()}
    body = json.dumps({"config": {"GREETING": "bravo-greeting"}, "secrets": hashed}, sort_keys=True)
    plain = hashlib.sha256(body.encode()).hexdigest()[:12]
    assert len(revision) == 12 and revision != plain


def test_state_is_readable_by_its_owner_only(world: World, served: Path) -> None:
    """The state folder is owner-only, and so are the instance logs inside it."""
    home = world.repo / ".shipyard"
    assert stat.S_IMODE(home.stat().st_mode) & 0o077 == 0
    for log in served.rglob("*.log"):
        assert stat.S_IMODE(log.stat().st_mode) & 0o077 == 0, log
