"""The Unleash client API, so Unleash SDKs work against Shipyard unchanged.

``GET /api/client/features`` (ETag, 304 on ``If-None-Match``), ``POST /api/client/register``,
``POST /api/client/metrics`` and ``GET /api/client/streaming`` (server-sent events in Unleash's
delta format: ``unleash-connected`` with a hydration, then ``unleash-updated`` per change).
Each is authenticated by an environment-scoped client token in ``Authorization``, bare as
Unleash SDKs send it.

Replicas share nothing but the database. A stream waits on the server's one flag feed
(``api.flag_feed``: LISTEN/NOTIFY on PostgreSQL, SQLite's change counter), which wakes it when
its environment's revision moves, and ends it within a second when its token is revoked; it
ends by itself when its token expires.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator, Mapping
from datetime import UTC, datetime
from typing import Any

from fastapi import APIRouter, Body, Depends, Request, Response
from fastapi.responses import StreamingResponse

from shipyard.api.deps import StoreDep
from shipyard.services.flags import flags, flags_client
from shipyard.services.flags.flags_client import ClientPrincipal
from shipyard.store.uow import Store

router = APIRouter()
PING_S = 15.0  # a comment line now and then keeps proxies from closing an idle stream
# A stream ends after this long and the client reconnects: a replica being stopped or drained
# is never held open by its streams for longer.
MAX_STREAM_S = 300.0


def client(request: Request, environment: str | None = None) -> ClientPrincipal:
    """The client token's scope; ``environment``, when a client names one, must be its own."""
    who = flags_client.authenticate(request.app.state.store, request.headers.get("authorization"))
    who.require_environment(environment or request.headers.get("unleash-environment"))
    return who


Client = Depends(client)


def _matches(header: str | None, tag: str) -> bool:
    if not header:
        return False
    return any(v.strip().removeprefix("W/") in (tag, "*") for v in header.split(","))


@router.get("/features")
def features(request: Request, environment: str | None = None, store: Store = StoreDep) -> Response:
    who, rev, payload = flags_client.features(
        store,
        request.headers.get("authorization"),
        environment or request.headers.get("unleash-environment"),
    )
    tag = flags.etag(who.project, who.environment, rev)
    headers = {"ETag": tag, "Cache-Control": "no-cache"}
    if _matches(request.headers.get("if-none-match"), tag):
        return Response(status_code=304, headers=headers)
    return Response(json.dumps(payload), media_type="application/json", headers=headers)


@router.post("/register", status_code=202)
def register(
    body: dict[str, Any] = Body(...), who: ClientPrincipal = Client, store: Store = StoreDep
) -> Response:
    flags_client.register(store, who, body)
    return Response(status_code=202)


@router.post("/metrics", status_code=202)
def metrics(
    body: dict[str, Any] = Body(...), who: ClientPrincipal = Client, store: Store = StoreDep
) -> Response:
    flags_client.record_metrics(store, who, body)
    return Response(status_code=202)


@router.get("/streaming")
def streaming(
    request: Request, who: ClientPrincipal = Client, store: Store = StoreDep
) -> StreamingResponse:
    return event_stream(request, store, who.project, who.environment, who.token_id, who.expires_at)


def _sse(event: str, data: Mapping[str, Any], rev: int) -> str:
    return f"id: {rev}\nevent: {event}\ndata: {json.dumps(data)}\n\n"


def changes(old: Mapping[str, Any], new: Mapping[str, Any], rev: int) -> list[dict[str, Any]]:
    """Delta events that turn payload ``old`` into ``new``."""
    before = {f["name"]: f for f in old["features"]}
    after = {f["name"]: f for f in new["features"]}
    seg_before = {s["id"]: s for s in old.get("segments", [])}
    seg_after = {s["id"]: s for s in new.get("segments", [])}
    out: list[dict[str, Any]] = []
    for sid, seg in seg_after.items():
        if seg_before.get(sid) != seg:
            out.append({"eventId": rev, "type": "segment-updated", "segment": seg})
    for name, feature in after.items():
        if before.get(name) != feature:
            out.append({"eventId": rev, "type": "feature-updated", "feature": feature})
    for name, feature in before.items():
        if name not in after:
            out.append(
                {
                    "eventId": rev,
                    "type": "feature-removed",
                    "featureName": name,
                    "project": feature.get("project") or "default",
                }
            )
    for sid in seg_before:
        if sid not in seg_after:
            out.append({"eventId": rev, "type": "segment-removed", "segmentId": sid})
    return out


def event_stream(
    request: Request,
    store: Store,
    project: str,
    env: str,
    token_id: str,
    expires_at: datetime | None = None,
) -> StreamingResponse:
    """The environment's flags now, then each change as it commits, until the token is
    revoked or expires, the client leaves, or ``MAX_STREAM_S`` passes."""
    from shipyard.api.flag_feed import FlagFeed

    feed: FlagFeed = request.app.state.flag_feed

    async def events() -> AsyncIterator[str]:
        rev, payload = await asyncio.to_thread(flags.client_payload, store, project, env)
        sub = feed.subscribe(project, env, token_id, rev)
        try:
            hydration = {
                "eventId": rev,
                "type": "hydration",
                "features": payload["features"],
                "segments": payload["segments"],
            }
            yield _sse("unleash-connected", {"events": [hydration]}, rev)
            end = time.monotonic() + MAX_STREAM_S
            if expires_at is not None:
                left = (expires_at - datetime.now(UTC)).total_seconds()
                end = min(end, time.monotonic() + max(left, 0.0))
            while sub.closed is None:
                timeout = min(PING_S, end - time.monotonic())
                if timeout <= 0:
                    break
                try:
                    await asyncio.wait_for(sub.wake.wait(), timeout)
                except TimeoutError:
                    yield ": ping\n\n"
                    continue
                sub.wake.clear()
                if sub.closed is not None:
                    break
                new_rev, new_payload = await asyncio.to_thread(
                    flags.client_payload, store, project, env
                )
                if new_rev == rev:
                    continue
                delta = changes(payload, new_payload, new_rev)
                rev, payload = new_rev, new_payload
                sub.revision = rev
                if delta:
                    yield _sse("unleash-updated", {"events": delta}, rev)
        finally:
            feed.unsubscribe(sub)

    return StreamingResponse(
        events(),
        media_type="text/event-stream",
        headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
    )
