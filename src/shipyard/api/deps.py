"""What routes depend on: the caller's principal, checked for a permission, and the store.

Apart from the app factory (``api/app.py``), so that routes and the app do not import each
other."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from fastapi import Depends, Request

from shipyard.domain.access import Permission
from shipyard.services.tokens import Principal, authenticate
from shipyard.store.uow import Store


def require(permission: Permission) -> Callable[..., Awaitable[Principal]]:
    async def dependency(request: Request) -> Principal:
        from starlette.concurrency import run_in_threadpool

        from shipyard.store.append import ACTING_TOKEN

        header = request.headers.get("authorization", "")
        scheme, _, token = header.partition(" ")
        principal = await run_in_threadpool(
            authenticate,
            request.app.state.store,
            token.strip() if scheme.lower() == "bearer" else None,
        )
        principal.require(permission)
        # Set in the request's own context (this runs on the event loop, not in a worker
        # thread), so the route and every event it appends see it; no other request does.
        ACTING_TOKEN.set(principal.token_id)
        return principal

    return dependency


def read_scope(who: Principal, project: str | None) -> str | None:
    """The project a read names (``?project=``), checked against the token; else the token's
    own, or None (every project) for a token tied to none."""
    if project is not None:
        who.require(Permission.READ, project)
    return project or who.project


def store_of(request: Request) -> Store:
    store: Store = request.app.state.store
    return store


StoreDep = Depends(store_of)
