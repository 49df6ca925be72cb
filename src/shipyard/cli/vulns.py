"""`shipyard vuln`: the offline OSV advisory snapshot the vulnerabilities gate scans against.

``vuln update --from FILE`` is the primary form; ``vulns import FILE`` is kept for scripts.
"""

from __future__ import annotations

from pathlib import Path

import typer

from shipyard.cli.common import JSON, console, emit, open_store
from shipyard.cli.release_common import actor

app = typer.Typer(
    help="Offline vulnerability data (OSV).", add_completion=False, no_args_is_help=True
)


@app.callback()
def _group() -> None:
    """Offline vulnerability data (OSV)."""
    # A callback keeps this a group, so the subcommand is always named on the command line.


def _import(source: Path, json_: bool) -> None:
    from shipyard.services.compliance import vulns

    data = vulns.import_records(open_store(), source, actor())

    def human() -> None:
        c = console()
        c.print(f"imported {data['imported']} record(s); snapshot {data['snapshot_id']}")
        for s in data["skipped"]:
            c.print(f"[yellow]skipped[/] {s['id']}: {s['reason']}")

    emit(data, json_, human)


@app.command()
def update(
    source: Path = typer.Option(
        ..., "--from", help="An OSV JSON file, a folder of them, or all.zip."
    ),
    json_: bool = JSON,
) -> None:
    """Add or update OSV records by id; malformed ones are skipped and listed."""
    _import(source, json_)


@app.command("import", hidden=True)
def import_(
    source: Path = typer.Argument(..., help="An OSV JSON file, a folder of them, or all.zip."),
    json_: bool = JSON,
) -> None:
    """Same as `update --from SOURCE`."""
    _import(source, json_)
