"""What the release-coordination services share: times, the spec's environments, and facts
about a release read from the event log (so they do not depend on other capabilities' tables).
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from shipyard.errors import InputError, NotFound
from shipyard.store.events import Event
from shipyard.store.uow import UnitOfWork

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


def environment(spec: Any, name: str) -> Any:
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


def find_release(uow: UnitOfWork, project: str, version: str) -> ReleaseFacts:
    """The newest ``artifact.published`` for ``version``: republishing changes the digest."""
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
    authors = {found.actor}
    for kind, subject in (
        ("release.created", f"release:{name}@{version}"),
        ("run.started", f"run:{run_id}" if run_id else None),
    ):
        if subject is None:
            continue
        for e in uow.events.query(project=project, kind=kind, subject=subject):
            authors.add(e.actor)
            authors.update(str(a) for a in e.payload.get("authors", []) if a)
    return ReleaseFacts(
        name=name,
        version=version,
        digest=str(found.payload.get("digest", "")),
        commit=found.payload.get("commit") or None,
        run_id=str(run_id) if run_id else None,
        authors=frozenset(a for a in authors if a),
        published=found,
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
