"""Deploy locks: one holder per environment, with a reason and an optional time limit."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any, TypedDict

from sqlalchemy import delete, select

from shipyard.errors import Conflict, NotFound, Refused
from shipyard.services.coordination.coordination import environment, iso, parse_ts
from shipyard.store.release import release_locks
from shipyard.store.uow import Store, UnitOfWork

if TYPE_CHECKING:
    from sqlalchemy.sql.elements import ColumnElement

    from shipyard.spec.models import Spec


def _of(project: str, env: str) -> tuple[ColumnElement[bool], ...]:
    """Where an environment's lock row is."""
    c = release_locks.c
    return (c.project == project, c.environment == env)


def _drop(uow: UnitOfWork, project: str, env: str) -> None:
    uow.conn.execute(delete(release_locks).where(*_of(project, env)))


def _row(uow: UnitOfWork, project: str, env: str, now: datetime) -> Any | None:
    row = uow.conn.execute(select(release_locks).where(*_of(project, env))).first()
    if row is None:
        return None
    expires = parse_ts(row.expires_at)
    # An expired lock no longer blocks anyone; it is replaced on the next lock.
    return None if expires is not None and expires <= now else row


class LockState(TypedDict):
    """Who holds an environment's deploy lock, why, since when and until when."""

    environment: str
    held_by: str
    reason: str
    since: str
    expires_at: str | None  # None: until unlocked


class LockTaken(TypedDict):
    """`shipyard lock`: the lock as taken (``created_at`` and ``since`` are the same time)."""

    environment: str
    held_by: str
    reason: str
    created_at: str
    expires_at: str | None
    since: str


class Unlocked(TypedDict):
    environment: str
    unlocked: bool


def _as_dict(row: Any) -> LockState:
    return {
        "environment": row.environment,
        "held_by": row.held_by,
        "reason": row.reason,
        "since": row.created_at,
        "expires_at": row.expires_at,
    }


def current(store: Store, project: str, env: str, now: datetime) -> LockState | None:
    with store.read() as uow:
        row = _row(uow, project, env, now)
    return _as_dict(row) if row is not None else None


def list_locks(store: Store, project: str, now: datetime) -> list[LockState]:
    with store.read() as uow:
        envs = (
            uow.conn.execute(
                select(release_locks.c.environment).where(release_locks.c.project == project)
            )
            .scalars()
            .all()
        )
        rows = [r for e in envs if (r := _row(uow, project, e, now)) is not None]
    return [_as_dict(r) for r in rows]


def lock(
    store: Store,
    spec: Spec,
    env: str,
    holder: str,
    reason: str,
    now: datetime,
    ttl: timedelta | None = None,
) -> LockTaken:
    environment(spec, env)
    if not reason.strip():
        from shipyard.errors import InputError

        raise InputError("a lock needs a reason", "pass --reason", code="lock-reason-missing")
    with store.begin() as uow:
        row = _row(uow, spec.project, env, now)
        if row is not None and row.held_by != holder:
            raise Conflict(
                f"{env} is locked by {row.held_by}: {row.reason}",
                "ask them to unlock it, or wait for the lock to expire",
                code="lock-held",
            )
        _drop(uow, spec.project, env)
        created_at = iso(now)
        expires_at = iso(now + ttl) if ttl else None
        values = {
            "project": spec.project,
            "environment": env,
            "held_by": holder,
            "reason": reason,
            "created_at": created_at,
            "expires_at": expires_at,
        }
        uow.conn.execute(release_locks.insert(), values)
        uow.events.append(
            "lock.acquired",
            f"lock:{env}",
            holder,
            {"environment": env, "reason": reason, "expires_at": expires_at},
            project=spec.project,
        )
    return {
        "environment": env,
        "held_by": holder,
        "reason": reason,
        "created_at": created_at,
        "expires_at": expires_at,
        "since": created_at,
    }


def unlock(
    store: Store, spec: Spec, env: str, actor: str, now: datetime, *, force: bool = False
) -> Unlocked:
    environment(spec, env)
    with store.begin() as uow:
        row = _row(uow, spec.project, env, now)
        if row is None:
            raise NotFound(f"{env} is not locked", "nothing to unlock", code="lock-not-found")
        if row.held_by != actor and not force:
            raise Refused(
                f"{env} is locked by {row.held_by}, not by {actor}",
                "only the holder unlocks; pass --force to take it off (recorded)",
                code="lock-not-yours",
            )
        _drop(uow, spec.project, env)
        uow.events.append(
            "lock.released",
            f"lock:{env}",
            actor,
            {"environment": env, "held_by": row.held_by, "forced": row.held_by != actor},
            project=spec.project,
        )
    return {"environment": env, "unlocked": True}
