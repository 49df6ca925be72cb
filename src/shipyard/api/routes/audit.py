"""Audit log routes: the same answers as `shipyard audit ...`."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query
from pydantic import BaseModel, Field, StringConstraints

from shipyard.api.deps import StoreDep, read_scope, require
from shipyard.domain.access import Permission
from shipyard.domain.signednote import MAX_NOTE_BYTES
from shipyard.errors import NotFound
from shipyard.services.compliance import audit
from shipyard.services.tokens import Principal
from shipyard.store.uow import Store

router = APIRouter()
Reader = Depends(require(Permission.READ))
Admin = Depends(require(Permission.ADMIN))


@router.get("/events")
def events(
    kind: str | None = None,
    subject: str | None = None,
    since: str | None = None,
    limit: int = Query(100, ge=1, le=10_000),
    project: str | None = None,
    who: Principal = Reader,
    store: Store = StoreDep,
) -> Mapping[str, Any]:
    """The log, or one project's part of it; a token tied to a project sees only its own."""
    chosen = read_scope(who, project)
    return audit.log(store, kind=kind, subject=subject, since=since, limit=limit, project=chosen)


@router.get("/verify")
def verify(_: Principal = Reader, store: Store = StoreDep) -> Mapping[str, Any]:
    return audit.verify(store).to_dict()


class CheckpointsSeen(BaseModel):
    checkpoints: list[Annotated[str, StringConstraints(max_length=MAX_NOTE_BYTES)]] = Field(
        default_factory=list, max_length=16
    )


@router.post("/verify")
def verify_against(
    body: CheckpointsSeen, _: Principal = Reader, store: Store = StoreDep
) -> Mapping[str, Any]:
    """As GET, and the log must extend each signed checkpoint given (C2SP signed notes)."""
    notes = [audit.Note(f"checkpoint {i + 1}", n.encode()) for i, n in enumerate(body.checkpoints)]
    return audit.verify(store, notes).to_dict()


@router.get("/proof/inclusion/{seq}")
def inclusion(
    seq: int, tree_size: int | None = None, who: Principal = Reader, store: Store = StoreDep
) -> Mapping[str, Any]:
    if who.project is not None and not audit.in_project(store, seq, who.project):
        raise NotFound(
            f"no event {seq} in project '{who.project}'",
            "list this project's events with `shipyard audit log`",
            code="event-not-found",
        )
    return audit.prove_inclusion(store, seq, tree_size)


@router.get("/proof/consistency/{first}")
@router.get("/proof/consistency/{first}/{second}")
def consistency(
    first: int, second: int | None = None, _: Principal = Reader, store: Store = StoreDep
) -> Mapping[str, Any]:
    return audit.prove_consistency(store, first, second)


@router.post("/checkpoints")
def checkpoint(who: Principal = Admin, store: Store = StoreDep) -> Mapping[str, Any]:
    who.require_global(Permission.ADMIN)  # a checkpoint signs every project's events
    from shipyard.identity import of_principal

    return audit.checkpoint(store, of_principal(who))


@router.get("/checkpoints/latest")
def latest_checkpoint(_: Principal = Reader, store: Store = StoreDep) -> Mapping[str, Any]:
    """The newest signed checkpoint (``note``: the C2SP signed note), or 404."""
    found = audit.latest_checkpoint(store)
    if found is None:
        raise NotFound(
            "no checkpoint was signed yet",
            "an admin signs one with `shipyard audit checkpoint`",
            code="checkpoint-not-found",
        )
    return found


@router.get("/public-key")
def public_key(_: Principal = Reader, store: Store = StoreDep) -> dict[str, Any]:
    return audit.public_key(store)
