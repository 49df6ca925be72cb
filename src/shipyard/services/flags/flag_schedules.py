"""Scheduled flag changes: turn a flag on or off, or set its rollout, at a time.

Applying a due schedule goes through the flag-change services inside one transaction: the
flag row, its ``flag.changed`` event, ``flag.schedule-applied`` and the schedule's
``applied_at`` commit together. The claim on the schedule row comes first, so two appliers
(cron and the server, or two replicas) apply each schedule once.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from datetime import UTC, datetime

from shipyard.domain import flag_schedules as rules
from shipyard.errors import Conflict, NotFound, ShipyardError
from shipyard.services.flags import flags
from shipyard.store import flag_schedules as repo
from shipyard.store import flags as flag_repo
from shipyard.store.uow import Store, UnitOfWork

log = logging.getLogger(__name__)


class ScheduleNotFound(NotFound):
    code = "schedule-not-found"
    default_hint = "list schedules with `shipyard flags schedules`"


def _now(now: datetime | None) -> datetime:
    return datetime.now(UTC) if now is None else rules.aware(now).astimezone(UTC)


def _when(at: datetime | str, now: datetime) -> datetime:
    return rules.parse_when(at, now) if isinstance(at, str) else rules.aware(at)


class ScheduleOut(repo.ScheduleRow):
    """A schedule's row and its status: pending, applied, cancelled or failed."""

    status: str


class ScheduleChange(ScheduleOut):
    """A schedule cancelled or applied, and whether that changed anything."""

    changed: bool


class _Inserted(repo.NewSchedule):
    id: int  # last: a new schedule's view lists it after the columns it was inserted with


def _view(row: repo.ScheduleRow | _Inserted) -> ScheduleOut:
    return {**row, "status": rules.status(row)}


def _insert(
    uow: UnitOfWork,
    project: str,
    env: str,
    flag: str,
    action: str,
    at: datetime,
    percentage: int | None,
    actor: str,
    now: datetime,
) -> ScheduleOut:
    new: repo.NewSchedule = {
        "project": project,
        "environment": env,
        "flag": flag,
        "action": action,
        "percentage": percentage,
        "at": rules.fmt(at),
        "created_by": actor,
        "created_at": rules.fmt(now),
        "applied_at": None,
        "cancelled_at": None,
        "error": None,
    }
    row: _Inserted = {**new, "id": repo.insert(uow.conn, new)}
    uow.events.append(
        "flag.scheduled",
        f"flag:{flag}",
        actor,
        {
            "schedule": row["id"],
            "environment": env,
            "action": action,
            "percentage": percentage,
            "at": row["at"],
        },
        project=project,
    )
    return _view(row)


def _check_flag(uow: UnitOfWork, project: str, env: str, flag: str) -> None:
    # A protected environment's changes are scheduled through a change request (its --at).
    flags.guard(uow, project, env)
    if not flag_repo.rows(uow.conn, project, env, flag):
        raise flags.FlagNotFound(f"no flag '{flag}' in environment '{env}'")


def schedule(
    store: Store,
    project: str,
    env: str,
    flag: str,
    action: str,
    at: datetime | str,
    percentage: int | None = None,
    *,
    actor: str,
    now: datetime | None = None,
) -> ScheduleOut:
    """Schedule one change of an existing flag; ``at`` is an aware time or text ("+2h")."""
    current = _now(now)
    flags.check_environment(env)
    flags.check_name(flag)
    action, percentage = rules.check_action(action, percentage)
    when = rules.check_future(_when(at, current), current)
    with store.begin() as uow:
        _check_flag(uow, project, env, flag)
        return _insert(uow, project, env, flag, action, when, percentage, actor, current)


def schedule_steps(
    store: Store,
    project: str,
    env: str,
    flag: str,
    steps: Sequence[tuple[int, datetime | str]],
    *,
    actor: str,
    now: datetime | None = None,
) -> list[ScheduleOut]:
    """A stepped rollout: one rollout schedule per (percentage, time), all or none stored."""
    current = _now(now)
    flags.check_environment(env)
    flags.check_name(flag)
    checked = rules.check_steps([(pct, _when(at, current)) for pct, at in steps])
    rules.check_future(checked[0][1], current)
    with store.begin() as uow:
        _check_flag(uow, project, env, flag)
        return [
            _insert(uow, project, env, flag, "rollout", at, pct, actor, current)
            for pct, at in checked
        ]


