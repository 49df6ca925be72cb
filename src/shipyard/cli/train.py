"""`shipyard train`: release trains from release.train."""

from __future__ import annotations

from pathlib import Path

import typer

from shipyard.cli.common import FILE, JSON, console, emit, open_store
from shipyard.cli.release_common import actor, remote, root, spec

app = typer.Typer(help="Release trains.", add_completion=False, no_args_is_help=True)


@app.command()
def status(
    at: str | None = typer.Option(None, "--at", help="An ISO time instead of now."),
    file: Path | None = FILE,
    json_: bool = JSON,
) -> None:
    """The current train, its phase and dates, the next ones, and what blocks it."""
    from shipyard.services import trains
    from shipyard.services.coordination import parse_at

    data = remote("GET", "/train", params={"at": at} if at else {})
    if data is None:
        data = trains.status(open_store(), spec(file), parse_at(at))

    def human() -> None:
        c = console()
        cur = data["current"]
        if cur:
            state = "cut" if cur.get("cut_done") else "not cut"
            c.print(
                f"current: {cur['name']} ({cur['phase']}, {state}) cut {cur['cut']}, "
                f"ships {cur['ship']}"
            )
        for t in data["upcoming"]:
            c.print(f"next: {t['name']} cut {t['cut']}, ships {t['ship']}")
        for b in data["blocked_by"]:
            c.print(f"[yellow]blocked:[/] {b}")

    emit(data, json_, human)


@app.command()
def cut(
    ref: str = typer.Option("HEAD", help="The commit to cut from."),
    file: Path | None = FILE,
    json_: bool = JSON,
) -> None:
    """Create the release branch release/<train> and record train.cut."""
    from datetime import UTC, datetime

    from shipyard.services import trains

    data = remote("POST", "/train/cut", json={"ref": ref})
    if data is None:
        data = trains.cut(open_store(), spec(file), root(file), actor(), datetime.now(UTC), ref)
    emit(
        data,
        json_,
        lambda: console().print(
            f"cut {data['train']}: branch {data['branch']} at {data['commit'][:12]}"
        ),
    )
