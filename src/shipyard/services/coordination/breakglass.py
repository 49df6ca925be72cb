"""Break-glass: a time-boxed, second-person-approved override of named gates."""

from __future__ import annotations

import json
import secrets
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any, TypedDict

from sqlalchemy import select, update

from shipyard.domain.gates import GATE_KINDS, Override
from shipyard.errors import Conflict, InputError, NotFound, Refused
from shipyard.services.coordination.coordination import environment, iso, parse_ts
from shipyard.store.release import release_overrides
from shipyard.store.uow import Store, UnitOfWork

if TYPE_CHECKING:
    from shipyard.spec.models import Spec

MAX_TTL = timedelta(hours=24)


class OverrideOut(TypedDict):
    """A break-glass request, its approval, and its follow-up review."""

    id: str
    environment: str
    gates: list[str]
    reason: str
    incident: str | None
    ttl_seconds: int
    requested_by: str
    requested_at: str
    approved_by: str | None  # None: not approved (yet)
    approved_at: str | None
    expires_at: str | None  # set when approved
    reviewed_at: str | None  # None: the review is open


class ReviewDue(TypedDict):
    """An approved break-glass whose follow-up review is still open."""

    id: str
    environment: str
    incident: str | None
    requested_by: str
    approved_by: str | None
    approved_at: str | None
    reason: str


def _as_dict(r: Any) -> OverrideOut:
    return {
        "id": r.id,
        "environment": r.environment,
        "gates": json.loads(r.gates),
        "reason": r.reason,
        "incident": r.incident,
        "ttl_seconds": r.ttl_seconds,
        "requested_by": r.requested_by,
        "requested_at": r.requested_at,
        "approved_by": r.approved_by,
        "approved_at": r.approved_at,
        "expires_at": r.expires_at,
        "reviewed_at": r.reviewed_at,
    }


def request(
    store: Store,
    spec: Spec,
    env: str | None,
    reason: str,
    gates: list[str],
    ttl: timedelta,
    requester: str,
    now: datetime,
    incident: str | None = None,
) -> OverrideOut:
    if env is None:  # an emergency is almost always about what users run: the end of the chain
        from shipyard.spec.promotion import production

        env = production(spec)
    environment(spec, env)
    if not reason.strip():
        raise InputError("break-glass needs a reason", "pass --reason", code="reason-missing")
    names = sorted({g.strip() for g in gates if g.strip()})
    unknown = [g for g in names if g not in GATE_KINDS]
    if not names or unknown:
        raise InputError(
            f"unknown gate(s) {', '.join(unknown)}" if unknown else "name the gates to override",
            "gates are " + ", ".join(GATE_KINDS),
            code="gate-unknown",
        )
    if ttl <= timedelta(0) or ttl > MAX_TTL:
        raise InputError(
            f"break-glass lasts at most {MAX_TTL}, not {ttl}",
            "pass a --ttl such as 1h; request again if the incident runs longer",
            code="ttl-invalid",
        )
    override_id = "bg-" + secrets.token_hex(4)
    with store.begin() as uow:
        uow.conn.execute(
            release_overrides.insert(),
            {
                "id": override_id,
                "project": spec.project,
                "environment": env,
                "gates": json.dumps(names),
                "reason": reason,
                "incident": incident,
                "ttl_seconds": int(ttl.total_seconds()),
                "requested_by": requester,
                "requested_at": iso(now),
            },
        )
        uow.events.append(
            "break-glass.requested",
            f"break-glass:{override_id}",
            requester,
            {
                "environment": env,
                "gates": names,
                "reason": reason,
                "incident": incident,
                "ttl_s": int(ttl.total_seconds()),
            },
            project=spec.project,
        )
        row = _get(uow, spec.project, override_id)
    _notify(store, spec)
    return _as_dict(row)


def _get(uow: UnitOfWork, project: str, override_id: str) -> Any:
    row = uow.conn.execute(
        select(release_overrides).where(
            release_overrides.c.project == project, release_overrides.c.id == override_id
        )
    ).first()
    if row is None:
        raise NotFound(
            f"no break-glass request '{override_id}'",
            "list them with `shipyard breakglass list`",
            code="break-glass-not-found",
        )
    return row


