"""`shipyard freeze` and `shipyard calendar`: deploy freeze windows and the release calendar."""

from __future__ import annotations

from pathlib import Path

import typer

from shipyard.cli.common import FILE, JSON, console, emit, open_store
from shipyard.cli.release_common import actor, remote, spec

app = typer.Typer(help="Deploy freeze windows.", add_completion=False, no_args_is_help=True)


@app.command("list")
def list_(file: Path | None = FILE, json_: bool = JSON) -> None:
    """Every window (from shipyard.yaml and added at runtime) and the next stretches."""
    from datetime import UTC, datetime

    from shipyard.services.coordination import freezes

    data = remote("GET", "/freezes")
    if data is None:
        data = freezes.list_freezes(open_store(), spec(file), datetime.now(UTC))

    def human() -> None:
        c = console()
        for f in data["freezes"]:
            scope = f" [{', '.join(f['environments'])}]" if f["environments"] else ""
            c.print(f"{f['name']} ({f['source']}){scope}: {f['describe']}")
        for o in data["next"]:
            c.print(f"  next: {o['name']} {o['start']} -> {o['end']}")

    emit(data, json_, human)


@app.command()
def add(
    name: str = typer.Argument(..., help="A name for the window."),
    start: str | None = typer.Option(None, help="First frozen day or time: 2026-12-20."),
    end: str | None = typer.Option(None, help="Last frozen day, or the time it ends."),
    start_cron: str | None = typer.Option(
        None, help="Recurring: when it starts, e.g. '0 18 * * FRI'."
    ),
    end_cron: str | None = typer.Option(None, help="Recurring: when it ends, e.g. '0 8 * * MON'."),
    timezone: str = typer.Option("UTC", help="IANA time zone the dates and crons are read in."),
    env: list[str] = typer.Option([], "--env", help="Only these environments (repeatable)."),
    reason: str = typer.Option("", help="Why deploys stop."),
    file: Path | None = FILE,
    json_: bool = JSON,
) -> None:
    """Add a freeze window at runtime (recorded as freeze.added)."""
    from shipyard.services.coordination import freezes

    definition = {
        "name": name,
        "start": start,
        "end": end,
        "start_cron": start_cron,
        "end_cron": end_cron,
        "timezone": timezone,
        "environments": env,
        "reason": reason,
    }
    data = remote("POST", "/freezes", json=definition)
    if data is None:
        data = freezes.add(open_store(), spec(file), definition, actor())
    emit(data, json_, lambda: console().print(f"freeze {name} added: {data['describe']}"))


@app.command()
def remove(
    name: str = typer.Argument(..., help="The runtime window to remove."),
    file: Path | None = FILE,
    json_: bool = JSON,
) -> None:
    """Remove a window added at runtime (recorded as freeze.removed)."""
    from shipyard.services.coordination import freezes

    data = remote("DELETE", f"/freezes/{name}")
    if data is None:
        data = freezes.remove(open_store(), spec(file), name, actor())
    emit(data, json_, lambda: console().print(f"freeze {name} removed"))


@app.command()
def status(
    env: str | None = typer.Option(None, "--env", help="The environment (default: any)."),
    at: str | None = typer.Option(None, "--at", help="An ISO time instead of now."),
    file: Path | None = FILE,
    json_: bool = JSON,
) -> None:
    """Is it frozen now (or --at), by which window, until when."""
    from shipyard.services.coordination import freezes
    from shipyard.services.coordination.coordination import parse_at

    params = {k: v for k, v in {"env": env, "at": at}.items() if v}
    data = remote("GET", "/freezes/status", params=params)
    if data is None:
        data = freezes.status(open_store(), spec(file), parse_at(at), env)
    emit(data, json_, lambda: console().print(data["message"]))


def calendar(
    ics: bool = typer.Option(True, "--ics/--no-ics", help="iCalendar output (the only format)."),
    output: Path | None = typer.Option(None, "-o", "--output", help="Write to this file."),
    weeks: int = typer.Option(26, min=1, max=260, help="How far ahead."),
    file: Path | None = FILE,
) -> None:
    """Trains and freezes as an iCalendar file any calendar app imports."""
    from datetime import UTC, datetime

    from shipyard.services.coordination import freezes

    text = freezes.ical(open_store(), spec(file), datetime.now(UTC), weeks)
    if output is not None:
        output.write_text(text, encoding="utf-8", newline="")
        console().print(f"wrote {output}")
    else:
        typer.echo(text, nl=False)
