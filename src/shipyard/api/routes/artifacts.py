"""Artifact routes, as `shipyard artifacts ...`: viewers read, developers publish."""

from __future__ import annotations

import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from fastapi import APIRouter, Depends, Request, Response
from starlette.concurrency import run_in_threadpool

from shipyard.api.deps import StoreDep, require
from shipyard.domain.access import Permission
from shipyard.domain.filenames import safe_basename
from shipyard.domain.inputs import media_type_problem
from shipyard.domain.provenance import BuildInfo
from shipyard.errors import InputError
from shipyard.services import projects, specs
from shipyard.services.releases import artifacts as svc
from shipyard.services.tokens import Principal
from shipyard.store.uow import Store

router = APIRouter()
Reader = Depends(require(Permission.READ))
Publisher = Depends(require(Permission.RUN))


def _project(store: Store, principal: Principal, project: str | None) -> str:
    """The project asked for, the token's own or the server's only one; a project-bound token
    sees only its own."""
    chosen = specs.choose(store, principal, project)
    principal.require(Permission.READ, chosen)
    return chosen


def read_project(
    project: str | None = None, principal: Principal = Reader, store: Store = StoreDep
) -> str:
    """``?project=`` resolved for a reader (``_project``), before a read route runs."""
    return _project(store, principal, project)


ReadProject = Depends(read_project)


@router.get("")
def list_artifacts(
    name: str | None = None, chosen: str = ReadProject, store: Store = StoreDep
) -> Mapping[str, Any]:
    return svc.list_artifacts(store, chosen, name)


@router.get("/{name}/{version}")
def show(
    name: str, version: str, chosen: str = ReadProject, store: Store = StoreDep
) -> Mapping[str, Any]:
    return svc.show(store, chosen, f"{name}@{version}")


@router.get("/{name}/{version}/verify")
def verify(
    name: str, version: str, chosen: str = ReadProject, store: Store = StoreDep
) -> Mapping[str, Any]:
    return svc.verify(store, chosen, f"{name}@{version}")


@router.get("/{name}/{version}/{part}")
async def content(
    name: str,
    version: str,
    part: str,
    project: str | None = None,
    principal: Principal = Reader,
    store: Store = StoreDep,
) -> Response:
    """The bytes (``content``), the DSSE envelope (``provenance``) or the SBOM (``sbom``)."""
    if part not in ("content", "provenance", "sbom"):
        raise InputError(
            f"unknown part '{part}'", "one of content, provenance, sbom", code="artifact-part"
        )
    from fastapi.responses import StreamingResponse

    chosen = _project(store, principal, project)
    chunks, row = await run_in_threadpool(svc.stream, store, chosen, f"{name}@{version}", part)
    media = {"provenance": "application/json", "sbom": "application/vnd.cyclonedx+json"}
    served = media.get(part, row["media_type"])
    if media_type_problem(served):  # stored before the allow-list: served as bytes
        served = "application/octet-stream"
    # A download, never a page of the API's origin (a stored script would run there).
    attachment = safe_basename(row.get("filename"), f"{name}-{version}").replace('"', "_")
    suffix = {"provenance": ".intoto.jsonl", "sbom": ".cdx.json"}.get(part, "")
    headers = {
        "X-Shipyard-Digest": row[svc.PARTS[part]],
        "Content-Disposition": f'attachment; filename="{attachment}{suffix}"',
        "X-Content-Type-Options": "nosniff",
    }
    if part == "content":
        headers["Content-Length"] = str(row["size"])
    # Streamed from the blob store chunk by chunk (iterated in a thread: the backends block).
    # Bytes that turn out corrupt end the response short, so the client's digest check fails.
    return StreamingResponse(chunks, media_type=served, headers=headers)


@router.put("/{name}/{version}")
async def publish(
    name: str,
    version: str,
    request: Request,
    response: Response,
    project: str | None = None,
    filename: str | None = None,
    media_type: str | None = None,
    commit: str | None = None,
    run_id: str | None = None,
    job: str = "manual",
    principal: Principal = Publisher,
    store: Store = StoreDep,
) -> Mapping[str, Any]:
    """Publish the request body as name@version; 201 when new, 200 when the same bytes."""
    chosen = _project(store, principal, project)
    principal.require(Permission.RUN, chosen)
    projects.admit(store, principal, chosen)
    svc.check_name_version(name, version)
    safe = safe_basename(filename, f"{name}-{version}")
    with tempfile.TemporaryDirectory(prefix="shipyard-upload-") as tmp:
        path = Path(tmp) / safe
        # Spooled to a file as it arrives, never whole in memory; the blob store reads it
        # back in chunks.
        with open(path, "wb") as fh:
            async for chunk in request.stream():
                await run_in_threadpool(fh.write, chunk)
        build = BuildInfo(pipeline=chosen, job=job, commit=commit, run_id=run_id)
        # The service blocks (hashing, signing, the database): keep it off the event loop.
        result = await run_in_threadpool(
            svc.publish,
            store,
            chosen,
            name,
            path,
            version,
            build,
            media_type=media_type,
            actor=principal.name,
        )
    response.status_code = 201 if result["published"] else 200
    return result
