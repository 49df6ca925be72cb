"""What the release-coordination services share: times, the spec's environments, and facts
about a release read from the event log (so they do not depend on other capabilities' tables).
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from shipyard.errors import InputError, NotFound
from shipyard.store.events import Event
from shipyard.store.uow import UnitOfWork

if TYPE_CHECKING:
    from shipyard.spec.models import Environment, Spec

SYSTEM_PROJECT = "*"
TS_FORMAT = "%Y-%m-%dT%H:%M:%S.%fZ"


def iso(at: datetime) -> str:
    """The event log's timestamp format, so stored times compare as strings."""
    return at.astimezone(UTC).strftime(TS_FORMAT)


def parse_ts(value: str | None) -> datetime | None:
    return datetime.fromisoformat(value.replace("Z", "+00:00")) if value else None


def parse_at(value: str | None, now: datetime | None = None) -> datetime:
    """``--at``: an ISO date/time (UTC when it names no zone), or now."""
    if not value:
        return now or datetime.now(UTC)
    try:
        at = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError as exc:
        raise InputError(
            f"'{value}' is not a date/time",
            "write 2026-12-24T12:00Z or 2026-12-24T12:00+01:00",
            code="time-invalid",
        ) from exc
    return at if at.tzinfo is not None else at.replace(tzinfo=UTC)


def environment(spec: Spec, name: str) -> Environment:
    """The environment from shipyard.yaml, or ``environment-unknown`` with a suggestion."""
    envs = spec.environments
    if name in envs:
        return envs[name]
    # Abbreviations ("prod") are the usual slip, and too short for difflib's ratio alone.
    close = [e for e in envs if name and e.startswith(name)] or difflib.get_close_matches(
        name, list(envs), n=1
    )
    known = ", ".join(envs) or "none"
    raise NotFound(
        f"no environment '{name}' in shipyard.yaml",
        (f"did you mean '{close[0]}'? " if close else "") + f"known: {known}",
        code="environment-unknown",
    )


@dataclass(frozen=True)
class ReleaseFacts:
    """A version as the log knows it: the artifact's digest, commit, run and who made it."""

    name: str
    version: str
    digest: str
    commit: str | None
    run_id: str | None
    authors: frozenset[str]
    published: Event
    # Each person in ``authors`` and what they did, for messages ("released 1.2.0").
    roles: dict[str, str] = field(default_factory=dict)


def release_event(uow: UnitOfWork, project: str, name: str, version: str) -> Event | None:
    """The ``release.created`` of the release that published artifact ``name`` at ``version``.

    Its subject names the service (the project by default), not the artifact, so it is found by
    version; when several services released the same version, the one listing ``name`` wins.
    """
    found = [
        e
        for e in uow.events.query(project=project, kind="release.created")
        if e.payload.get("version") == version
    ]
    own = [e for e in found if name in (e.payload.get("artifacts") or ())] or [
        e for e in found if e.subject == f"release:{name}@{version}"
    ]
    chosen = own or found
    return chosen[-1] if chosen else None


def find_release(uow: UnitOfWork, project: str, version: str) -> ReleaseFacts:
    """The newest ``artifact.published`` for ``version``: republishing changes the digest.

    Its authors, for separation of duties, are whoever published it, released it, started the
    run that built it, wrote its commits (their git emails) or deployed it anywhere.
    """
    found = None
    for e in uow.events.query(project=project, kind="artifact.published", descending=True):
        if e.subject.rpartition("@")[2] == version:
            found = e
            break
    if found is None:
        raise NotFound(
            f"no artifact of version {version} was published in project {project}",
            "build and publish it first; `shipyard audit log --kind artifact.published` lists them",
            code="release-not-found",
        )
    name = found.subject.removeprefix("artifact:").rpartition("@")[0]
    run_id = found.payload.get("run_id")
    roles: dict[str, str] = {}

    def did(who: Any, what: str) -> None:
        if who and str(who) not in roles:
            roles[str(who)] = what

    released = release_event(uow, project, name, version)
    if released is not None:
        did(released.actor, f"released {version}")
    did(found.actor, f"published {name}@{version}")
    if released is not None:
        for author in released.payload.get("authors") or ():
            did(author, f"authored commits of {version}")
    if run_id:
        for e in uow.events.query(project=project, kind="run.started", subject=f"run:{run_id}"):
            did(e.actor, f"started run {run_id}, which built {version}")
    for e in uow.events.query(project=project, kind="deployment.started"):
        if e.payload.get("version") == version:
            did(e.actor, f"deployed {version} to {e.payload.get('environment')}")
    return ReleaseFacts(
        name=name,
        version=version,
        digest=str(found.payload.get("digest", "")),
        commit=found.payload.get("commit") or None,
        run_id=str(run_id) if run_id else None,
        authors=frozenset(roles),
        published=found,
        roles=roles,
    )


def latest_deployment(
    uow: UnitOfWork, project: str, env: str, version: str | None = None
) -> Event | None:
    """The newest successful ``deployment.finished`` to ``env`` (of ``version`` if given)."""
    for e in uow.events.query(project=project, kind="deployment.finished", descending=True):
        p = e.payload
        if p.get("environment") != env or p.get("status") != "succeeded":
            continue
        if version is None or p.get("version") == version:
            return e
    return None


def latest_version(uow: UnitOfWork, project: str) -> str | None:
    for e in uow.events.query(project=project, kind="artifact.published", descending=True, limit=1):
        return e.subject.rpartition("@")[2]
    return None
