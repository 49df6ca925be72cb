"""`shipyard demo`: the main job, on SQLite, with no server."""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path

import typer

from shipyard.cli.common import JSON, console, emit, interactive


def demo(
    directory: Path | None = typer.Option(
        None, "--dir", help="Where to build the sample project (kept afterwards)."
    ),
    keep: bool = typer.Option(False, "--keep", help="Keep the temporary folder afterwards."),
    json_: bool = JSON,
) -> None:
    """Build a sample project and walk it through every capability Shipyard has."""
    root = directory or Path(tempfile.mkdtemp(prefix="shipyard-demo-"))
    remove = directory is None and not keep
    try:
        _walk(root, json_, " (removed at the end; --keep keeps it)" if remove else "")
    finally:
        if remove:
            shutil.rmtree(root, ignore_errors=True)


def _walk(root: Path, json_: bool, note: str) -> None:
    from shipyard.demo import steps as d

    c = console()
    live = interactive() and not json_
    if not json_:
        c.print(f"[bold]Shipyard demo[/] in {root}{note}")
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
