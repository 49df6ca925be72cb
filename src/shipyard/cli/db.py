"""`shipyard db`: migrations, backup and restore."""

from __future__ import annotations

from pathlib import Path

import typer

from shipyard.cli.common import JSON, console, emit, settings

app = typer.Typer(
    help="Database migrations, backup and restore.", add_completion=False, no_args_is_help=True
)


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


@app.command()
def backup(
    archive: Path = typer.Argument(..., help="The .tar.gz to write."),
    json_: bool = JSON,
) -> None:
    """A consistent snapshot of the database and its blobs, in one archive."""
    from shipyard.cli.common import open_store
    from shipyard.services import backup as svc

    data = svc.backup(open_store(), archive)
    emit(
        data,
        json_,
        lambda: console().print(
            f"backed up {sum(data['tables'].values())} rows of {len(data['tables'])} tables, "
            f"{data['blobs']} blobs and {data['tree_size']} events to {data['archive']}"
        ),
    )


@app.command()
def restore(
    archive: Path = typer.Argument(..., help="An archive from `shipyard db backup`."),
    json_: bool = JSON,
) -> None:
    """Fill an empty store from a backup, then verify its event log (exit 4 if it fails)."""
    from shipyard.cli.common import open_store
    from shipyard.errors import AuditTampered
    from shipyard.services import backup as svc

    data = svc.restore(open_store(), archive)
    report = data["verify"]
    if not report["ok"]:
        raise AuditTampered(
            f"restored, but the event log does not verify at event {report['first_bad_seq']}: "
            f"{report['problem']}",
            "restore with the signing key that sealed the log (SHIPYARD_SIGNING_KEY_FILE)",
            details=data,
        )
    emit(
        data,
        json_,
        lambda: console().print(
            f"restored {sum(data['tables'].values())} rows and {data['blobs']} blobs; "
            f"audit verify: {report['tree_size']} events, root {report['root_hash']}"
        ),
    )
