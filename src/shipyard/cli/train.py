"""`shipyard train`: release trains from release.train."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import typer

from shipyard.cli.common import FILE, JSON, console, emit, open_store
from shipyard.cli.release_common import actor, remote, root, spec

if TYPE_CHECKING:
    from shipyard.services.coordination.trains import PickRule

app = typer.Typer(help="Release trains.", add_completion=False, no_args_is_help=True)


@app.command()
def status(
    at: str | None = typer.Option(None, "--at", help="An ISO time instead of now."),
    file: Path | None = FILE,
    json_: bool = JSON,
) -> None:
    """The current train, its phase and dates, the next ones, and what blocks it."""
    from shipyard.services.coordination import trains
    from shipyard.services.coordination.coordination import parse_at

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

    from shipyard.services.coordination import trains

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


@app.command()
def ship(
    version: str | None = typer.Option(
        None, "--version", help="Ship this version instead of the train's release candidate."
    ),
    train: str | None = typer.Option(None, "--train", help="A cut train (default: the newest)."),
    file: Path | None = FILE,
    json_: bool = JSON,
) -> None:
    """Promote the train's release candidate through the environments, in promotion order.

    Stops at the first refusal with its reasons; run it again once they are dealt with.
    """
    from datetime import UTC, datetime

    from shipyard.services.coordination import trains

    def line(text: str, _data: dict[str, object]) -> None:
        if not json_:
            console().print(f"  {text}")

    data = trains.ship(
        open_store(),
        spec(file),
        root(file),
        actor(),
        datetime.now(UTC),
        train_name=train,
        version=version,
        on_line=line,
    )

    def human() -> None:
        c = console()
        for s in data["environments"]:
            c.print(f"{s['environment']}: {s['status']}")
        if data["shipped"]:
            c.print(f"[green]{data['message']}[/]")
        else:
            c.print(f"[red]stopped at {data['stopped_at']}[/] ({data['code']})")
            for r in data["reasons"]:
                c.print(f"  {r}")
            if data.get("hint"):
                c.print(f"hint: {data['hint']}")

    emit(data, json_, human)
    if not data["shipped"]:
        raise typer.Exit(5 if data["code"] != "rollout-failed" else 1)


def _print_rule(data: PickRule) -> None:
    c = console()
    approved = ", ".join(data["approved_by"]) or "none"
    c.print(
        f"{str(data['sha'])[:12]} ({data['kind']}) onto {data['branch']}: {data['reason']}; "
        f"approvals {approved} of {data['approvals_needed']} needed"
    )


@app.command("approve-pick")
def approve_pick(
    sha: str = typer.Argument(..., help="The commit to approve for picking onto the train."),
    comment: str = typer.Option("", "--comment", help="Why."),
    train: str | None = typer.Option(None, "--train", help="A cut train (default: the newest)."),
    file: Path | None = FILE,
    json_: bool = JSON,
) -> None:
    """Approve cherry-picking SHA onto the train branch (not by the commit's author)."""
    from datetime import UTC, datetime

    from shipyard.services.coordination import trains

    data = trains.approve_pick(
        open_store(),
        spec(file),
        root(file),
        sha,
        actor(),
        datetime.now(UTC),
        train_name=train,
        comment=comment,
    )
    emit(data, json_, lambda: _print_rule(data))


@app.command()
def pick(
    sha: str = typer.Argument(..., help="The commit to cherry-pick onto the train branch."),
    train: str | None = typer.Option(None, "--train", help="A cut train (default: the newest)."),
    file: Path | None = FILE,
    json_: bool = JSON,
) -> None:
    """Cherry-pick SHA onto the cut train's branch, if the rule and its approvals allow.

    After the cut only fixes go in, with one approval; two in the last 48 hours before ship;
    only security fixes and reverts in the last 24 hours.
    """
    from datetime import UTC, datetime

    from shipyard.services.coordination import trains

    data = trains.pick(
        open_store(), spec(file), root(file), sha, actor(), datetime.now(UTC), train_name=train
    )

    def human() -> None:
        _print_rule(data)
        console().print(f"picked as {str(data['commit'])[:12]}")

    emit(data, json_, human)
