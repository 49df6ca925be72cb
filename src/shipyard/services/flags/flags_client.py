"""What Unleash SDKs talk to: client tokens scoped to one environment, registration, metrics.

Client tokens look like Unleash's (``project:environment.secret``) so SDK configuration reads
the same; they are shown once and stored as a SHA-256 digest, as API tokens are, and can be
listed, revoked and given a lifetime as API tokens can. A client token grants reading one
environment's rule set and reporting counts for it; a frontend token (``kind`` frontend) only
asks the server for evaluated answers (``/api/frontend``), from the origins it lists.
"""

from __future__ import annotations

import hashlib
import json
import secrets
from collections.abc import Collection, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any, NotRequired, TypedDict

from sqlalchemy import select, update

from shipyard.domain.access import covers, token_usable
from shipyard.errors import Forbidden, InputError, NotFound, Unauthenticated
from shipyard.services.flags.flags import ClientPayload, check_environment, client_payload_in
from shipyard.store import flags as repo
from shipyard.store.append import utcnow
from shipyard.store.flags import flag_client_tokens, flag_revisions
from shipyard.store.schema import api_tokens
from shipyard.store.uow import Store, UnitOfWork

if TYPE_CHECKING:
    from shipyard.services.tokens import TokenRevoked

SECRET_PREFIX = "shpc_"
FRONTEND_PREFIX = "shpf_"
ROLE = "flags-client"
KINDS = {"client": ROLE, "frontend": "flags-frontend"}


@dataclass(frozen=True)
class ClientPrincipal:
    token_id: str
    project: str
    environment: str
    kind: str = "client"
    expires_at: datetime | None = None
    origins: tuple[str, ...] = ()

    def require_environment(self, env: str | None) -> None:
        """A client token reads only its own environment."""
        if env and env != self.environment:
            raise Forbidden(
                f"this client token is for environment '{self.environment}', not '{env}'",
                f"create one with `shipyard flags token create --env {env}`",
                code="flag-token-environment",
            )


def _digest(token: str) -> bytes:
    return hashlib.sha256(token.encode()).digest()


