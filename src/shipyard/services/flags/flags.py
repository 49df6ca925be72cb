"""Feature flags: create, change, import and export flags per project and environment.

Every change validates the whole environment as it would be after the change and refuses any
problem it would bring in (the domain's ``new_problems``), so a refused change stores nothing;
it appends ``flag.changed`` with the feature before and after in the same transaction as the
rows it changes. An import is lenient by default, as Unleash is: what Unleash serves is stored
and each oddity comes back as a warning; ``strict`` refuses the import instead.
"""

from __future__ import annotations

import re
from collections.abc import Collection, Iterator, Mapping, Sequence
from contextlib import contextmanager
from contextvars import ContextVar
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, TypedDict

from shipyard.domain.flag_lifecycle import FLAG_TYPES, rollout_level
from shipyard.domain.flag_validation import new_problems, problem_effect, raise_problems
from shipyard.errors import Conflict, InputError, NotFound
from shipyard.spec.base import NAME_RE
from shipyard.store import flags as repo
from shipyard.store.append import utcnow
from shipyard.store.uow import Store, UnitOfWork
from shipyard_sdk.flags import (
    FeatureState,
    FlagPayloadInvalid,
    UnleashContext,
    hydrate_delta,
    served_feature,
)

if TYPE_CHECKING:
    from shipyard.spec.models import Spec

_FLAG_NAME = re.compile(r"^[^\s/\\\"]{1,200}$")
_ENV_NAME = re.compile(NAME_RE)
# Payloads served by /api/client/features, by (database, project, environment, revision): a
# revision never changes meaning, so an entry is never stale, only superseded.
_PAYLOADS: dict[tuple[str, str, str], tuple[int, ClientPayload]] = {}
_STATES: dict[tuple[str, str, str], tuple[int, FeatureState]] = {}


class FlagNotFound(NotFound):
    code = "flag-not-found"
    default_hint = "list flags with `shipyard flags list --env ENV`"


class ChangeRequestRequired(Conflict):
    code = "flag-change-request-required"
    default_hint = (
        "propose it: `shipyard flags request create NAME --env ENV --enable` (or --disable, "
        "--rollout PCT); another person approves it, then it is applied"
    )


# Set while an approved change request is applied: the one way past a protection.
_APPLYING_REQUEST: ContextVar[bool] = ContextVar("applying_change_request", default=False)


@contextmanager
def applying_change_request() -> Iterator[None]:
    token = _APPLYING_REQUEST.set(True)
    try:
        yield
    finally:
        _APPLYING_REQUEST.reset(token)


def guard(uow: UnitOfWork, project: str, env: str) -> None:
    """Refuse a direct change to an environment whose flag changes need approvals."""
    if _APPLYING_REQUEST.get():
        return
    from shipyard.store import flag_requests

    needed = flag_requests.protection(uow.conn, project, env)
    if needed:
        raise ChangeRequestRequired(
            f"flag changes in '{env}' need {needed} approval(s): propose this change instead"
        )


def check_name(name: str) -> str:
    if not _FLAG_NAME.match(name or ""):
        raise InputError(
            f"'{name}' is not a flag name",
            "use 1 to 200 characters without spaces, slashes, backslashes or quotes",
            code="flag-name-invalid",
        )
    return name


def check_environment(env: str, known: Collection[str] | None = None) -> str:
    """``env`` if it is a valid name and, when the project declares environments, one of them."""
    if not _ENV_NAME.match(env or ""):
        raise InputError(
            f"'{env}' is not an environment name",
            "use letters, digits, '.', '_' and '-', starting with a letter or digit",
            code="flag-environment-invalid",
        )
    if known and env not in known:
        raise InputError(
            f"environment '{env}' is not declared in shipyard.yaml",
            "one of " + ", ".join(sorted(known)),
            code="flag-environment-unknown",
        )
    return env


def check_type(kind: str) -> str:
    if kind not in FLAG_TYPES:
        raise InputError(
            f"unknown flag type '{kind}'",
            "one of " + ", ".join(FLAG_TYPES),
            code="flag-type-unknown",
        )
    return kind


def check_percentage(value: int) -> int:
    if not 0 <= value <= 100:
        raise InputError(
            f"rollout percentage {value} is outside 0..100",
            "give a whole number from 0 to 100",
            code="flag-percentage-invalid",
        )
    return value


