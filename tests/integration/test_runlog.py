"""Runs recorded through the database driver (store/runlog.py), read back through the store."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from shipyard.errors import DatabaseUnreachable
from shipyard.settings import Settings
from shipyard.store import db
from shipyard.store.heads import SCHEMA_HEADS
from shipyard.store.runlog import RunLog
from shipyard.store.uow import Store
from tests.e2e.helpers import as_json, shipyard

SPEC = """\
project: quick
pipeline:
  jobs:
    hello:
      run: echo hi > out.txt
      outputs: [out.txt]
"""

PROBE = """
import sys
from shipyard.cli.entry import main
try:
    main(["run", "--json"])
finally:
    sys.stderr.write("sqlalchemy loaded\\n" if "sqlalchemy" in sys.modules else "no sqlalchemy\\n")
"""


def test_shipyard_run_records_without_loading_sqlalchemy(tmp_path: Path) -> None:
    """A first run creates the store and records itself through the driver; the store's
    SQLAlchemy readers then see the run, its step and its events."""
    (tmp_path / "shipyard.yaml").write_text(SPEC)
    proc = subprocess.run(
        [sys.executable, "-c", PROBE], cwd=tmp_path, capture_output=True, text=True, check=True
    )
    assert proc.stderr.strip().splitlines()[-1] == "no sqlalchemy"
    summary = json.loads(proc.stdout)
    assert summary["status"] == "success" and summary["counts"]["executed"] == 1
    shown = as_json(shipyard("runs", "show", str(summary["run_id"]), "--json", cwd=tmp_path))
    assert [s["node"] for s in shown["steps"]] == ["hello"]
    subject = f"run:{summary['run_id']}"
    events = as_json(shipyard("audit", "log", "--subject", subject, "--json", cwd=tmp_path))
    kinds = [e["kind"] for e in events["events"]]
    assert kinds == ["run.started", "step.finished", "run.finished"]
    assert as_json(shipyard("audit", "verify", "--json", cwd=tmp_path))["ok"] is True


def test_a_store_that_needs_migrating_is_migrated_first(settings: Settings) -> None:
    """`run` checks the schema through the driver; a database behind the heads goes to the
    store's migrations before anything is recorded."""
    engine = db.create(settings.database_url)
    db.upgrade(engine, settings.home, revision="0001")
    assert db.current_heads(engine) == {"0001"}
    store = Store.open_for_runs(settings)
    assert db.current_heads(store.engine) == SCHEMA_HEADS
    store.dispose()
    engine.dispose()


def test_cache_entries_are_replaced_by_key(database_url: str, settings: Settings) -> None:
    Store.open_for_runs(settings)
    log = RunLog(database_url)
    try:
        for n in (1, 2):
            entry = {"key": "k", "node": "n", "files": {"a": f"sha256:{n}"}, "outputs": {}}
            entry |= {"log_digest": None, "duration": float(n), "size": n}
            with log.begin() as tx:
                tx.cache_put([entry], "p", f"2026-01-0{n}T00:00:00Z")
        with log.read() as tx:
            assert tx.cache_get("k") == {
                "key": "k",
                "files": {"a": "sha256:2"},
                "outputs": {},
                "log_digest": None,
                "duration": 2.0,
            }
            assert tx.cache_get("other") is None
    finally:
        log.close()


def test_an_unreachable_database_is_reported_without_its_password() -> None:
    with pytest.raises(DatabaseUnreachable) as exc:
        RunLog("postgresql+psycopg://builder:hunter22@127.0.0.1:1/nowhere")
    assert "hunter22" not in exc.value.message and "builder:***@" in exc.value.message
