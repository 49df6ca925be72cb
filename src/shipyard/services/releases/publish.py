"""Publishing released artifacts to the registries of ``release.publish`` (PyPI, npm, OCI).

`shipyard release` pushes each artifact it recorded to every target that takes it, after the
release is recorded; `shipyard artifacts push NAME@VERSION [--to TARGET]` does the same for one
artifact, and is how a failed push is retried. The bytes come from the blob store through the
registry (``artifacts.download``, checked against the recorded digest), never from ``dist/``.

Each push that succeeds is recorded as an ``artifact.pushed`` event (target, location, the
digest of the bytes and the target's own name for them) in its own transaction: a push that
fails leaves the release and the other pushes recorded. Pushing again is idempotent: a target
already holding the same bytes is success (recorded once), other bytes are
``publish-conflict``. Credentials are read from the environment variables the target names
(``token_env``, ``username_env``) when it is used, and never reach an event, a log or an
error.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any, NotRequired, TypedDict

from shipyard.errors import InputError, ShipyardError
from shipyard.ports.publish import Credentials, Package, Pushed
from shipyard.store.uow import Store

if TYPE_CHECKING:
    from shipyard.spec.models import PublishTarget, Spec

EVENT = "artifact.pushed"


class CredentialsMissing(InputError):
    code = "publish-credentials-missing"


class TargetUnknown(InputError):
    code = "publish-target-unknown"


class NotConfigured(InputError):
    code = "publish-not-configured"
    default_hint = (
        "add the registry under `release.publish` in shipyard.yaml, e.g. "
        "`- {type: pypi, url: https://upload.pypi.org/legacy/, token_env: PYPI_TOKEN}`"
    )


def targets_for(spec: Spec | None, artifact: str, to: str | None = None) -> list[PublishTarget]:
    """The ``release.publish`` entries that take ``artifact`` (all, or the one named ``to``)."""
    configured = list(spec.release.publish) if spec is not None else []
    if to is not None:
        chosen = [t for t in configured if t.label == to]
        if not chosen:
            names = ", ".join(t.label for t in configured) or "none"
            raise TargetUnknown(
                f"no publish target is called '{to}'",
                f"targets in release.publish: {names}",
                details={"target": to},
            )
        configured = chosen
    return [t for t in configured if not t.artifacts or artifact in t.artifacts]


def credentials(target: PublishTarget, environ: Mapping[str, str]) -> Credentials:
    """The target's credentials from the environment; a named variable that is unset or
    empty is refused (the message names the variable, never a value)."""

    def read(var: str | None) -> str | None:
        if var is None:
            return None
        value = environ.get(var, "")
        if not value:
            raise CredentialsMissing(
                f"publish target '{target.label}' reads its credentials from ${var}, which is "
                "not set",
                f"export {var}=... in the environment of `shipyard release` (a CI secret)",
                details={"target": target.label, "variable": var},
            )
        return value

    username = target.username if target.username is not None else read(target.username_env)
    return Credentials(username, read(target.token_env))


class PushRecord(TypedDict):
    """A push of an artifact to a target: its ``artifact.pushed`` event's payload."""

    target: str
    type: str  # pypi, npm, oci
    location: str  # where it can be fetched
    digest: str
    remote_digest: str  # the target's own name for the bytes
    already: bool  # the target held these bytes before: nothing was sent


class PushedTo(PushRecord):
    recorded: bool  # False: an earlier push recorded it


class ArtifactPushed(TypedDict):
    artifact: str  # NAME@VERSION
    digest: NotRequired[str]  # absent when no target takes the artifact
    pushed: list[PushedTo]


def push(
    store: Store,
    project: str,
    spec: Spec | None,
    ref: str,
    *,
    actor: str,
    to: str | None = None,
    environ: Mapping[str, str] | None = None,
    required: bool = True,
) -> ArtifactPushed:
    """Push ``NAME@VERSION`` to its targets. Every target is tried; when one or more fail the
    first failure is raised (``details`` lists what was pushed and what failed) after the
    successes are recorded."""
    from shipyard.adapters.publish import publisher
    from shipyard.services.releases import artifacts as reg

    name, version = reg.parse_ref(ref)
    chosen = targets_for(spec, name, to)
    if not chosen:
        if required:
            raise NotConfigured(
                f"no target in release.publish takes {name}"
                if spec is not None and spec.release.publish
                else "shipyard.yaml configures no publish target (release.publish)",
                details={"artifact": ref},
            )
        return {"artifact": ref, "pushed": []}
    environ = os.environ if environ is None else environ
    row = reg.row(store, project, ref)  # artifact-not-found before anything else
    pushed: list[PushedTo] = []
    failed: list[tuple[str, ShipyardError]] = []
    with tempfile.TemporaryDirectory(prefix="shipyard-push-") as tmp:
        got = reg.download(store, project, ref, Path(tmp))
        package = Package(
            name=name,
            version=version,
            filename=Path(got["path"]).name,
            media_type=row["media_type"],
            digest=row["digest"],
            size=int(row["size"]),
            path=Path(got["path"]),
        )
        for target in chosen:
            try:
                result = publisher(target, credentials(target, environ)).push(package)
                pushed.append(_record(store, project, ref, target, package, result, actor))
            except ShipyardError as exc:
                exc.details.setdefault("target", target.label)
                failed.append((target.label, exc))
    if failed:
        first = failed[0][1]
        others = [label for label, _ in failed[1:]]
        if others:
            first.message += f" (pushing to {', '.join(others)} failed too)"
            first.args = (first.message,)
        first.details.update(
            artifact=ref,
            pushed=pushed,
            failed=[
                {"target": label, "code": exc.code, "message": exc.message} for label, exc in failed
            ],
        )
        raise first
    return {"artifact": ref, "digest": row["digest"], "pushed": pushed}


def _record(
    store: Store,
    project: str,
    ref: str,
    target: PublishTarget,
    package: Package,
    result: Pushed,
    actor: str,
) -> PushedTo:
    """One ``artifact.pushed`` event per target and digest: a push repeated finds it there."""
    payload: PushRecord = {
        "target": target.label,
        "type": target.type,
        "location": result.location,
        "digest": package.digest,
        "remote_digest": result.remote_digest,
        "already": result.already,
    }
    subject = f"artifact:{ref}"
    with store.begin() as uow:
        _lock_artifact(uow.conn, project, package.name, package.version)
        seen = [
            e
            for e in uow.events.query(project=project, kind=EVENT, subject=subject)
            if e.payload.get("target") == target.label and e.payload.get("digest") == package.digest
        ]
        if not seen:
            uow.events.append(EVENT, subject, actor, payload, project=project)
    return {**payload, "recorded": not seen}


def _lock_artifact(conn: Any, project: str, name: str, version: str) -> None:
    """Two pushes of one artifact at once record one event: on PostgreSQL the second waits on
    the artifact's row and then sees the first's event (SQLite writes one at a time)."""
    if conn.dialect.name != "postgresql":
        return
    from sqlalchemy import select

    from shipyard.store.artifacts import artifacts

    c = artifacts.c
    q = select(c.name).where(c.project == project, c.name == name, c.version == version)
    conn.execute(q.with_for_update())