# -- reading -----------------------------------------------------------------------------------


def _state(uow: UnitOfWork, project: str, env: str) -> FeatureState:
    return FeatureState.from_payload(
        {
            "version": 2,
            "features": [r["definition"] for r in repo.rows(uow.conn, project, env)],
            "segments": repo.segments(uow.conn, project, env),
        }
    )


def state(store: Store, project: str, env: str) -> FeatureState:
    """The flags of one environment, ready for evaluation."""
    with store.read() as uow:
        return _state(uow, project, env)


class PayloadMeta(TypedDict):
    revisionId: int
    etag: str


class ClientPayload(TypedDict):
    """What ``/api/client/features`` serves: Unleash's client features state."""

    version: int
    features: list[Mapping[str, Any]]  # Unleash feature objects, as served_feature writes them
    segments: list[dict[str, Any]]  # Unleash segment objects
    meta: PayloadMeta


def client_payload(store: Store, project: str, env: str) -> tuple[int, ClientPayload]:
    """The ``/api/client/features`` payload of an environment and the revision it is at."""
    with store.read() as uow:
        return client_payload_in(uow, store.url, project, env)


def client_payload_in(
    uow: UnitOfWork, url: str, project: str, env: str
) -> tuple[int, ClientPayload]:
    """``client_payload`` inside the caller's transaction; an unchanged revision reads one row."""
    key = (url, project, env)
    rev = repo.revision(uow.conn, project, env)
    cached = _PAYLOADS.get(key)
    if cached is not None and cached[0] == rev:
        return cached
    payload: ClientPayload = {
        "version": 2,
        "features": [served_feature(r["definition"]) for r in repo.rows(uow.conn, project, env)],
        "segments": repo.segments(uow.conn, project, env),
        "meta": {"revisionId": rev, "etag": etag(project, env, rev)},
    }
    _PAYLOADS[key] = (rev, payload)
    return rev, payload


def compiled_state_in(uow: UnitOfWork, url: str, project: str, env: str) -> FeatureState:
    """The environment's flags compiled for evaluation, made once per revision (the frontend
    API evaluates for every request, and compiling costs far more than evaluating)."""
    key = (url, project, env)
    rev = repo.revision(uow.conn, project, env)
    cached = _STATES.get(key)
    if cached is not None and cached[0] == rev:
        return cached[1]
    compiled = _state(uow, project, env)
    _STATES[key] = (rev, compiled)
    return compiled


def revision(store: Store, project: str, env: str) -> int:
    with store.read() as uow:
        return repo.revision(uow.conn, project, env)


def etag(project: str, env: str, rev: int) -> str:
    return f'"{project}:{env}:{rev}"'


class FlagSummary(TypedDict):
    """A flag in one environment, as ``flags list`` shows it."""

    name: str
    environment: str
    type: str
    enabled: bool
    rollout: int | None  # the first gradual rollout's percentage
    level: int | None  # 0 off for everyone, 100 on for everyone, None in between
    strategies: list[str]  # their names
    description: str | None
    updated_at: str


class FlagDetail(FlagSummary):
    """A flag in one environment with its Unleash feature object."""

    definition: dict[str, Any]


class FlagShown(TypedDict):
    """A flag in each environment it is in, and its variant exposures."""

    name: str
    type: str
    environments: dict[str, FlagDetail]
    exposures: list[repo.Exposure]


class FlagSaved(FlagSummary):
    """A flag after a change: whether anything changed, and its Unleash feature object."""

    changed: bool
    definition: dict[str, Any]


def _summary(row: repo.FlagRow) -> FlagSummary:
    feature = row["definition"]
    return {
        "name": row["name"],
        "environment": row["environment"],
        "type": row["type"],
        "enabled": bool(feature.get("enabled")),
        "rollout": _rollout_percent(feature),
        "level": rollout_level(feature),
        "strategies": [s.get("name") for s in feature.get("strategies", [])],
        "description": feature.get("description"),
        "updated_at": row["updated_at"],
    }


def _rollout_percent(feature: Mapping[str, Any]) -> int | None:
    for strategy in feature.get("strategies", []):
        if strategy.get("name") == "flexibleRollout":
            try:
                return int(str(strategy.get("parameters", {}).get("rollout", "100")))
            except ValueError:
                return None
    return None


