"""The API's one input policy (domain/inputs.py, api/inputs.py) against a running server, on
SQLite and PostgreSQL: each input from the issue that made it answer 500, drop the connection
or store something it should not, is now a 4xx with a code and a hint, and nothing is stored."""

from __future__ import annotations

import socket
from urllib.parse import urlsplit

import pytest

from tests.security.conftest import World

ART = "/api/v1/artifacts"
HUGE = str(2**70)

REFUSED = [
    # (method, path, body, status, code)
    ("GET", f"/api/v1/runs/{HUGE}", None, 422, "integer-out-of-range"),
    (
        "POST",
        "/api/v1/flags/requests/93167536569308/reject?project=bravo&env=dev",
        {},
        422,
        "integer-out-of-range",
    ),
    (
        "GET",
        f"/api/v1/flags/segments/{HUGE}?project=bravo&env=dev",
        None,
        422,
        "integer-out-of-range",
    ),
    (
        "POST",
        f"/api/v1/flags/schedules/{HUGE}/cancel?project=bravo&env=dev",
        None,
        422,
        "integer-out-of-range",
    ),
    (
        "POST",
        "/api/v1/tokens",
        {"role": "viewer", "name": "t", "expires_in_seconds": 2**70},
        422,
        "integer-out-of-range",
    ),
    (
        "POST",
        "/api/v1/tokens",
        {"role": "viewer", "name": "t", "expires_in_seconds": 10**15},
        422,
        "invalid-request",
    ),
    ("GET", "/api/v1/audit/events?since=9999d", None, 422, "since-invalid"),
    ("GET", "/api/v1/audit/events?kind=a%00b", None, 422, "input-control-character"),
    ("GET", "/api/v1/audit/events?subject=" + "x" * 5000, None, 422, "input-too-long"),
    (
        "POST",
        "/api/v1/release/break-glass?project=bravo",
        {"environment": "dev", "reason": "r", "ttl": "99999999d"},
        422,
        "duration-invalid",
    ),
    ("PUT", f"{ART}/evil/1.0.0?project=bravo&filename=..", b"x", 422, "filename-invalid"),
    (
        "PUT",
        f"{ART}/evil/1.0.0?project=..%2F..%2Fx&filename=a.bin",
        b"x",
        422,
        "project-name-invalid",
    ),
    (
        "PUT",
        f"{ART}/evil/1.0.0?project=%27%20OR%201%3D1--&filename=a.bin",
        b"x",
        422,
        "project-name-invalid",
    ),
    (
        "PUT",
        f"{ART}/evil%0Ax/1.0.0?project=bravo&filename=a.bin",
        b"x",
        422,
        "input-control-character",
    ),
    (
        "PUT",
        f"{ART}/evil/1.0.0%0A?project=bravo&filename=a.bin",
        b"x",
        422,
        "input-control-character",
    ),
    (
        "PUT",
        f"{ART}/evil/1.0.0?project=bravo&filename=a.bin&media_type=text/html%0D%0AX:%20y",
        b"x",
        422,
        "input-control-character",
    ),
    (
        "PUT",
        f"{ART}/evil/1.0.0?project=bravo&filename=a.bin&media_type=text/html",
        b"x",
        422,
        "media-type-invalid",
    ),
    ("POST", "/api/v1/release/locks/dev", {"reason": "r" * 3_000_000}, 422, "text-too-long"),
    (
        "POST",
        "/api/v1/incidents",
        {"service": "s", "unlinked": True, "project": "bravo", "title": "t" * 2_000_000},
        422,
        "text-too-long",
    ),
    (
        "POST",
        "/api/v1/incidents",
        {"service": "s", "unlinked": True, "project": "../../x", "title": "t"},
        422,
        "project-name-invalid",
    ),
    (
        "POST",
        "/api/v1/release/freezes",
        {"name": "f\x00", "start": "2099-01-01", "end": "2099-01-02"},
        422,
        "input-control-character",
    ),
]


@pytest.mark.parametrize(("method", "path", "body", "status", "code"), REFUSED)
def test_bad_input_is_a_4xx_with_a_code(
    world: World, method: str, path: str, body: object, status: int, code: str
) -> None:
    """Each input the issue found answered with 500, a dropped connection or a stored value
    is refused with its status, code and a hint."""
    kw = {"json": body} if isinstance(body, dict) else {"content": body} if body else {}
    answer = world.call(method, path, "root", **kw)
    assert answer.status_code == status, answer.text[:300]
    data = answer.json()
    assert data["code"] == code and data["hint"]


def test_nothing_refused_was_stored(world: World) -> None:
    """After the refusals, no artifact named 'evil' and no project '../../x' exist."""
    for path in (f"{ART}?project=bravo", "/api/v1/projects"):
        assert world.call("GET", path, "root").status_code == 200
    assert "evil" not in world.call("GET", f"{ART}?project=bravo", "root").text
    assert "../../x" not in world.call("GET", "/api/v1/projects", "root").text


def test_a_page_uploaded_as_an_artifact_is_served_as_a_download(world: World) -> None:
    """An artifact named page.html is stored as bytes and served as an attachment that no
    browser renders: octet-stream, nosniff, Content-Disposition and a CSP that runs nothing."""
    put = world.call(
        "PUT",
        f"{ART}/page/1.0.0?project=alpha&filename=page.html",
        "root",
        content=b"<script>alert(document.cookie)</script>",
    )
    assert put.status_code in (200, 201), put.text
    got = world.call("GET", f"{ART}/page/1.0.0/content?project=alpha", "root")
    assert got.status_code == 200
    assert got.headers["content-type"] == "application/octet-stream"
    assert got.headers["content-disposition"] == 'attachment; filename="page.html"'
    assert got.headers["x-content-type-options"] == "nosniff"
    assert "default-src 'none'" in got.headers["content-security-policy"]


@pytest.mark.parametrize(
    ("path", "who"),
    [("/healthz", None), ("/api/v1/runs", None), ("/api/v1/nowhere", "root"), ("/status", None)],
)
def test_every_answer_carries_the_security_headers(
    world: World, path: str, who: str | None
) -> None:
    """Success, 401 and 404 answers alike carry nosniff, DENY framing, same-origin referrers."""
    got = world.call("GET", path, who)
    assert got.headers["x-content-type-options"] == "nosniff"
    assert got.headers["x-frame-options"] == "DENY"
    assert got.headers["referrer-policy"] == "same-origin"


def test_an_upload_declared_larger_than_the_limit_is_refused_before_its_body(world: World) -> None:
    """A PUT declaring 3 GB is answered 413 upload-too-large at once, without the server
    waiting for (or storing) the body."""
    parts = urlsplit(world.url)
    with socket.create_connection((parts.hostname, parts.port), timeout=30) as conn:
        conn.sendall(
            (
                f"PUT {ART}/big/1.0.0?project=bravo&filename=big.bin HTTP/1.1\r\n"
                f"Host: {parts.netloc}\r\nAuthorization: Bearer {world.token('root')}\r\n"
                "Content-Length: 3000000000\r\nContent-Type: application/octet-stream\r\n\r\n"
            ).encode()
        )
        data = b""
        while b"upload-too-large" not in data and (chunk := conn.recv(65536)):
            data += chunk
        head = data.decode(errors="replace")
    assert head.startswith("HTTP/1.1 413") and "upload-too-large" in head
