"""`shipyard demo`: the main job, on SQLite, with no server."""

from __future__ import annotations

import tempfile
from pathlib import Path

import typer

from shipyard.cli.common import JSON, console, emit, interactive


def demo(
    directory: Path | None = typer.Option(None, "--dir", help="Where to build the sample project."),
    json_: bool = JSON,
) -> None:
    """Build a sample project and walk it through every capability Shipyard has."""
    from shipyard.services import demo as d

    root = directory or Path(tempfile.mkdtemp(prefix="shipyard-demo-"))
    c = console()
    live = interactive() and not json_
    if not json_:
        c.print(f"[bold]Shipyard demo[/] in {root}")
    ctx = d.prepare(root)
    report: dict[str, list[str]] = {}
    for i, (title, step) in enumerate(d.STEPS, start=1):
        if live:
            with c.status(f"{i}/{len(d.STEPS)} {title}…"):
                lines = step(ctx)
        else:
            lines = step(ctx)
        report[title] = lines
        if not json_:
            c.print(f"[bold cyan]{i}/{len(d.STEPS)} {title}[/]")
            for line in lines:
                c.print(f"  {line}")
    emit({"dir": str(root), "steps": report}, json_, lambda: c.print("[green]demo complete[/]"))
