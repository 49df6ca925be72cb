"""`shipyard key`: the signing key every server replica and worker shares."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import typer

from shipyard.cli.common import JSON, console, emit, open_store
from shipyard.identity import actor

if TYPE_CHECKING:
    from shipyard.services.keys import KeyMade

app = typer.Typer(
    help="The signing key shared by server replicas and workers, sealed in the database.",
    add_completion=False,
    no_args_is_help=True,
)


def _print(data: KeyMade) -> None:
    c = console()
    c.print(f"signing key {data['key_id']} is active")
    if data.get("previous"):
        c.print(f"retired {data['previous']} (it still verifies what it signed)")
    print(data["public_pem"], end="")


@app.command()
def create(
    from_file: Path | None = typer.Option(
        None, "--from-file", help="Seal this Ed25519 PEM key instead of making a new one."
    ),
    json_: bool = JSON,
) -> None:
    """Make the signing key (or take --from-file) and seal it under SHIPYARD_MASTER_KEY in the
    database; refused when one is there already."""
    from shipyard.services import keys

    data = keys.create(open_store(), actor(), from_file)
    emit(data, json_, lambda: _print(data))


@app.command()
def rotate(json_: bool = JSON) -> None:
    """Replace the signing key; the old one is retired and keeps verifying what it signed.
    Restart replicas and workers (one at a time) for them to sign with the new key."""
    from shipyard.services import keys

    data = keys.rotate(open_store(), actor())
    emit(data, json_, lambda: _print(data))


@app.command("list")
def list_(json_: bool = JSON) -> None:
    """The signing keys in the database, newest first (public halves only)."""
    from shipyard.services import keys

    rows = keys.list_keys(open_store())

    def human() -> None:
        from rich.table import Table

        t = Table("key", "state", "created", "by", "public key", box=None)
        for r in rows:
            state = "active" if r["retired_at"] is None else f"retired {r['retired_at'][:19]}"
            t.add_row(r["key_id"], state, r["created_at"][:19], r["created_by"], r["public_key"])
        console().print(t)

    emit({"keys": rows}, json_, human)
