"""What Unleash SDKs talk to: client tokens scoped to one environment, registration, metrics.

Client tokens look like Unleash's (``project:environment.secret``) so SDK configuration reads
the same; they are shown once and stored as a SHA-256 digest, as API tokens are. They grant
reading one environment's flags and reporting counts for it, nothing else.
"""

from __future__ import annotations

import hashlib
import json
import secrets
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import select

from shipyard.errors import Forbidden, InputError, Unauthenticated
from shipyard.services.flags import check_environment, client_payload_in
from shipyard.store import flags as repo
from shipyard.store.events import utcnow
from shipyard.store.flags import flag_client_tokens
from shipyard.store.uow import Store, UnitOfWork

SECRET_PREFIX = "shpc_"
ROLE = "flags-client"


@dataclass(frozen=True)
class ClientPrincipal:
    token_id: str
    project: str
    environment: str

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


def create_token(
    store: Store, project: str, env: str, name: str = "sdk", actor: str = "cli"
) -> dict[str, Any]:
    check_environment(env)
    token = f"{project}:{env}.{SECRET_PREFIX}{secrets.token_urlsafe(24)}"
    token_id = secrets.token_hex(8)
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
            },
        )
        uow.events.append(
            "token.created",
            f"token:{token_id}",
            actor,
            {
                "name": name,
                "role": ROLE,
                "project": project,
                "environment": env,
                "expires_at": None,
            },
            project=project,
        )
    return {"id": token_id, "name": name, "project": project, "environment": env, "token": token}


def authenticate(store: Store, header: str | None) -> ClientPrincipal:
    """The token as Unleash SDKs send it: the bare ``Authorization`` value (``Bearer`` too)."""
    with store.read() as uow:
        return _authenticate(uow, header)


def _authenticate(uow: UnitOfWork, header: str | None) -> ClientPrincipal:
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
        select(c.id, c.project, c.environment, c.revoked_at).where(c.token_hash == _digest(token))
    ).first()
    if row is None or row.revoked_at is not None:
        raise Unauthenticated(
            "the client token is not valid",
            "create one with `shipyard flags token create --env ENV`",
            code="flag-token-invalid",
        )
    return ClientPrincipal(row.id, row.project, row.environment)


def features(
    store: Store, header: str | None, env: str | None
) -> tuple[ClientPrincipal, int, dict[str, Any]]:
    """Who is asking and their environment's payload and revision, in one read: the path
    every polling SDK takes, most often to hear that nothing changed."""
    with store.read() as uow:
        who = _authenticate(uow, header)
        who.require_environment(env)
        rev, payload = client_payload_in(uow, store.url, who.project, who.environment)
    return who, rev, payload


def register(store: Store, who: ClientPrincipal, body: Mapping[str, Any]) -> None:
    app = _text(body, "appName")
    with store.begin() as uow:
        repo.register_client(
            uow.conn,
            {
                "project": who.project,
                "environment": who.environment,
                "app_name": app,
                "instance_id": str(body.get("instanceId") or "default")[:200],
                "sdk_version": str(body.get("sdkVersion") or "")[:100] or None,
                "strategies": json.dumps(list(body.get("strategies") or [])),
                "started": str(body.get("started") or "")[:40] or None,
                "last_seen": utcnow(),
            },
        )


def _text(body: Mapping[str, Any], key: str) -> str:
    value = body.get(key)
    if not isinstance(value, str) or not value or len(value) > 200:
        raise InputError(
            f"'{key}' must be a non-empty string of at most 200 characters",
            "send the body an Unleash SDK sends",
            code="flag-client-body-invalid",
        )
    return value


def record_metrics(
    store: Store, who: ClientPrincipal, body: Mapping[str, Any], now: datetime | None = None
) -> dict[str, Any]:
    """Add an SDK's ``bucket.toggles`` yes/no counts to the hour they were reported in."""
    app = _text(body, "appName")
    bucket = body.get("bucket")
    toggles = bucket.get("toggles") if isinstance(bucket, Mapping) else None
    if not isinstance(toggles, Mapping):
        raise InputError(
            "metrics need bucket.toggles",
            'send {"appName", "bucket": {"start", "stop", "toggles": {NAME: {"yes", "no"}}}}',
            code="flag-client-body-invalid",
        )
    counts: dict[str, tuple[int, int]] = {}
    for name, entry in toggles.items():
        if not isinstance(entry, Mapping):
            continue
        yes, no = entry.get("yes", 0), entry.get("no", 0)
        if not (isinstance(yes, int) and isinstance(no, int)) or yes < 0 or no < 0:
            raise InputError(
                f"counts of '{name}' must be non-negative integers",
                "send yes and no as counts",
                code="flag-client-body-invalid",
            )
        if yes or no:
            counts[str(name)[:200]] = (yes, no)
    hour = (now or datetime.now(UTC)).strftime("%Y-%m-%dT%H")
    if counts:
        with store.begin() as uow:
            repo.add_metrics(uow.conn, who.project, who.environment, app, hour, counts)
    return {"toggles": len(counts)}


def usage(store: Store, project: str, name: str | None = None) -> list[dict[str, Any]]:
    with store.read() as uow:
        return repo.metrics(uow.conn, project, name)
