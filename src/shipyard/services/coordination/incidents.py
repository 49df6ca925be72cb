"""Incidents: opened against a deployment by its id (never guessed from times), then resolved."""

from __future__ import annotations

import secrets

from shipyard.errors import Conflict, InputError, NotFound
from shipyard.store import metrics as repo
from shipyard.store.append import utcnow
from shipyard.store.metrics import IncidentRow
from shipyard.store.uow import Store

DEPLOYMENTS_HINT = "list deployments with `shipyard audit log --kind 'deployment.*'`"


def open_incident(
    store: Store,
    service: str,
    deployment_id: str | None,
    *,
    title: str = "",
    unlinked: bool = False,
    project: str | None = None,
    actor: str = "cli",
) -> IncidentRow:
    """Record an incident and its ``incident.opened`` event in one transaction."""
    if not service.strip():
        raise InputError(
            "--service is empty",
            "name the service the incident hit",
            code="incident-service-missing",
        )
    if deployment_id and unlinked:
        raise InputError(
            "an incident cannot both link a deployment and be unlinked",
            "pass either --deployment ID or --unlinked",
            code="incident-link-conflict",
        )
    if not deployment_id and not unlinked:
        raise InputError(
            "an incident needs the deployment that caused it",
            f"pass --deployment ID ({DEPLOYMENTS_HINT}), or --unlinked when no deployment did;"
            " an unlinked incident counts for time to restore, not change failure rate",
            code="incident-deployment-missing",
        )
    incident_id = "inc-" + secrets.token_hex(4)
    with store.begin() as uow:
        if deployment_id:
            found = repo.find_deployment(uow.conn, deployment_id)
            if found is None:
                raise NotFound(
                    f"no deployment '{deployment_id}' in the event log",
                    DEPLOYMENTS_HINT,
                    code="deployment-not-found",
                )
            if project is not None and found["project"] != project:
                raise NotFound(
                    f"deployment '{deployment_id}' belongs to another project",
                    DEPLOYMENTS_HINT,
                    code="deployment-not-found",
                )
            project = found["project"]
            deployed = found["payload"].get("service")
            if deployed is not None and deployed != service:
                raise InputError(
                    f"deployment '{deployment_id}' deployed service '{deployed}', not '{service}'",
                    f"pass --service {deployed}, or the id of a deployment of {service}",
                    code="incident-service-mismatch",
                )
        if project is None:
            raise InputError(
                "no project for an unlinked incident",
                "run inside a repository with shipyard.yaml, or pass the project",
                code="incident-project-missing",
            )
        now = utcnow()
        row: IncidentRow = {
            "id": incident_id,
            "project": project,
            "service": service,
            "deployment_id": deployment_id or None,
            "title": title,
            "opened_at": now,
            "opened_by": actor,
            "resolved_at": None,
            "resolved_by": None,
        }
        repo.insert_incident(uow.conn, row)
        uow.events.append(
            "incident.opened",
            f"incident:{incident_id}",
            actor,
            {"service": service, "deployment_id": deployment_id or None, "title": title},
            project=project,
            ts=now,
        )
    return row


def resolve_incident(
    store: Store, incident_id: str, *, project: str | None = None, actor: str = "cli"
) -> IncidentRow:
    """Mark an incident resolved, with its ``incident.resolved`` event."""
    with store.begin() as uow:
        row = repo.get_incident(uow.conn, incident_id)
        if row is None or (project is not None and row["project"] != project):
            raise NotFound(
                f"no incident '{incident_id}'",
                "list incidents with `shipyard incident list`",
                code="incident-not-found",
            )
        if row["resolved_at"] is not None:
            raise Conflict(
                f"incident '{incident_id}' was resolved at {row['resolved_at']}",
                "open a new incident if the problem is back",
                code="incident-already-resolved",
            )
        now = utcnow()
        repo.resolve_incident(uow.conn, incident_id, now, actor)
        uow.events.append(
            "incident.resolved",
            f"incident:{incident_id}",
            actor,
            {"service": row["service"], "deployment_id": row["deployment_id"]},
            project=row["project"],
            ts=now,
        )
    return {**row, "resolved_at": now, "resolved_by": actor}


def list_incidents(store: Store, project: str | None = None) -> list[IncidentRow]:
    with store.read() as uow:
        return repo.list_incidents(uow.conn, project)