def list_schedules(
    store: Store, project: str, env: str | None = None, *, pending: bool = False
) -> list[ScheduleOut]:
    with store.read() as uow:
        rows = [_view(r) for r in repo.rows(uow.conn, project, env)]
    return [r for r in rows if r["status"] == "pending"] if pending else rows


def cancel(
    store: Store, project: str, schedule_id: int, *, actor: str, now: datetime | None = None
) -> ScheduleChange:
    """Cancel a pending schedule; cancelling a cancelled one changes nothing."""
    stamp = rules.fmt(_now(now))
    with store.begin() as uow:
        row = repo.get(uow.conn, schedule_id)
        if row is None or row["project"] != project:
            raise ScheduleNotFound(f"no schedule {schedule_id} in project '{project}'")
        state = rules.status(row)
        if state in ("applied", "failed"):
            raise Conflict(
                f"schedule {schedule_id} is {state}",
                "change the flag now with enable, disable or rollout",
                code="schedule-not-pending",
            )
        if state == "cancelled":
            return {**_view(row), "changed": False}
        repo.claim(uow.conn, schedule_id, cancelled_at=stamp)
        uow.events.append(
            "flag.schedule-cancelled",
            f"flag:{row['flag']}",
            actor,
            {"schedule": schedule_id, "environment": row["environment"]},
            project=project,
        )
        row = repo.get(uow.conn, schedule_id) or row
    return {**_view(row), "changed": True}


def _apply_one(uow: UnitOfWork, row: repo.ScheduleRow, stamp: str) -> ScheduleChange | None:
    if not repo.claim(uow.conn, row["id"], applied_at=stamp):
        return None  # applied or cancelled since it was read
    project, env, name, actor = row["project"], row["environment"], row["flag"], row["created_by"]
    if row["action"] == "rollout":
        pct = row["percentage"]
        assert pct is not None, "a rollout schedule has a percentage (rules.check_action)"
        result = flags.set_rollout_in(uow, project, env, name, pct, actor, stamp=stamp)
    else:
        result = flags.set_enabled_in(
            uow, project, env, name, row["action"] == "enable", actor, stamp=stamp
        )
    uow.events.append(
        "flag.schedule-applied",
        f"flag:{name}",
        actor,
        {
            "schedule": row["id"],
            "environment": env,
            "action": row["action"],
            "percentage": row["percentage"],
            "at": row["at"],
            "changed": result["changed"],
        },
        project=project,
    )
    return {**_view({**row, "applied_at": stamp}), "changed": result["changed"]}


def _fail(store: Store, row: repo.ScheduleRow, error: ShipyardError, stamp: str) -> None:
    with store.begin() as uow:
        if not repo.claim(uow.conn, row["id"], cancelled_at=stamp, error=str(error)):
            return
        uow.events.append(
            "flag.schedule-failed",
            f"flag:{row['flag']}",
            row["created_by"],
            {"schedule": row["id"], "environment": row["environment"], "error": error.to_dict()},
            project=row["project"],
        )


def apply_due(store: Store, now: datetime, *, project: str | None = None) -> list[ScheduleChange]:
    """Apply every schedule due at ``now``, oldest first, each in its own transaction.

    Returns those this call applied; a second call at the same ``now`` applies nothing. A
    schedule whose change is refused (the flag was deleted, say) is marked failed with the error.
    """
    current = _now(now)
    stamp = rules.fmt(current)
    with store.read() as uow:
        candidates = repo.pending_until(uow.conn, stamp, project)
    applied: list[ScheduleChange] = []
    for row in rules.due(candidates, current):
        try:
            with store.begin() as uow:
                done = _apply_one(uow, row, stamp)
        except ShipyardError as exc:
            log.warning("schedule %s could not be applied: %s", row["id"], exc)
            _fail(store, row, exc, stamp)
            continue
        if done is not None:
            applied.append(done)
    return applied


async def run_forever(store: Store, interval: float = 30.0) -> None:
    """Apply due schedules every ``interval`` seconds until cancelled (the server's loop).

    A failing pass (the database briefly unreachable, say) is logged and retried next pass.
    """
    import asyncio

    from shipyard.services.flags import flag_requests

    while True:
        try:
            await asyncio.to_thread(apply_due, store, datetime.now(UTC))
            await asyncio.to_thread(flag_requests.apply_due, store, datetime.now(UTC))
        except Exception:  # the loop must outlive any one pass
            log.exception("applying scheduled flag changes failed")
        await asyncio.sleep(interval)