def list_flags(store: Store, project: str, env: str | None = None) -> list[FlagSummary]:
    with store.read() as uow:
        return [_summary(r) for r in repo.rows(uow.conn, project, env)]


def show(store: Store, project: str, name: str, env: str | None = None) -> FlagShown:
    with store.read() as uow:
        rows = repo.rows(uow.conn, project, env, name)
        seen = [
            x for x in repo.exposures(uow.conn, project, name) if env in (None, x["environment"])
        ]
    if not rows:
        where = f" in environment '{env}'" if env else ""
        raise FlagNotFound(f"no flag '{name}'{where} in project '{project}'")
    return {
        "name": name,
        "type": rows[0]["type"],
        "environments": {
            r["environment"]: {**_summary(r), "definition": r["definition"]} for r in rows
        },
        # What experiment analysis starts from: how often each variant was handed out.
        "exposures": seen,
    }


# -- changing ----------------------------------------------------------------------------------


def _normalised(feature: Mapping[str, Any], name: str) -> dict[str, Any]:
    """The feature as the domain writes it, so equal definitions compare equal."""
    parsed = FeatureState.from_payload({"features": [dict(feature)]})
    return parsed.features[name].to_dict()


def _save(
    uow: UnitOfWork,
    project: str,
    env: str,
    feature: dict[str, Any],
    actor: str,
    *,
    current: FeatureState,
    now: str,
) -> tuple[FeatureState, bool]:
    """Write one feature and its event; returns the new state and whether anything changed."""
    name = check_name(str(feature.get("name", "")))
    # The definition keeps what it was given (an import round-trips); the column holds the
    # type the lifecycle reads, release when none is named.
    kind = check_type(str(feature.get("type") or "release"))
    after = _normalised(feature, name)
    before_feature = current.features.get(name)
    before = before_feature.to_dict() if before_feature is not None else None
    if before == after:
        return current, False
    parsed = FeatureState.from_payload({"features": [after]}).features[name]
    new_state = current.with_feature(parsed)
    repo.put(
        uow.conn,
        {
            "project": project,
            "environment": env,
            "name": name,
            "type": kind,
            "definition": after,
            "created_at": now,
            "updated_at": now,
        },
        exists=before is not None,
    )
    uow.events.append(
        "flag.changed",
        f"flag:{name}",
        actor,
        {"environment": env, "before": before, "after": after},
        project=project,
    )
    return new_state, True


def save(
    store: Store,
    project: str,
    env: str,
    feature: Mapping[str, Any],
    actor: str,
    *,
    create: bool | None = None,
    now: datetime | None = None,
) -> FlagSaved:
    """Create or replace one feature (the Unleash feature object) in ``env``.

    ``create=True`` refuses a name that exists, ``create=False`` one that does not.
    """
    stamp = _stamp(now)
    with store.begin() as uow:
        return save_in(uow, project, env, feature, actor, create=create, stamp=stamp)


def save_in(
    uow: UnitOfWork,
    project: str,
    env: str,
    feature: Mapping[str, Any],
    actor: str,
    *,
    create: bool | None = None,
    stamp: str,
) -> FlagSaved:
    """``save`` inside the caller's transaction, so other rows and events commit with it."""
    name = check_name(str(feature.get("name", "")))
    guard(uow, project, env)
    current = _state(uow, project, env)
    if create is True and name in current:
        raise Conflict(
            f"flag '{name}' already exists in '{env}'",
            "change it with enable, disable or rollout, or delete it first",
            code="flag-exists",
        )
    if create is False and name not in current:
        raise FlagNotFound(f"no flag '{name}' in environment '{env}'")
    new_state, changed = _save(uow, project, env, dict(feature), actor, current=current, now=stamp)
    if changed:
        # Raising rolls back the row and its event.
        raise_problems(new_problems(current, new_state))
        repo.bump(uow.conn, project, env)
    row = repo.rows(uow.conn, project, env, name)[0]
    return {**_summary(row), "changed": changed, "definition": row["definition"]}


