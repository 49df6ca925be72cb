"""`shipyard notify` and `shipyard status`: telling people, and the status page."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import typer

from shipyard.cli.common import FILE, JSON, console, emit, open_store
from shipyard.cli.release_common import spec

if TYPE_CHECKING:
    from shipyard.spec.models import Spec

app = typer.Typer(
    help="Notifications to webhooks and Slack.", add_completion=False, no_args_is_help=True
)


@app.callback()
def _group() -> None:
    """Notifications to webhooks and Slack."""
    # A callback keeps this a group, so the one subcommand is still named on the command line.


def _declared(file: Path | None) -> tuple[Spec | None, Path | None]:
    """shipyard.yaml and its folder when there is one: delivery from env vars needs neither."""
    from shipyard.errors import SpecNotFound
    from shipyard.spec.load import find_spec, load_spec

    try:
        path = find_spec(file=file)
    except SpecNotFound:
        return None, None
    return load_spec(path), path.resolve().parent


@app.command()
def deliver(file: Path | None = FILE, json_: bool = JSON) -> None:
    """Send events not yet delivered to shipyard.yaml's `notifications:` and SHIPYARD_NOTIFY_*."""
    from shipyard.errors import InputError
    from shipyard.services.coordination import notify

    spec, root = _declared(file)
    subs = notify.subscriptions(spec, root)
    if not subs:
        raise InputError(
            "no notification sink is configured",
            "add a `notifications:` section to shipyard.yaml, or set "
            "SHIPYARD_NOTIFY_WEBHOOK_URL, SHIPYARD_NOTIFY_SLACK_URL or SHIPYARD_NOTIFY_EMAIL_HOST",
            code="notify-not-configured",
        )
    store = open_store()
    # A sink seen for the first time starts here: it is never sent the history before it.
    log = notify.deliver_all(store, subs, new_from=notify.last_seq(store))

    def human() -> None:
        c = console()
        for line in log:
            c.print(f"{line['sink']} event {line['seq']} {line['kind']}: {line['status']}")
        c.print(f"{len(log)} deliver(ies)")

    emit({"deliveries": log}, json_, human)


@app.command("log")
def log_(
    limit: int = typer.Option(50, min=1, help="At most this many, newest first."),
    json_: bool = JSON,
) -> None:
    """The delivery log: each event sent to each sink, its status, attempts and error."""
    from shipyard.services.coordination import notify

    rows = notify.delivery_log(open_store(), limit)

    def human() -> None:
        from rich.table import Table

        table = Table("at", "sink", "event", "kind", "status", "attempts", "detail", box=None)
        for r in rows:
            table.add_row(
                r["at"][:19].replace("T", " "),
                r["sink"],
                str(r["seq"]),
                r["kind"],
                r["status"],
                str(r["attempts"]),
                r["detail"] or "-",
            )
        console().print(table)

    emit({"deliveries": rows}, json_, human)


def status(
    output: Path | None = typer.Option(None, "-o", "--output", help="Write the HTML page here."),
    file: Path | None = FILE,
    json_: bool = JSON,
) -> None:
    """What is live where, freezes, locks and the train; -o writes the HTML status page."""
    from datetime import UTC, datetime

    from shipyard.services.coordination import status_page

    s, store, now = spec(file), open_store(), datetime.now(UTC)
    if output is not None:
        output.write_text(status_page.render(store, s, now), encoding="utf-8")
        console().print(f"wrote {output}")
        return
    data = status_page.data(store, s, now)

    def human() -> None:
        c = console()
        for e in data["environments"]:
            c.print(f"{e['environment']}: {e['version'] or '-'}")
        for f in data["freezes"]:
            c.print(f"[yellow]{f['environment']}[/]: {f['message']}")
        for lk in data["locks"]:
            c.print(f"[yellow]{lk['environment']}[/] locked by {lk['held_by']}: {lk['reason']}")

    emit(data, json_, human)
