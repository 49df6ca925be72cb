"""`shipyard incident`: incidents, linked to the deployment that caused them by its id."""

from __future__ import annotations

from typing import Any

import typer

from shipyard.cli.common import JSON, console, emit, open_store, settings
from shipyard.identity import actor

app = typer.Typer(
    help="Open and resolve incidents; they feed change failure rate and time to restore.",
    add_completion=False,
    no_args_is_help=True,
)


def _remote(method: str, path: str, **kw: Any) -> Any | None:
    s = settings()
    if not s.server_url:
        return None
    from shipyard.cli.client import call

    return call(s.server_url, s.token, method, path, **kw)


def _project() -> str | None:
    """The project of shipyard.yaml here, for an incident no deployment names."""
    from shipyard.errors import ShipyardError
    from shipyard.spec.load import find_spec, load_spec

    try:
        return str(load_spec(find_spec()).project)
    except ShipyardError:
        return None


@app.command("open")
def open_(
    service: str = typer.Option(..., help="The service the incident hit."),
    deployment: str | None = typer.Option(None, help="Id of the deployment that caused it."),
    title: str = typer.Option("", help="What users saw."),
    unlinked: bool = typer.Option(False, help="No deployment caused it (e.g. an outage)."),
    json_: bool = JSON,
) -> None:
    """Open an incident against a deployment (by id, never guessed from times)."""
    from shipyard.services.coordination import incidents

    body = {"service": service, "deployment_id": deployment, "title": title, "unlinked": unlinked}
    data = _remote("POST", "/api/v1/incidents", json=body)
    if data is None:
        data = incidents.open_incident(
            open_store(),
            service,
            deployment,
            title=title,
            unlinked=unlinked,
            project=None if deployment else _project(),
            actor=actor(),
        )
    link = f"deployment {data['deployment_id']}" if data["deployment_id"] else "no deployment"
    emit(
        data,
        json_,
        lambda: console().print(f"incident {data['id']} opened on {data['service']} ({link})"),
    )


@app.command()
def resolve(
    incident_id: str = typer.Argument(..., help="The incident's id."), json_: bool = JSON
) -> None:
    """Resolve an incident: production is healthy again."""
    from shipyard.services.coordination import incidents

    data = _remote("POST", f"/api/v1/incidents/{incident_id}/resolve")
    if data is None:
        data = incidents.resolve_incident(open_store(), incident_id, actor=actor())
    emit(
        data,
        json_,
        lambda: console().print(f"incident {incident_id} resolved at {data['resolved_at']}"),
    )


@app.command("list")
def list_(json_: bool = JSON) -> None:
    """List incidents, oldest first."""
    from shipyard.services.coordination import incidents

    data = _remote("GET", "/api/v1/incidents")
    if data is None:
        data = {"incidents": incidents.list_incidents(open_store())}

    def human() -> None:
        from rich.table import Table

        t = Table("id", "service", "deployment", "opened", "resolved", "title", box=None)
        for r in data["incidents"]:
            t.add_row(
                r["id"],
                r["service"],
                r["deployment_id"] or "-",
                r["opened_at"][:19],
                (r["resolved_at"] or "open")[:19],
                r["title"],
            )
        console().print(t)

    emit(data, json_, human)
