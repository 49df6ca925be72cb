"""Login by cookie, CSRF tokens, and the principal of a dashboard request.

The cookie holds the API token itself (HttpOnly: no script reads it; SameSite=Strict: no other
site's page sends it), so replicas share nothing but the tokens table. A form's CSRF token is
derived from the session token by a one-way hash: only a page of this origin, rendered for this
session, can hold it, and it reveals nothing of the token. The login form, which has no session
yet, uses a double-submitted random value instead.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from urllib.parse import urlsplit

from fastapi import Request
from starlette.concurrency import run_in_threadpool

from shipyard.errors import Forbidden, Unauthenticated
from shipyard.services.tokens import Principal, authenticate

COOKIE = "shipyard_session"
LOGIN_COOKIE = "shipyard_login"
FLASH_COOKIE = "shipyard_flash"
SESSION_MAX_AGE_S = 12 * 3600


class CsrfFailed(Forbidden):
    code = "csrf-failed"
    default_hint = "reload the page and submit the form again"


def csrf_for(token: str) -> str:
    return hashlib.sha256(b"shipyard-csrf\0" + token.encode()).hexdigest()[:40]


def new_login_nonce() -> str:
    return secrets.token_urlsafe(24)


def same_origin(request: Request) -> bool:
    """A browser names the page a form came from; it must be one of this server's own.
    A client that sends no Origin (old browsers, curl) is judged by its CSRF token alone."""
    origin = request.headers.get("origin")
    if origin is None or origin == "null":
        return origin is None
    host = request.headers.get("host", "")
    return urlsplit(origin).netloc == host


def check_csrf(request: Request, sent: str | None, expected: str) -> None:
    if not same_origin(request):
        raise CsrfFailed("this form was sent from another site's page")
    if not sent or not hmac.compare_digest(sent, expected):
        raise CsrfFailed("this form's CSRF token is missing or does not match your session")


async def principal_of(request: Request) -> tuple[Principal, str]:
    """The session's principal and its token, or Unauthenticated (the page sends to /login)."""
    from shipyard.store.append import ACTING_TOKEN

    token = request.cookies.get(COOKIE)
    if not token:
        raise Unauthenticated("log in with an API token to see the dashboard")
    who = await run_in_threadpool(authenticate, request.app.state.store, token)
    # As the API's `require` does: every event this request appends names its token.
    ACTING_TOKEN.set(who.token_id)
    return who, token


def secure(request: Request) -> bool:
    return request.url.scheme == "https"
