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
    before = sorted(db.current_heads(engine))
    after = db.upgrade(engine, s.home)
    data = {"database": db.redact(s.database_url), "from": before, "to": after}
    emit(
        data,
        json_,
        lambda: console().print(
            f"database at revision {', '.join(after)} (was {', '.join(before) or 'empty'})"
        ),
    )


@app.command()
def status(json_: bool = JSON) -> None:
    """Show the database and its schema revisions."""
    from shipyard.store import db
    from shipyard.store.heads import SCHEMA_HEADS

    s = settings()
    engine = db.create(s.database_url)
    db.check_connection(engine)
    current = sorted(db.current_heads(engine))
    heads = sorted(SCHEMA_HEADS)
    data = {
        "database": db.redact(s.database_url),
        "revisions": current,
        "heads": heads,
        "current": current == heads,
    }

    def human() -> None:
        at = ", ".join(current) or "nothing"
        console().print(f"{data['database']}: at {at} (heads {', '.join(heads)})")

    emit(data, json_, human)