def _stamp(now: datetime | None) -> str:
    if now is None:
        return utcnow()
    return now.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def create(
    store: Store,
    project: str,
    env: str,
    name: str,
    actor: str,
    *,
    kind: str = "release",
    description: str | None = None,
    enabled: bool = False,
    rollout: int = 100,
    now: datetime | None = None,
) -> FlagSaved:
    """A new flag, off, with one gradual rollout (``rollout`` percent, sticky on the user)."""
    check_name(name)
    check_type(kind)
    check_percentage(rollout)
    feature = {
        "name": name,
        "type": kind,
        "description": description,
        "enabled": enabled,
        "strategies": [_flexible(name, rollout)],
        "variants": [],
    }
    return save(store, project, env, feature, actor, create=True, now=now)


class RolloutParameters(TypedDict):
    rollout: str
    stickiness: str
    groupId: str


class FlexibleRollout(TypedDict):
    """Unleash's gradual rollout strategy, sticky on the user, grouped by the flag's name."""

    name: str
    parameters: RolloutParameters
    constraints: list[dict[str, Any]]


def _flexible(name: str, pct: int) -> FlexibleRollout:
    return {
        "name": "flexibleRollout",
        "parameters": {"rollout": str(pct), "stickiness": "default", "groupId": name},
        "constraints": [],
    }


def _current(uow: UnitOfWork, project: str, env: str, name: str) -> dict[str, Any]:
    rows = repo.rows(uow.conn, project, env, name)
    if not rows:
        raise FlagNotFound(f"no flag '{name}' in environment '{env}'")
    return dict(rows[0]["definition"])


def set_enabled(
    store: Store, project: str, env: str, name: str, enabled: bool, actor: str
) -> FlagSaved:
    with store.begin() as uow:
        return set_enabled_in(uow, project, env, name, enabled, actor, stamp=utcnow())


def set_enabled_in(
    uow: UnitOfWork, project: str, env: str, name: str, enabled: bool, actor: str, *, stamp: str
) -> FlagSaved:
    """``set_enabled`` inside the caller's transaction."""
    feature = _current(uow, project, env, name)
    feature["enabled"] = enabled
    return save_in(uow, project, env, feature, actor, create=False, stamp=stamp)


def set_rollout(store: Store, project: str, env: str, name: str, pct: int, actor: str) -> FlagSaved:
    """Set the first gradual rollout to ``pct`` percent (adding one if there is none)."""
    check_percentage(pct)
    with store.begin() as uow:
        return set_rollout_in(uow, project, env, name, pct, actor, stamp=utcnow())


def set_rollout_in(
    uow: UnitOfWork, project: str, env: str, name: str, pct: int, actor: str, *, stamp: str
) -> FlagSaved:
    """``set_rollout`` inside the caller's transaction."""
    check_percentage(pct)
    feature = _current(uow, project, env, name)
    strategies = [dict(s) for s in feature.get("strategies", [])]
    for strategy in strategies:
        if strategy.get("name") == "flexibleRollout":
            strategy["parameters"] = {**strategy.get("parameters", {}), "rollout": str(pct)}
            feature["strategies"] = strategies
            break
    else:
        feature["strategies"] = [_flexible(name, pct)]
    return save_in(uow, project, env, feature, actor, create=False, stamp=stamp)


class FlagDeleted(TypedDict):
    name: str
    environment: str
    deleted: bool


def delete(store: Store, project: str, env: str, name: str, actor: str) -> FlagDeleted:
    with store.begin() as uow:
        guard(uow, project, env)
        current = _state(uow, project, env)
        if name not in current:
            raise FlagNotFound(f"no flag '{name}' in environment '{env}'")
        after = current.without_feature(name)
        # Refuses to orphan a flag that depends on this one.
        raise_problems(new_problems(current, after))
        repo.delete(uow.conn, project, env, name)
        repo.bump(uow.conn, project, env)
        uow.events.append(
            "flag.changed",
            f"flag:{name}",
            actor,
            {"environment": env, "before": current.features[name].to_dict(), "after": None},
            project=project,
        )
    return {"name": name, "environment": env, "deleted": True}


