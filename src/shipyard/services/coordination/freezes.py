"""Freeze windows: the ones in shipyard.yaml plus ones added at runtime, and what they say now."""

from __future__ import annotations

import json
from datetime import datetime
from typing import TYPE_CHECKING, Any, TypedDict

from sqlalchemy import delete, select

from shipyard.domain import calendar
from shipyard.errors import Conflict, InputError, NotFound
from shipyard.services.coordination.coordination import iso
from shipyard.store.append import utcnow
from shipyard.store.release import release_freezes
from shipyard.store.uow import Store, UnitOfWork

if TYPE_CHECKING:
    from sqlalchemy.sql.elements import ColumnElement

    from shipyard.spec.models import Spec


def _spec_definitions(spec: Spec) -> list[dict[str, Any]]:
    return [f.model_dump(exclude_none=True) for f in spec.release.freezes]


def _stored(uow: UnitOfWork, project: str) -> list[dict[str, Any]]:
    rows = uow.conn.execute(
        select(release_freezes).where(release_freezes.c.project == project)
    ).all()
    return [
        {**json.loads(r.definition), "created_by": r.created_by, "created_at": r.created_at}
        for r in rows
    ]


def definitions(store: Store, spec: Spec) -> list[dict[str, Any]]:
    """Every window with where it comes from: ``spec`` or ``runtime``."""
    with store.read() as uow:
        stored = _stored(uow, spec.project)
    return [{**d, "source": "spec"} for d in _spec_definitions(spec)] + [
        {**d, "source": "runtime"} for d in stored
    ]


def windows(store: Store, spec: Spec) -> list[calendar.FreezeWindow]:
    return [calendar.freeze_from_spec(d) for d in definitions(store, spec)]


class FreezeOut(TypedDict):
    """A freeze window and where it comes from."""

    name: str
    source: str  # spec (shipyard.yaml) or runtime (`shipyard freeze add`)
    describe: str
    environments: list[str]  # empty: every environment
    timezone: str
    reason: str
    definition: dict[str, str]  # as written, every value a string


class FreezeOccurrence(TypedDict):
    """One stretch of a freeze window."""

    name: str
    start: str
    end: str


class FreezeList(TypedDict):
    freezes: list[FreezeOut]
    next: list[FreezeOccurrence]  # the coming stretches, soonest first


class FreezeAdded(TypedDict):
    name: str
    describe: str
    source: str  # runtime


class FreezeRemoved(TypedDict):
    name: str
    removed: bool


class FreezeState(TypedDict):
    """Whether an environment (or any, with ``environment`` None) is frozen at ``at``."""

    at: str
    environment: str | None
    frozen: bool
    window: str | None  # the window freezing it
    until: str | None  # None: not frozen, or no end
    active: list[FreezeOccurrence]
    message: str


def _window_dict(d: dict[str, Any]) -> FreezeOut:
    w = calendar.freeze_from_spec(d)
    return {
        "name": w.name,
        "source": d["source"],
        "describe": w.describe(),
        "environments": list(w.environments),
        "timezone": w.timezone,
        "reason": w.reason,
        "definition": {
            k: str(v) for k, v in d.items() if k not in ("source", "created_by", "created_at")
        },
    }


def list_freezes(store: Store, spec: Spec, now: datetime, upcoming: int = 3) -> FreezeList:
    defs = definitions(store, spec)
    ws = [calendar.freeze_from_spec(d) for d in defs]
    nxt = calendar.next_windows(ws, now, upcoming * max(len(ws), 1))
    return {
        "freezes": [_window_dict(d) for d in defs],
        "next": [_occurrence(o) for o in nxt[:upcoming]],
    }


def _occurrence(o: calendar.FreezeOccurrence) -> FreezeOccurrence:
    return {"name": o.window.name, "start": iso(o.start), "end": iso(o.end)}


def _in_spec(spec: Spec, name: str) -> bool:
    return name in {d["name"] for d in _spec_definitions(spec)}


def _named(project: str, name: str) -> tuple[ColumnElement[bool], ...]:
    """Where a runtime freeze's row is: its project's and its name's."""
    c = release_freezes.c
    return (c.project == project, c.name == name)


