"""API tokens: random, shown once, stored only as a SHA-256 digest."""

from __future__ import annotations

import hashlib
import json
import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import NotRequired, TypedDict

from sqlalchemy import select, update

from shipyard.domain.access import (
    Permission,
    Role,
    allowed,
    covers,
    grant_refusal,
    reaches_environment,
    token_usable,
)
from shipyard.errors import Forbidden, InputError, NotFound, Unauthenticated
from shipyard.store.append import utcnow
from shipyard.store.schema import api_tokens
from shipyard.store.uow import Store

PREFIX = "shp_"
SYSTEM_PROJECT = "*"


def _digest(token: str) -> bytes:
    return hashlib.sha256(token.encode()).digest()


def _parse_ts(value: str | None) -> datetime | None:
    return datetime.fromisoformat(value.replace("Z", "+00:00")) if value else None


def _environment(name: str) -> str:
    from shipyard.services.flags.flags import check_environment

    return check_environment(name)


def parse_role(value: str) -> Role:
    try:
        return Role(value)
    except ValueError as exc:
        raise InputError(
            f"unknown role '{value}'",
            "one of " + ", ".join(r.value for r in Role),
            code="role-unknown",
        ) from exc


@dataclass(frozen=True)
class Principal:
    token_id: str
    name: str
    role: Role
    project: str | None
    environments: tuple[str, ...] | None = None  # None: every environment

    def require(
        self, permission: Permission, project: str | None = None, environment: str | None = None
    ) -> None:
        if not allowed(self.role, permission):
            raise Forbidden(
                f"role '{self.role}' may not {permission.value}",
                f"use a token whose role grants '{permission.value}'",
            )
        if project is not None and self.project not in (None, project):
            raise Forbidden(
                f"this token is limited to project '{self.project}'", "use a token for this project"
            )
        if environment is not None:
            self.require_environment(environment)

    def require_environment(self, environment: str) -> None:
        """A token limited to environments acts (and reads) in those alone."""
        if not reaches_environment(self.environments, environment):
            assert self.environments is not None
            raise Forbidden(
                f"this token is limited to environment(s) {', '.join(self.environments)}, "
                f"not '{environment}'",
                "use a token for this environment",
                code="token-environment-refused",
            )

    def require_global(self, permission: Permission) -> None:
        """For actions over every project (checkpoints, keys): a token tied to no project."""
        self.require(permission)
        if self.project is not None:
            raise Forbidden(
                f"this token is limited to project '{self.project}'; "
                f"this action concerns every project",
                "use a token created without --project",
            )


class TokenMade(TypedDict):
    """A new API token: the only time its secret is shown."""

    id: str
    name: str
    role: str
    project: str | None
    environments: list[str] | None  # None: every environment
    expires_at: str | None
    token: str


def create(
    store: Store,
    role: str,
    name: str,
    *,
    project: str | None = None,
    expires_in: timedelta | None = None,
    actor: str = "cli",
    maker: Principal | None = None,
    environments: Sequence[str] | None = None,
) -> TokenMade:
    """A new token; ``maker`` (None on the server's own machine) bounds its role and project,
    and a project-bound maker's token is for the maker's project unless another is named."""
    r = parse_role(role)
    if maker is not None:
        project = project if project is not None else maker.project
        if environments is None and maker.environments is not None:
            environments = maker.environments
        why = grant_refusal(maker.role, maker.project, r, project, maker.environments, environments)
        if why is not None:
            raise Forbidden(
                why, "a token can only create tokens at or below its own role and scope"
            )
    envs = None if environments is None else sorted({_environment(e) for e in environments})
    token = PREFIX + secrets.token_urlsafe(32)
    token_id = secrets.token_hex(8)
    expires = (
        (datetime.now(UTC) + expires_in).strftime("%Y-%m-%dT%H:%M:%S.%fZ") if expires_in else None
    )
    with store.begin() as uow:
        uow.conn.execute(
            api_tokens.insert(),
            {
                "id": token_id,
                "name": name,
                "role": r.value,
                "project": project,
                "token_hash": _digest(token),
                "created_at": utcnow(),
                "expires_at": expires,
                "environments": json.dumps(envs) if envs is not None else None,
            },
        )
        # The event names the token, never its secret.
        uow.events.append(
            "token.created",
            f"token:{token_id}",
            actor,
            {
                "name": name,
                "role": r.value,
                "project": project,
                "expires_at": expires,
                **({"environments": envs} if envs is not None else {}),
            },
            project=project or SYSTEM_PROJECT,
        )
    return {
        "id": token_id,
        "name": name,
        "role": r.value,
        "project": project,
        "environments": envs,
        "expires_at": expires,
        "token": token,
    }