def _incoming(payload: Mapping[str, Any]) -> tuple[FeatureState, list[str], list[int]]:
    """What an import file holds: the features and segments to write, and the flag names and
    segment ids its delta events remove.

    Accepted: the client features state (``{"version", "features", "segments"}``), a
    client-specification file (the state under ``"state"``), and Unleash's delta format
    (``{"events": [...]}``: a hydration, or feature and segment events applied in order).
    """
    if "features" not in payload and isinstance(payload.get("state"), Mapping):
        payload = payload["state"]
    if "features" in payload:
        incoming = FeatureState.from_payload(payload)
        removed: tuple[list[str], list[int]] = ([], [])
    elif "events" in payload:
        events = payload["events"]
        if not isinstance(events, list):
            raise FlagPayloadInvalid("payload.events: expected a list", details={"path": "events"})
        incoming = hydrate_delta(events)
        removed = _removals(events, incoming)
    else:
        raise FlagImportEmpty(
            "this is not an Unleash flags state: it has neither 'features' nor delta 'events'"
            + (f" (keys: {', '.join(sorted(map(str, payload))[:8])})" if payload else "")
        )
    if not incoming.features and not incoming.segments and not any(removed):
        raise FlagImportEmpty("the file holds no flags and no segments: nothing to import")
    return incoming, *removed


def _removals(events: list[Any], final: FeatureState) -> tuple[list[str], list[int]]:
    """Names and ids that delta events remove and do not bring back later."""
    names: list[str] = []
    ids: list[int] = []
    for event in events:
        if event.get("type") == "feature-removed" and event["featureName"] not in final:
            names.append(event["featureName"])
        if event.get("type") == "segment-removed" and event["segmentId"] not in final.segments:
            ids.append(event["segmentId"])
    return sorted(set(names)), sorted(set(ids))


class FlagImportEmpty(InputError):
    code = "flag-import-empty"
    default_hint = (
        'import an Unleash client features state {"version": 2, "features": [...]} (from '
        '/api/client/features or `shipyard flags export`) or delta events {"events": [...]}'
    )


class ImportProblem(TypedDict):
    """A problem an import let in: where it is and how the flag evaluates with it."""

    flag: str | None  # None for a segment's problem
    field: str
    code: str
    message: str
    effect: str


class ImportResult(TypedDict):
    environment: str
    created: list[str]
    updated: list[str]
    deleted: list[str]
    unchanged: int
    segments: int  # how many the payload held
    warnings: list[ImportProblem]


def import_payload(
    store: Store,
    project: str,
    env: str,
    payload: Mapping[str, Any],
    actor: str,
    *,
    strict: bool = False,
) -> ImportResult:
    """Load an Unleash flags state (or delta events) into ``env`` in one transaction.

    Features and segments in the payload are created or replaced; others are left alone,
    except those that delta events remove. Unless ``strict``, what Unleash would serve is
    stored and each problem (an invalid address, a custom strategy ...) is returned as a
    warning naming the flag and field with how it evaluates; ``strict`` refuses the import.
    """
    incoming, removed, removed_segments = _incoming(payload)
    stamp = utcnow()
    created: list[str] = []
    updated: list[str] = []
    deleted: list[str] = []
    with store.begin() as uow:
        guard(uow, project, env)
        before = current = _state(uow, project, env)
        for segment in incoming.segments.values():
            body = segment.to_dict()
            old = current.segments.get(segment.id)
            if old is None or old.to_dict() != body:
                repo.put_segment(uow.conn, project, env, body, stamp)
                current = current.with_segment(segment)
                _segment_event(uow, project, env, segment.id, old, body, actor)
        for feature in incoming.features.values():
            existed = feature.name in current
            current, changed = _save(
                uow, project, env, feature.to_dict(), actor, current=current, now=stamp
            )
            if changed:
                (updated if existed else created).append(feature.name)
        for name in removed:
            if name in current:
                old_feature = current.features[name].to_dict()
                repo.delete(uow.conn, project, env, name)
                current = current.without_feature(name)
                deleted.append(name)
                uow.events.append(
                    "flag.changed",
                    f"flag:{name}",
                    actor,
                    {"environment": env, "before": old_feature, "after": None},
                    project=project,
                )
        for segment_id in removed_segments:
            old_segment = current.segments.get(segment_id)
            if old_segment is not None:
                repo.delete_segment(uow.conn, project, env, segment_id)
                current = current.without_segment(segment_id)
                _segment_event(uow, project, env, segment_id, old_segment, None, actor)
        problems = new_problems(before, current)
        if strict:
            raise_problems(problems)
        if created or updated or deleted or current.segments != before.segments:
            repo.bump(uow.conn, project, env)
    unchanged = len(incoming) - len(created) - len(updated)
    return {
        "environment": env,
        "created": created,
        "updated": updated,
        "deleted": deleted,
        "unchanged": unchanged,
        "segments": len(incoming.segments),
        "warnings": [
            {
                "flag": p.feature,
                "field": _field(p.path, current),
                "code": p.code,
                "message": p.message,
                "effect": problem_effect(p, current),
            }
            for p in problems
        ],
    }