def add(store: Store, spec: Spec, definition: dict[str, Any], actor: str) -> FreezeAdded:
    """Store a runtime window after checking it the way shipyard.yaml's windows are checked."""
    name = str(definition.get("name") or "")
    if not name:
        raise InputError("a freeze needs a name", "pass a NAME", code="freeze-invalid")
    clean = {k: v for k, v in definition.items() if v not in (None, "", [], ())}
    window = calendar.freeze_from_spec(clean)  # raises cron-invalid, freeze-invalid, ...
    if _in_spec(spec, name):
        raise Conflict(
            f"freeze '{name}' is defined in shipyard.yaml",
            "choose another name",
            code="freeze-exists",
        )
    with store.begin() as uow:
        exists = uow.conn.execute(
            select(release_freezes.c.name).where(*_named(spec.project, name))
        ).first()
        if exists is not None:
            raise Conflict(
                f"freeze '{name}' already exists",
                f"remove it first with `shipyard freeze remove {name}`",
                code="freeze-exists",
            )
        uow.conn.execute(
            release_freezes.insert(),
            {
                "project": spec.project,
                "name": name,
                "definition": json.dumps(clean, default=str, sort_keys=True),
                "created_by": actor,
                "created_at": utcnow(),
            },
        )
        uow.events.append(
            "freeze.added",
            f"freeze:{name}",
            actor,
            {
                "definition": {k: str(v) for k, v in clean.items()},
                "describe": window.describe(),
            },
            project=spec.project,
        )
    _notify(store, spec)
    return {"name": name, "describe": window.describe(), "source": "runtime"}


def remove(store: Store, spec: Spec, name: str, actor: str) -> FreezeRemoved:
    if _in_spec(spec, name):
        raise InputError(
            f"freeze '{name}' is defined in shipyard.yaml",
            "remove it from release.freezes in shipyard.yaml",
            code="freeze-in-spec",
        )
    with store.begin() as uow:
        result = uow.conn.execute(delete(release_freezes).where(*_named(spec.project, name)))
        if result.rowcount == 0:
            raise NotFound(
                f"no runtime freeze named '{name}'",
                "list them with `shipyard freeze list`",
                code="freeze-not-found",
            )
        uow.events.append("freeze.removed", f"freeze:{name}", actor, {}, project=spec.project)
    _notify(store, spec)
    return {"name": name, "removed": True}


def _local(at: datetime, tz: str) -> str:
    return at.astimezone(calendar.zone(tz)).strftime("%A %Y-%m-%d %H:%M")


def status(store: Store, spec: Spec, at: datetime, env: str | None = None) -> FreezeState:
    """Is ``env`` (or any environment) frozen at ``at``, by which window, until when."""
    st = calendar.is_frozen(windows(store, spec), at, env, spec.project)
    if st.frozen and st.window is not None and st.until is not None:
        tz = st.window.timezone
        message = f"frozen by {st.window.name} until {_local(st.until, tz)} {tz}"
    elif st.frozen and st.window is not None:
        message = f"frozen by {st.window.name}, with no end: its stretches leave no gap"
    else:
        message = "not frozen"
    return {
        "at": iso(at),
        "environment": env,
        "frozen": st.frozen,
        "window": st.window.name if st.window else None,
        "until": iso(st.until) if st.until else None,
        "active": [_occurrence(o) for o in st.active],
        "message": message,
    }


def gate_status(store: Store, spec: Spec, env: str, at: datetime) -> Any:
    from shipyard.domain.gates import FreezeStatus

    st = calendar.is_frozen(windows(store, spec), at, env, spec.project)
    return FreezeStatus(st.frozen, st.window.name if st.window else None, st.until)


def ical(store: Store, spec: Spec, now: datetime, weeks: int = 26) -> str:
    """Trains and freezes of the coming ``weeks`` as an iCalendar file."""
    from datetime import timedelta

    ws = windows(store, spec)
    horizon = now + timedelta(weeks=weeks)
    occs = [o for o in calendar.next_windows(ws, now, 200) if o.start < horizon]
    trains: list[calendar.Train] = []
    train = spec.release.train
    if train is not None:
        schedule = train.schedule()
        count = max(1, weeks // schedule.every_weeks)
        plan = calendar.train_plan(schedule, now, count, freezes=ws)
        trains = [t for t in (plan.current, *plan.upcoming) if t is not None]
    return calendar.to_ical(stamp=now, freezes=occs, trains=trains, name=f"{spec.project} releases")


def _notify(store: Store, spec: Spec) -> None:
    from shipyard.services.coordination import notify

    notify.dispatch(store, spec)