def approve(
    store: Store, spec: Spec, override_id: str, approver: str, now: datetime
) -> OverrideOut:
    """The second person's approval; the grant's time box starts now."""
    with store.begin() as uow:
        row = _get(uow, spec.project, override_id)
        if row.requested_by == approver:
            raise Refused(
                f"{approver} requested {override_id} and cannot approve it",
                "a second person must approve break-glass",
                code="self-approval",
            )
        if row.approved_by is not None:
            raise Conflict(
                f"{override_id} was already approved by {row.approved_by}",
                "request a new one if it expired",
                code="break-glass-approved",
            )
        expires = now + timedelta(seconds=row.ttl_seconds)
        payload = {
            "environment": row.environment,
            "gates": json.loads(row.gates),
            "requested_by": row.requested_by,
            "expires_at": iso(expires),
            "incident": row.incident,
        }
        set_ = {"approved_by": approver, "approved_at": iso(now), "expires_at": iso(expires)}
        row = _change(uow, spec.project, override_id, approver, "approved", payload, set_)
    _notify(store, spec)
    return _as_dict(row)


def review(store: Store, spec: Spec, override_id: str, actor: str, notes: str) -> OverrideOut:
    """Close the follow-up review every approved break-glass opens; the grant ends with it."""
    if not notes.strip():
        raise InputError("a review needs notes", "pass --notes", code="notes-missing")
    with store.begin() as uow:
        row = _get(uow, spec.project, override_id)
        if row.approved_by is None:
            raise Conflict(
                f"{override_id} was never approved, so there is nothing to review",
                "",
                code="break-glass-not-approved",
            )
        if row.reviewed_at is not None:
            raise Conflict(
                f"{override_id} was already reviewed at {row.reviewed_at}",
                "the review is closed; add to the incident's postmortem instead",
                code="break-glass-reviewed",
            )
        from shipyard.store.append import utcnow

        set_ = {"reviewed_at": utcnow()}
        row = _change(uow, spec.project, override_id, actor, "reviewed", {"notes": notes}, set_)
    return _as_dict(row)


def _change(
    uow: UnitOfWork,
    project: str,
    override_id: str,
    actor: str,
    done: str,
    payload: dict[str, Any],
    values: dict[str, Any],
) -> Any:
    """Set ``values`` on an override, record ``break-glass.<done>`` with ``payload``, and read
    the override back."""
    uow.conn.execute(
        update(release_overrides).where(release_overrides.c.id == override_id).values(**values)
    )
    uow.events.append(
        f"break-glass.{done}", f"break-glass:{override_id}", actor, payload, project=project
    )
    return _get(uow, project, override_id)


def list_overrides(store: Store, project: str) -> list[OverrideOut]:
    with store.read() as uow:
        rows = uow.conn.execute(
            select(release_overrides)
            .where(release_overrides.c.project == project)
            .order_by(release_overrides.c.requested_at)
        ).all()
    return [_as_dict(r) for r in rows]


def reviews_due(store: Store, project: str) -> list[ReviewDue]:
    """Approved grants whose follow-up review is still open: each one was an emergency path
    through the gates, so someone has to look back at it."""
    return [
        {
            "id": o["id"],
            "environment": o["environment"],
            "incident": o["incident"],
            "requested_by": o["requested_by"],
            "approved_by": o["approved_by"],
            "approved_at": o["approved_at"],
            "reason": o["reason"],
        }
        for o in list_overrides(store, project)
        if o["approved_by"] and not o["reviewed_at"]
    ]


def for_environment(uow: UnitOfWork, project: str, env: str) -> tuple[Override, ...]:
    """Every open grant for ``env``; the gate decision judges approval and expiry itself.
    A reviewed grant is closed: the emergency is over, so it overrides nothing any more."""
    rows = uow.conn.execute(
        select(release_overrides).where(
            release_overrides.c.project == project,
            release_overrides.c.environment == env,
            release_overrides.c.reviewed_at.is_(None),
        )
    ).all()
    out = []
    for r in rows:
        expires = parse_ts(r.expires_at) or parse_ts(r.requested_at)
        out.append(
            Override(
                id=r.id,
                gates=frozenset(json.loads(r.gates)),
                requested_by=r.requested_by,
                reason=r.reason,
                expires_at=expires,  # type: ignore[arg-type]
                approved_by=r.approved_by,
                incident=r.incident,
                environment=r.environment,
            )
        )
    return tuple(out)


def _notify(store: Store, spec: Spec) -> None:
    from shipyard.services.coordination import notify

    notify.dispatch(store, spec)