def _field(path: str, state: FeatureState) -> str:
    """A problem's path with the flag's own place: ``strategies[0].parameters.IPs``."""
    head, dot, rest = path.partition(".")
    if head.startswith("features[") and dot:
        return rest
    if head.startswith("segments["):
        index = int(head[len("segments[") : -1])
        return f"segment {list(state.segments)[index]}" + (f".{rest}" if rest else "")
    return path


def _segment_event(
    uow: UnitOfWork,
    project: str,
    env: str,
    segment_id: int,
    old: Any,
    body: dict[str, Any] | None,
    actor: str,
) -> None:
    uow.events.append(
        "flag.segment-changed",
        f"segment:{segment_id}",
        actor,
        {"environment": env, "before": old.to_dict() if old is not None else None, "after": body},
        project=project,
    )


def export(store: Store, project: str, env: str) -> dict[str, Any]:
    return state(store, project, env).to_payload()


class Evaluation(TypedDict):
    name: str
    environment: str
    context: dict[str, Any]  # the Unleash context, as UnleashContext.to_dict writes it
    enabled: bool
    variant: dict[str, Any]  # as Variant.to_dict writes it


def evaluate(
    store: Store, project: str, env: str, name: str, context: Mapping[str, Any]
) -> Evaluation:
    """Whether ``name`` is on for ``context`` in ``env``, and which variant, as SDKs decide."""
    current = state(store, project, env)
    if name not in current:
        raise FlagNotFound(f"no flag '{name}' in environment '{env}'")
    ctx = UnleashContext.from_dict({"environment": env, **context})
    now = datetime.now(UTC)
    return {
        "name": name,
        "environment": env,
        "context": ctx.to_dict(),
        "enabled": current.is_enabled(name, ctx, now=now),
        "variant": current.get_variant(name, ctx, now=now).to_dict(),
    }


def parse_pairs(pairs: Sequence[str], hint: str, *, code: str) -> dict[str, str]:
    """``k=v`` pairs as a dict (values stay text); a pair without ``=`` or a key is refused
    with ``hint`` and ``code``."""
    out: dict[str, str] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise InputError(f"'{pair}' is not key=value", hint, code=code)
        out[key] = value
    return out


def parse_context(pairs: list[str]) -> dict[str, str]:
    """``k=v`` pairs as an Unleash context; names other than the standard fields are
    properties."""
    return parse_pairs(
        pairs, "pass --context userId=42 --context plan=pro", code="flag-context-invalid"
    )


class SpecSync(TypedDict):
    changed: list[str]  # ENV/NAME of each flag written
    unchanged: int


def sync_spec(
    store: Store, spec: Spec, actor: str, environments: Collection[str] | None = None
) -> SpecSync:
    """Bring the flags declared in shipyard.yaml ``flags:`` into the store.

    A declared flag is written to each environment it names; what is unchanged makes no event.
    """
    changed: list[str] = []
    unchanged = 0
    for name, flag in spec.flags.items():
        for env, declared in flag.environments.items():
            check_environment(env, environments)
            feature = {
                "name": name,
                "type": flag.type,
                "description": flag.description or None,
                "enabled": declared.enabled,
                "strategies": declared.strategies
                if declared.strategies
                else [_flexible(name, 100 if declared.rollout is None else declared.rollout)],
                "variants": declared.variants,
            }
            result = save(store, spec.project, env, feature, actor)
            if result["changed"]:
                changed.append(f"{env}/{name}")
            else:
                unchanged += 1
    return {"changed": changed, "unchanged": unchanged}
