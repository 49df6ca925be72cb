"""`shipyard db`: migrations."""

from __future__ import annotations

import typer

from shipyard.cli.common import JSON, console, emit, settings

app = typer.Typer(help="Database migrations.", add_completion=False, no_args_is_help=True)


@app.command()
def upgrade(json_: bool = JSON) -> None:
    """Apply every pending migration (also done on first use)."""
    from shipyard.store import db

    s = settings()
    engine = db.create(s.database_url)
    db.check_connection(engine)
    before = db.current_revision(engine)
    after = db.upgrade(engine, s.home)
    data = {"database": db.redact(s.database_url), "from": before, "to": after}
    emit(data, json_, lambda: console().print(f"database at revision {after} (was {before})"))


@app.command()
def status(json_: bool = JSON) -> None:
    """Show the database and its schema revision."""
    from shipyard.store import db
    from shipyard.store.schema import SCHEMA_REVISION

    s = settings()
    engine = db.create(s.database_url)
    db.check_connection(engine)
    current = db.current_revision(engine)
    data = {"database": db.redact(s.database_url), "revision": current, "head": SCHEMA_REVISION}
    emit(
        data,
        json_,
        lambda: console().print(f"{data['database']}: revision {current} (head {SCHEMA_REVISION})"),
    )