def authenticate(store: Store, token: str | None) -> Principal:
    if not token:
        raise Unauthenticated("this request needs an API token")
    with store.read() as uow:
        row = uow.conn.execute(
            select(api_tokens).where(api_tokens.c.token_hash == _digest(token))
        ).first()
    if row is None:
        raise Unauthenticated("the API token is not valid")
    why = token_usable(_parse_ts(row.expires_at), _parse_ts(row.revoked_at), datetime.now(UTC))
    if why is not None:
        raise Unauthenticated(
            f"the API token was {why}", "create a new one with `shipyard token create`"
        )
    envs = tuple(json.loads(row.environments)) if row.environments else None
    return Principal(row.id, row.name, Role(row.role), row.project, envs)


class TokenRow(TypedDict):
    """A token as `shipyard token list` shows it: an API token or a flag client token."""

    id: str
    name: str
    role: str
    project: str | None
    environments: NotRequired[list[str] | None]  # API tokens only; None: every environment
    created_at: str
    expires_at: str | None
    revoked_at: str | None
    environment: str | None  # a flag client token's one environment; None for API tokens


def list_tokens(store: Store, scope: str | None = None) -> list[TokenRow]:
    """Every token, API and flag client tokens alike, or only those of project ``scope`` for a
    caller limited to it."""
    from shipyard.services.flags.flags_client import list_client_tokens

    c = api_tokens.c
    query = select(
        c.id, c.name, c.role, c.project, c.environments, c.created_at, c.expires_at, c.revoked_at
    )
    if scope is not None:
        query = query.where(c.project == scope)
    with store.read() as uow:
        rows = uow.conn.execute(query.order_by(c.created_at)).all()
    out: list[TokenRow] = [
        {
            "id": r.id,
            "name": r.name,
            "role": r.role,
            "project": r.project,
            "environments": json.loads(r.environments) if r.environments else None,
            "created_at": r.created_at,
            "expires_at": r.expires_at,
            "revoked_at": r.revoked_at,
            "environment": None,
        }
        for r in rows
    ]
    for t in list_client_tokens(store, scope):
        out.append(
            {
                "id": t["id"],
                "name": t["name"],
                "role": t["role"],
                "project": t["project"],
                "created_at": t["created_at"],
                "expires_at": t["expires_at"],
                "revoked_at": t["revoked_at"],
                "environment": t["environment"],
            }
        )
    return sorted(out, key=lambda r: str(r["created_at"]))


class TokenRevoked(TypedDict):
    id: str
    revoked: bool


def revoke(
    store: Store, token_id: str, actor: str = "cli", scope: str | None = None
) -> TokenRevoked:
    """Revoke a token (an API token or a flag client token); a caller limited to project
    ``scope`` sees no token of another. Streams opened with it end within a second."""
    from shipyard.services.flags.flags_client import revoke_client_token
    from shipyard.store.flags import notify

    with store.read() as uow:
        known = uow.conn.execute(select(api_tokens.c.id).where(api_tokens.c.id == token_id)).first()
    if known is None:
        done = revoke_client_token(store, token_id, actor, scope)
        if done is not None:
            return done
    with store.begin() as uow:
        row = uow.conn.execute(select(api_tokens).where(api_tokens.c.id == token_id)).first()
        if row is None or not covers(scope, row.project):
            raise NotFound(
                f"no token with id '{token_id}'",
                "list them with `shipyard token list`",
                code="token-not-found",
            )
        if row.revoked_at is None:
            uow.conn.execute(
                update(api_tokens).where(api_tokens.c.id == token_id).values(revoked_at=utcnow())
            )
            notify(uow.conn, f"token {token_id}")
            uow.events.append(
                "token.revoked",
                f"token:{token_id}",
                actor,
                {"name": row.name},
                project=row.project or SYSTEM_PROJECT,
            )
    return {"id": token_id, "revoked": True}
