"""The migration lint before a deploy: destructive SQL is refused before the migration runs,
unless the version is approved, the environment is expand/contract, or a reason is given."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from shipyard.errors import ShipyardError
from shipyard.services.compliance import approvals
from shipyard.services.deployments import deploy as svc
from shipyard.services.deployments import environments as env_svc
from shipyard.spec.load import parse_spec
from shipyard.store.uow import Store
from tests.integration.release_helpers import publish
from tests.integration.test_deploy import APP

SPEC = """
project: shop
environments:
  dev:
    target:
      type: process
      command: "python app.py --port {{port}}"
      instances: 1
      readiness: {{timeout: 5s}}
      grace: 1s
    migrate: python migrate.py
    migrate_files: "migrations/*.sql"
    expand_contract: {expand_contract}
"""

MIGRATE = """\
import pathlib
done = pathlib.Path("applied.txt")
seen = done.read_text().split() if done.exists() else []
new = [p.name for p in sorted(pathlib.Path("migrations").glob("*.sql")) if p.name not in seen]
done.write_text(" ".join(seen + new))
"""

DROP = "-- the old column is unused since 1.0.0\nALTER TABLE orders\n  DROP COLUMN note;\n"


def spec_of(expand_contract: bool = False) -> Any:
    return parse_spec(SPEC.format(expand_contract=str(expand_contract).lower()))


@pytest.fixture
def root(tmp_path: Path) -> Path:
    shutil.copy(APP, tmp_path / "app.py")
    (tmp_path / "migrate.py").write_text(MIGRATE)
    (tmp_path / "migrations").mkdir()
    (tmp_path / "migrations" / "001_orders.sql").write_text(
        "CREATE TABLE orders (id int PRIMARY KEY, note text NOT NULL);\n"
    )
    return tmp_path


@pytest.fixture
def stopped(store: Store) -> Iterator[None]:
    yield
    env_svc.stop_environment(store, spec_of(), "dev")


def applied(root: Path) -> list[str]:
    return (root / "applied.txt").read_text().split()


def allowed(store: Store) -> list[Any]:
    with store.read() as uow:
        return [e.payload for e in uow.events.query(kind="migration.destructive-allowed")]


def test_destructive_migration_is_refused_then_allowed_with_a_reason(
    store: Store, root: Path, stopped: None
) -> None:
    """DROP COLUMN refuses the deploy before the migration runs; a reason lets it through and
    is recorded; files already live are not linted again."""
    spec = spec_of()
    assert svc.deploy(store, spec, root, "dev", version="1.0.0")["status"] == "succeeded"
    (root / "migrations" / "002_drop_note.sql").write_text(DROP)
    with pytest.raises(ShipyardError) as err:
        svc.deploy(store, spec, root, "dev", version="1.1.0")
    assert err.value.code == "migration-destructive" and err.value.hint
    assert "migrations/002_drop_note.sql:2: drop-column: ALTER TABLE orders DROP COLUMN note" in (
        err.value.message
    )
    assert [s["kind"] for s in err.value.details["statements"]] == ["drop-column"]
    assert applied(root) == ["001_orders.sql"]  # the migration did not run
    assert svc.history(store, spec, "dev")["deployments"][0]["version"] == "1.0.0"

    out = svc.deploy(
        store, spec, root, "dev", version="1.1.0", allow_destructive="note moved to comments"
    )
    assert out["status"] == "succeeded"
    assert applied(root) == ["001_orders.sql", "002_drop_note.sql"]
    [event] = allowed(store)
    assert event["allowed_by"] == "allow-destructive"
    assert event["reason"] == "note moved to comments" and event["version"] == "1.1.0"
    assert event["statements"][0]["statement"] == "ALTER TABLE orders DROP COLUMN note"

    assert svc.deploy(store, spec, root, "dev", version="1.2.0")["status"] == "succeeded"
    assert len(allowed(store)) == 1  # 002 is live: not linted again


def test_expand_contract_environment_allows_destructive_migrations(
    store: Store, root: Path, stopped: None
) -> None:
    """`expand_contract: true` lets a destructive migration run, recorded as an event."""
    (root / "migrations" / "002_rename.sql").write_text("ALTER TABLE orders RENAME TO sales;")
    out = svc.deploy(store, spec_of(expand_contract=True), root, "dev", version="1.0.0")
    assert out["status"] == "succeeded"
    [event] = allowed(store)
    assert event["allowed_by"] == "expand_contract"
    assert [s["kind"] for s in event["statements"]] == ["rename-table"]


def test_approved_version_may_run_a_destructive_migration(
    store: Store, root: Path, stopped: None
) -> None:
    """An approval of the version for the environment counts; one for another version not."""
    spec = spec_of()
    (root / "migrations" / "002_drop.sql").write_text("DROP TABLE legacy_orders;")
    now = datetime.now(UTC)
    for version in ("1.0.0", "1.1.0"):
        publish(store, version, author="alice@example.com")
    approvals.approve(store, spec, "dev", "1.1.0", "carol@example.com", now, "legacy is gone")
    with pytest.raises(ShipyardError) as err:
        svc.deploy(store, spec, root, "dev", version="1.0.0")
    assert err.value.code == "migration-destructive"
    assert svc.deploy(store, spec, root, "dev", version="1.1.0")["status"] == "succeeded"
    [event] = allowed(store)
    assert event["allowed_by"] == "approval" and "carol@example.com" in event["reason"]


def test_no_migrate_files_means_no_lint(store: Store, root: Path, stopped: None) -> None:
    """Without `migrate_files` the migration runs unlinted, as before."""
    text = SPEC.format(expand_contract="false").replace(
        '    migrate_files: "migrations/*.sql"\n', ""
    )
    (root / "migrations" / "002_drop.sql").write_text("DROP TABLE orders;")
    out = svc.deploy(store, parse_spec(text), root, "dev", version="1.0.0")
    assert out["status"] == "succeeded" and allowed(store) == []


ALEMBIC_INI = "[alembic]\nscript_location = migrations\nsqlalchemy.url = sqlite:///app.db\n"
ALEMBIC_ENV = """\
from alembic import context
from sqlalchemy import engine_from_config, pool

