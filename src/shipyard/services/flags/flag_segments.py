"""Flag segments: named sets of constraints per environment that strategies refer to by id.

Each change validates the whole environment as it would be after the change (the domain's
``validate_state``), so a refused change stores nothing, and appends ``flag.segment-changed``
with the segment before and after (``null`` before a create and after a delete) in the same
transaction, which also bumps the environment's revision so clients and streams see it.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, NotRequired, TypedDict

from shipyard.domain.flag_validation import new_problems, raise_problems
from shipyard.errors import Conflict, InputError, NotFound
from shipyard.services.flags import flags
from shipyard.services.flags.flags import _state
from shipyard.store import flags as repo
from shipyard.store.append import utcnow
from shipyard.store.uow import Store, UnitOfWork
from shipyard_sdk.flags import FeatureState, FlagPayloadInvalid, Segment


class SegmentNotFound(NotFound):
    code = "flag-segment-not-found"
    default_hint = "list segments with `shipyard flags segment list --env ENV`"


def parse_constraints(raw: Any) -> list[dict[str, Any]]:
    """Unleash constraint JSON (a list of constraint objects, or one object) as the domain
    writes it; malformed input raises ``FlagPayloadInvalid``. Operators and values are
    checked later, against the environment, by ``validate_state``."""
    if raw is None:
        return []
    items = [raw] if isinstance(raw, Mapping) else raw
    if not isinstance(items, Sequence) or isinstance(items, str | bytes):
        raise FlagPayloadInvalid(
            "constraints: expected a JSON list of constraint objects",
            hint='e.g. [{"contextName": "userId", "operator": "IN", "values": ["42"]}]',
            details={"path": "constraints"},
        )
    parsed = FeatureState.from_payload({"segments": [{"id": 0, "constraints": list(items)}]})
    return [c.to_dict() for c in parsed.segments[0].constraints]


def _check_id(segment_id: Any) -> int:
    if type(segment_id) is not int or segment_id < 1:
        raise InputError(
            f"'{segment_id}' is not a segment id",
            "segment ids are whole numbers from 1",
            code="flag-segment-id-invalid",
        )
    return segment_id


def _check_name(name: str | None) -> str | None:
    if name is None:
        return None
    if not name.strip() or len(name) > 200 or any(ord(ch) < 32 for ch in name):
        raise InputError(
            f"{name!r} is not a segment name",
            "use 1 to 200 printable characters",
            code="flag-segment-name-invalid",
        )
    return name


def users(state: FeatureState, segment_id: int) -> list[str]:
    """The flags with a strategy that refers to the segment, by name."""
    return sorted(
        name
        for name, feature in state.features.items()
        if any(segment_id in s.segments for s in feature.strategies)
    )


class _Name(TypedDict, total=False):
    name: str


class SegmentView(TypedDict):
    """A segment (its Unleash object's fields: id, name when it has one, constraints) in an
    environment, and the flags that refer to it."""

    environment: str
    id: int
    name: NotRequired[str]
    constraints: list[dict[str, Any]]  # Unleash constraint objects
    used_by: list[str]


def _view(state: FeatureState, env: str, segment: Segment) -> SegmentView:
    # The fields of ``segment.to_dict()``, in its order.
    named: _Name = {"name": segment.name} if segment.name is not None else {}
    return {
        "environment": env,
        "id": segment.id,
        **named,
        "constraints": [c.to_dict() for c in segment.constraints],
        "used_by": users(state, segment.id),
    }


def list_segments(store: Store, project: str, env: str) -> list[SegmentView]:
    with store.read() as uow:
        state = _state(uow, project, env)
    return [_view(state, env, s) for s in state.segments.values()]


def show_segment(store: Store, project: str, env: str, segment_id: int) -> SegmentView:
    with store.read() as uow:
        state = _state(uow, project, env)
    return _view(state, env, _segment(state, env, segment_id))


def _segment(state: FeatureState, env: str, segment_id: int) -> Segment:
    """The segment ``segment_id`` of an environment's state, or ``flag-segment-not-found``."""
    segment = state.segments.get(segment_id)
    if segment is None:
        raise SegmentNotFound(f"no segment {segment_id} in environment '{env}'")
    return segment


def _changing(uow: UnitOfWork, project: str, env: str) -> FeatureState:
    """The environment's state, once its protection allows a change without a request."""
    flags.guard(uow, project, env)
    return _state(uow, project, env)


def _record(
    uow: UnitOfWork,
    project: str,
    env: str,
    segment_id: int,
    before: dict[str, Any] | None,
    after: dict[str, Any] | None,
    actor: str,
) -> None:
    repo.bump(uow.conn, project, env)
    uow.events.append(
        "flag.segment-changed",
        f"segment:{segment_id}",
        actor,
        {"environment": env, "before": before, "after": after},
        project=project,
    )


class SegmentWritten(SegmentView):
    changed: bool


def _write(
    uow: UnitOfWork,
    project: str,
    env: str,
    current: FeatureState,
    body: dict[str, Any],
    actor: str,
) -> SegmentWritten:
    segment = FeatureState.from_payload({"segments": [body]}).segments[body["id"]]
    new_state = current.with_segment(segment)
    # Raising rolls back the whole transaction; what an import already let in stays.
    raise_problems(new_problems(current, new_state))
    old = current.segments.get(segment.id)
    before = old.to_dict() if old is not None else None
    after = segment.to_dict()
    if before == after:
        return {**_view(new_state, env, segment), "changed": False}
    repo.put_segment(uow.conn, project, env, after, utcnow())
    _record(uow, project, env, segment.id, before, after, actor)
    return {**_view(new_state, env, segment), "changed": True}


def create_segment(
    store: Store,
    project: str,
    env: str,
    constraints: Any,
    actor: str,
    *,
    name: str | None = None,
    segment_id: int | None = None,
) -> SegmentWritten:
    """A new segment; its id is the next free one unless ``segment_id`` is given."""
    parsed = parse_constraints(constraints)
    _check_name(name)
    if segment_id is not None:
        _check_id(segment_id)
    with store.begin() as uow:
        current = _changing(uow, project, env)
        if segment_id is None:
            segment_id = max(current.segments, default=0) + 1
        elif segment_id in current.segments:
            raise Conflict(
                f"segment {segment_id} already exists in '{env}'",
                "change it with `shipyard flags segment update`, or leave out the id",
                code="flag-segment-exists",
            )
        body: dict[str, Any] = {"id": segment_id, "constraints": parsed}
        if name is not None:
            body["name"] = name
        return _write(uow, project, env, current, body, actor)


def update_segment(
    store: Store,
    project: str,
    env: str,
    segment_id: int,
    actor: str,
    *,
    constraints: Any = None,
    name: str | None = None,
) -> SegmentWritten:
    """Replace a segment's constraints and/or name; what is not given is kept."""
    parsed = None if constraints is None else parse_constraints(constraints)
    _check_name(name)
    with store.begin() as uow:
        current = _changing(uow, project, env)
        old = _segment(current, env, segment_id)
        body = old.to_dict()
        if parsed is not None:
            body["constraints"] = parsed
        if name is not None:
            body["name"] = name
        return _write(uow, project, env, current, body, actor)


class SegmentDeleted(TypedDict):
    environment: str
    id: int
    deleted: bool


def delete_segment(
    store: Store, project: str, env: str, segment_id: int, actor: str
) -> SegmentDeleted:
    """Delete a segment no flag refers to."""
    with store.begin() as uow:
        current = _changing(uow, project, env)
        old = _segment(current, env, segment_id)
        used = users(current, segment_id)
        if used:
            raise Conflict(
                f"segment {segment_id} is used by {', '.join(used)} in '{env}'",
                f"remove it from the strategies of {', '.join(used)} first "
                "(`shipyard flags strategy list NAME --env ENV`)",
                code="flag-segment-in-use",
                details={"flags": used},
            )
        repo.delete_segment(uow.conn, project, env, segment_id)
        _record(uow, project, env, segment_id, old.to_dict(), None, actor)
    return {"environment": env, "id": segment_id, "deleted": True}