def _stamp(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _parse_ts(value: str | None) -> datetime | None:
    return datetime.fromisoformat(value.replace("Z", "+00:00")) if value else None


class _Origins(TypedDict, total=False):
    origins: list[str]


class ClientTokenCreated(TypedDict):
    """A new client or frontend token, its secret shown this once."""

    id: str
    name: str
    kind: str  # client or frontend
    project: str
    environment: str
    expires_at: str | None
    origins: NotRequired[list[str]]  # frontend tokens only
    token: str


def create_token(
    store: Store,
    project: str,
    env: str,
    name: str = "sdk",
    actor: str = "cli",
    *,
    expires_in: timedelta | None = None,
    kind: str = "client",
    origins: Collection[str] = (),
) -> ClientTokenCreated:
    """A client token (or, ``kind="frontend"``, a frontend token allowed from ``origins``)."""
    check_environment(env)
    if kind not in KINDS:
        raise InputError(
            f"unknown client token kind '{kind}'", "client or frontend", code="flag-token-kind"
        )
    checked = [check_origin(o) for o in origins]
    prefix = SECRET_PREFIX if kind == "client" else FRONTEND_PREFIX
    token = f"{project}:{env}.{prefix}{secrets.token_urlsafe(24)}"
    token_id = secrets.token_hex(8)
    expires = _stamp(datetime.now(UTC) + expires_in) if expires_in else None
    allowed: _Origins = {"origins": checked} if kind == "frontend" else {}
    with store.begin() as uow:
        uow.conn.execute(
            flag_client_tokens.insert(),
            {
                "id": token_id,
                "project": project,
                "environment": env,
                "name": name,
                "token_hash": _digest(token),
                "created_at": utcnow(),
                "expires_at": expires,
                "kind": kind,
                "origins": json.dumps(checked) if checked else None,
            },
        )
        uow.events.append(
            "token.created",
            f"token:{token_id}",
            actor,
            {
                "name": name,
                "role": KINDS[kind],
                "project": project,
                "environment": env,
                "expires_at": expires,
                **allowed,
            },
            project=project,
        )
    return {
        "id": token_id,
        "name": name,
        "kind": kind,
        "project": project,
        "environment": env,
        "expires_at": expires,
        **allowed,
        "token": token,
    }


def check_origin(origin: str) -> str:
    """A CORS origin as browsers send it (``https://shop.example``, no path), or ``*``."""
    from urllib.parse import urlsplit

    parts = urlsplit(origin)
    if origin == "*" or (
        parts.scheme in ("http", "https")
        and parts.netloc
        and not parts.path
        and not parts.query
        and not parts.fragment
    ):
        return origin
    raise InputError(
        f"'{origin}' is not a web origin",
        "give scheme, host and port only, e.g. https://shop.example or http://localhost:3000",
        code="flag-token-origin-invalid",
    )


class ClientToken(TypedDict):
    """A client or frontend token as listed (never its secret)."""

    id: str
    name: str
    kind: str
    project: str
    environment: str
    origins: list[str]
    created_at: str
    expires_at: str | None
    revoked_at: str | None
    role: str  # flags-client or flags-frontend


def list_client_tokens(
    store: Store, project: str | None = None, env: str | None = None
) -> list[ClientToken]:
    """Client and frontend tokens (never their secrets), of ``project`` if given."""
    c = flag_client_tokens.c
    query = select(
        c.id,
        c.name,
        c.kind,
        c.project,
        c.environment,
        c.origins,
        c.created_at,
        c.expires_at,
        c.revoked_at,
    )
    if project is not None:
        query = query.where(c.project == project)
    if env is not None:
        query = query.where(c.environment == env)
    with store.read() as uow:
        rows = uow.conn.execute(query.order_by(c.created_at)).all()
    return [
        {
            "id": r.id,
            "name": r.name,
            "kind": r.kind,
            "project": r.project,
            "environment": r.environment,
            "origins": json.loads(r.origins) if r.origins else [],
            "created_at": r.created_at,
            "expires_at": r.expires_at,
            "revoked_at": r.revoked_at,
            "role": KINDS.get(r.kind, ROLE),
        }
        for r in rows
    ]


def revoke_client_token(
    store: Store, token_id: str, actor: str = "cli", scope: str | None = None
) -> TokenRevoked | None:
    """Revoke a client or frontend token; None if there is none with that id in ``scope``.

    Its open streams are told at commit (see ``store.flag_signal``) and end within a second.
    """
    c = flag_client_tokens.c
    with store.begin() as uow:
        row = uow.conn.execute(select(flag_client_tokens).where(c.id == token_id)).first()
        if row is None or not covers(scope, row.project):
            return None
        if row.revoked_at is None:
            uow.conn.execute(
                update(flag_client_tokens).where(c.id == token_id).values(revoked_at=utcnow())
            )
            repo.notify(uow.conn, f"token {token_id}")
            uow.events.append(
                "token.revoked",
                f"token:{token_id}",
                actor,
                {
                    "name": row.name,
                    "role": KINDS.get(row.kind, ROLE),
                    "environment": row.environment,
                },
                project=row.project,
            )
    return {"id": token_id, "revoked": True}


def revoke_in_project(store: Store, project: str, token_id: str, actor: str) -> TokenRevoked:
    """``revoke_client_token`` for the flag routes: a token of another project is not found."""
    done = revoke_client_token(store, token_id, actor, scope=project)
    if done is None:
        raise NotFound(
            f"no client token with id '{token_id}' in project '{project}'",
            "list them with `shipyard flags token list`",
            code="token-not-found",
        )
    return done


def watch_state(
    store: Store, keys: Collection[tuple[str, str]], token_ids: Collection[str]
) -> tuple[dict[tuple[str, str], int], dict[str, str]]:
    """For the stream watcher, in one read: the revision of each (project, environment) and,
    among ``token_ids`` (client or API tokens), those no longer usable and why."""
    now = datetime.now(UTC)
    projects = {p for p, _ in keys}
    r = flag_revisions.c
    t = flag_client_tokens.c
    a = api_tokens.c
    ids = list(token_ids)
    with store.read() as uow:
        revisions = {
            (row.project, row.environment): int(row.revision)
            for row in uow.conn.execute(
                select(r.project, r.environment, r.revision).where(r.project.in_(projects))
            )
            if (row.project, row.environment) in keys
        }
        rows = list(
            uow.conn.execute(select(t.id, t.expires_at, t.revoked_at).where(t.id.in_(ids)))
        ) + list(uow.conn.execute(select(a.id, a.expires_at, a.revoked_at).where(a.id.in_(ids))))
    found = {row.id for row in rows}
    unusable = {i: "revoked" for i in ids if i not in found}  # deleted outright
    for row in rows:
        why = token_usable(_parse_ts(row.expires_at), _parse_ts(row.revoked_at), now)
        if why is not None:
            unusable[row.id] = why
    return revisions, unusable


def authenticate(store: Store, header: str | None, kind: str = "client") -> ClientPrincipal:
    """The token as Unleash SDKs send it: the bare ``Authorization`` value (``Bearer`` too)."""
    with store.read() as uow:
        return authenticate_in(uow, header, kind)


def authenticate_in(uow: UnitOfWork, header: str | None, kind: str = "client") -> ClientPrincipal:
    token = (header or "").strip()
    if token.lower().startswith("bearer "):
        token = token[7:].strip()
    if not token:
        raise Unauthenticated(
            "this request needs a client token",
            "send `Authorization: <token>`; create one with `shipyard flags token create --env E`",
            code="flag-token-missing",
        )
    c = flag_client_tokens.c
    row = uow.conn.execute(
        select(c.id, c.project, c.environment, c.revoked_at, c.expires_at, c.kind, c.origins).where(
            c.token_hash == _digest(token)
        )
    ).first()
    if row is None or row.kind != kind:
        raise Unauthenticated(
            "the client token is not valid"
            + (f" here: it is a {row.kind} token" if row is not None else ""),
            f"create one with `shipyard flags token create --env ENV"
            f"{' --frontend --origin URL' if kind == 'frontend' else ''}`",
            code="flag-token-invalid",
        )
    expires = _parse_ts(row.expires_at)
    why = token_usable(expires, _parse_ts(row.revoked_at), datetime.now(UTC))
    if why is not None:
        raise Unauthenticated(
            f"the client token was {why}",
            "create a new one with `shipyard flags token create --env ENV`",
            code="flag-token-invalid",
        )
    origins = tuple(json.loads(row.origins)) if row.origins else ()
    return ClientPrincipal(row.id, row.project, row.environment, row.kind, expires, origins)


def features(
    store: Store, header: str | None, env: str | None
) -> tuple[ClientPrincipal, int, ClientPayload]:
    """Who is asking and their environment's payload and revision, in one read: the path
    every polling SDK takes, most often to hear that nothing changed."""
    with store.read() as uow:
        who = authenticate_in(uow, header)
        who.require_environment(env)
        rev, payload = client_payload_in(uow, store.url, who.project, who.environment)
    return who, rev, payload


# What one SDK report may hold: generous for any real service, small enough that a hostile or
# broken client cannot fill the tables (these rows feed `flags stale` and exposures).
MAX_TOGGLES = 5_000
MAX_VARIANTS = 100
MAX_STRATEGIES = 100
MAX_COUNT = 2**53  # a count past this is no count a client made


class ClientBodyInvalid(InputError):
    """A body an Unleash SDK would not send."""

    code = "flag-client-body-invalid"
    default_hint = "send the body an Unleash SDK sends"


class ClientBodyTooLarge(InputError):
    code = "flag-client-body-too-large"
    http_status = 413
    default_hint = (
        f"send at most {MAX_TOGGLES:,} toggles with {MAX_VARIANTS} variants each, and at most "
        f"{MAX_STRATEGIES} strategy names; send reports more often if there are more"
    )


def register(store: Store, who: ClientPrincipal, body: Mapping[str, Any]) -> None:
    app = _text(body, "appName")
    strategies = body.get("strategies") or []
    if not isinstance(strategies, list) or not all(isinstance(x, str) for x in strategies):
        raise ClientBodyInvalid("'strategies' must be a list of strategy names")
    if len(strategies) > MAX_STRATEGIES:
        raise ClientBodyTooLarge(f"{len(strategies)} strategies, over {MAX_STRATEGIES}")
    with store.begin() as uow:
        repo.register_client(
            uow.conn,
            {
                "project": who.project,
                "environment": who.environment,
                "app_name": app,
                "instance_id": str(body.get("instanceId") or "default")[:200],
                "sdk_version": str(body.get("sdkVersion") or "")[:100] or None,
                "strategies": json.dumps([x[:200] for x in strategies]),
                "started": str(body.get("started") or "")[:40] or None,
                "last_seen": utcnow(),
            },
        )


def _text(body: Mapping[str, Any], key: str) -> str:
    value = body.get(key)
    if not isinstance(value, str) or not value or len(value) > 200:
        raise ClientBodyInvalid(f"'{key}' must be a non-empty string of at most 200 characters")
    return value


def _count(value: object, what: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value < MAX_COUNT:
        raise ClientBodyInvalid(
            f"{what} must be a non-negative integer count",
            "send yes, no and variant counts as whole numbers",
        )
    return value


class MetricsRecorded(TypedDict):
    toggles: int  # flags whose counts were kept
    ignored: int  # flags the environment does not hold


def record_metrics(
    store: Store, who: ClientPrincipal, body: Mapping[str, Any], now: datetime | None = None
) -> MetricsRecorded:
    """Add an SDK's ``bucket.toggles`` yes/no counts to the hour they were reported in, and its
    variant counts (exposures) to the day; flags the environment does not hold are ignored."""
    app = _text(body, "appName")
    bucket = body.get("bucket")
    toggles = bucket.get("toggles") if isinstance(bucket, Mapping) else None
    if not isinstance(toggles, Mapping):
        raise ClientBodyInvalid(
            "metrics need bucket.toggles",
            'send {"appName", "bucket": {"start", "stop", "toggles": {NAME: {"yes", "no"}}}}',
        )
    if len(toggles) > MAX_TOGGLES:
        raise ClientBodyTooLarge(f"{len(toggles):,} toggles in one report, over {MAX_TOGGLES:,}")
    counts: dict[str, tuple[int, int]] = {}
    variants: dict[tuple[str, str], int] = {}
    for name, entry in toggles.items():
        if not isinstance(entry, Mapping):
            continue
        yes = _count(entry.get("yes", 0), f"yes of '{name}'")
        no = _count(entry.get("no", 0), f"no of '{name}'")
        if yes or no:
            counts[str(name)] = (yes, no)
        seen = entry.get("variants") or {}
        if not isinstance(seen, Mapping):
            continue
        if len(seen) > MAX_VARIANTS:
            raise ClientBodyTooLarge(f"{len(seen)} variants of '{name}', over {MAX_VARIANTS}")
        for variant, n in seen.items():
            if _count(n, f"variant '{variant}' of '{name}'"):
                variants[(str(name), str(variant)[:200])] = _count(n, "variant count")
    moment = now or datetime.now(UTC)
    if not counts and not variants:
        return {"toggles": 0, "ignored": 0}
    with store.begin() as uow:
        known = set(repo.names(uow.conn, who.project, who.environment))
        kept = {k: v for k, v in counts.items() if k in known}
        exposures = {k: v for k, v in variants.items() if k[0] in known}
        if kept:
            hour = moment.strftime("%Y-%m-%dT%H")
            repo.add_metrics(uow.conn, who.project, who.environment, app, hour, kept)
        if exposures:
            day = moment.strftime("%Y-%m-%d")
            repo.add_variant_counts(uow.conn, who.project, who.environment, app, day, exposures)
    ignored = len({n for n in counts} | {n for n, _ in variants}) - len(
        set(kept) | {n for n, _ in exposures}
    )
    return {"toggles": len(kept), "ignored": ignored}


def usage(store: Store, project: str, name: str | None = None) -> list[repo.MetricRow]:
    with store.read() as uow:
        return repo.metrics(uow.conn, project, name)
