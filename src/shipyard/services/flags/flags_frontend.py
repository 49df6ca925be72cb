"""The Unleash frontend API: browsers and mobile apps ask, the server evaluates.

A frontend token (``flags_client.create_token(kind="frontend")``) carries no rule set to the
client: the server evaluates every flag of the token's environment for the context sent
(``userId``, ``sessionId``, ``remoteAddress``, ``properties[...]`` in the query, or
``{"context": ...}`` in a POST body, as ``unleash-proxy-client`` sends it) and answers only
the flags that are on, each with its variant, in Unleash's ``{"toggles": [...]}`` shape. The
context's environment is the token's, whatever the client says. The ETag is a digest of the
answer, so an unchanged answer for the same context is a 304.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from typing import Any, TypedDict

from shipyard.services.flags.flags import compiled_state_in
from shipyard.services.flags.flags_client import ClientPrincipal, authenticate_in
from shipyard.store.flags import flag_client_tokens
from shipyard.store.uow import Store
from shipyard_sdk.flags import CONTEXT_FIELDS, UnleashContext

MAX_CONTEXT_FIELDS = 100  # a context is a handful of fields; more is not a browser's


def context_from_query(pairs: Iterable[tuple[str, str]]) -> dict[str, str | dict[str, str]]:
    """A context from query parameters: ``properties[plan]=pro`` is a property, the standard
    fields are fields, and any other name is a property too (as Unleash reads them)."""
    out: dict[str, str | dict[str, str]] = {}
    props: dict[str, str] = {}
    for key, value in list(pairs)[:MAX_CONTEXT_FIELDS]:
        if key.startswith("properties[") and key.endswith("]"):
            props[key[len("properties[") : -1]] = value
        elif key in CONTEXT_FIELDS:
            out[key] = value
        else:
            props[key] = value
    if props:
        out["properties"] = props
    return out


class FrontendToggle(TypedDict):
    name: str
    enabled: bool  # always True: only the flags that are on are answered
    variant: dict[str, Any]  # as Variant.to_dict writes it
    impressionData: bool


class FrontendAnswer(TypedDict):
    """What ``/api/frontend`` answers, in Unleash's shape."""

    toggles: list[FrontendToggle]


def evaluate(
    store: Store,
    header: str | None,
    context: Mapping[str, Any],
    remote_address: str | None,
    now: datetime | None = None,
) -> tuple[ClientPrincipal, FrontendAnswer, str]:
    """Who asks (a frontend token), the flags that are on for ``context``, and the ETag."""
    with store.read() as uow:
        who = authenticate_in(uow, header, "frontend")
        state = compiled_state_in(uow, store.url, who.project, who.environment)
    fields = dict(context)
    fields["environment"] = who.environment
    if remote_address and not fields.get("remoteAddress"):
        fields["remoteAddress"] = remote_address
    ctx = UnleashContext.from_dict(fields)
    moment = now or datetime.now(UTC)
    toggles: list[FrontendToggle] = []
    for name, feature in state.features.items():
        if not state.is_enabled(name, ctx, now=moment):
            continue
        toggles.append(
            {
                "name": name,
                "enabled": True,
                "variant": state.get_variant(name, ctx, now=moment).to_dict(),
                "impressionData": feature.impression_data,
            }
        )
    body: FrontendAnswer = {"toggles": toggles}
    digest = hashlib.sha256(json.dumps(body, sort_keys=True).encode()).hexdigest()[:32]
    return who, body, f'"{digest}"'


def origin_allowed(origins: tuple[str, ...], origin: str | None) -> bool:
    """A request without an Origin is no browser's and CORS does not apply to it."""
    return origin is None or "*" in origins or origin in origins


def any_token_allows(store: Store, origin: str) -> bool:
    """For a preflight, which carries no token: whether any live frontend token lists the
    origin. The request that follows is checked against its own token's origins."""
    from sqlalchemy import select

    c = flag_client_tokens.c
    now = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    with store.read() as uow:
        rows = uow.conn.execute(
            select(c.origins, c.expires_at).where(
                c.kind == "frontend", c.revoked_at.is_(None), c.origins.is_not(None)
            )
        ).all()
    for row in rows:
        if row.expires_at is not None and row.expires_at <= now:
            continue
        listed = json.loads(row.origins)
        if "*" in listed or origin in listed:
            return True
    return False