config = context.config
section = config.get_section(config.config_ini_section)
engine = engine_from_config(section, prefix="sqlalchemy.", poolclass=pool.NullPool)
with engine.connect() as connection:
    context.configure(connection=connection)
    with context.begin_transaction():
        context.run_migrations()
"""
REVISION = """\
import sqlalchemy as sa
from alembic import op

revision = {rev!r}
down_revision = {down!r}


def upgrade():
    {upgrade}


def downgrade():
    pass
"""


def columns(root: Path) -> list[str]:
    import sqlite3

    with sqlite3.connect(root / "app.db") as conn:
        return [r[1] for r in conn.execute("PRAGMA table_info(orders)")]


def test_alembic_revision_that_drops_a_column_is_refused_before_alembic_runs(
    store: Store, root: Path, stopped: None
) -> None:
    """A real `alembic upgrade head` as the migrate step: the new revision's upgrade() is read,
    its drop_column refuses the deploy, and the database keeps the column until it is allowed."""
    versions = root / "migrations" / "versions"
    versions.mkdir()
    (root / "alembic.ini").write_text(ALEMBIC_INI)
    (root / "migrations" / "env.py").write_text(ALEMBIC_ENV)
    (versions / "0001_orders.py").write_text(
        REVISION.format(
            rev="0001",
            down=None,
            upgrade='op.create_table("orders", sa.Column("id", sa.Integer, primary_key=True), '
            'sa.Column("note", sa.Text, nullable=True))',
        )
    )
    text = SPEC.replace("python migrate.py", "python -m alembic upgrade head").replace(
        '"migrations/*.sql"', '"migrations/versions/*.py"'
    )
    spec = parse_spec(text.format(expand_contract="false"))
    assert svc.deploy(store, spec, root, "dev", version="1.0.0")["status"] == "succeeded"
    assert columns(root) == ["id", "note"]
    (versions / "0002_drop_note.py").write_text(
        REVISION.format(rev="0002", down="0001", upgrade='op.drop_column("orders", "note")')
    )
    with pytest.raises(ShipyardError) as err:
        svc.deploy(store, spec, root, "dev", version="1.1.0")
    assert err.value.code == "migration-destructive"
    assert (
        'migrations/versions/0002_drop_note.py:9: drop-column: op.drop_column("orders", "note")'
        in err.value.message
    )
    assert columns(root) == ["id", "note"]  # alembic did not run
    out = svc.deploy(store, spec, root, "dev", version="1.1.0", allow_destructive="note unused")
    assert out["status"] == "succeeded" and columns(root) == ["id"]
