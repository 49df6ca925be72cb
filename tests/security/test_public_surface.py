"""Hole 6: what answers without a token is only /healthz and a cached, rate-limited /status;
the API's description needs a viewer token unless the operator makes it public."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest

from tests.e2e.helpers import running_server
from tests.security.conftest import World


@pytest.mark.parametrize("path", ["/openapi.json", "/docs", "/redoc"])
def test_api_description_needs_a_token(world: World, path: str) -> None:
    """Without a token the description and its pages are 401; a viewer token reads them."""
    bare = httpx.get(world.url + path)
    assert bare.status_code == 401 and bare.json()["code"] == "unauthenticated"
    assert world.call("GET", path, "alpha_viewer").status_code == 200


def test_api_description_can_be_made_public(tmp_path: Path) -> None:
    """With SHIPYARD_PUBLIC_DOCS=1 the server serves its description to anyone."""
    (tmp_path / "shipyard.yaml").write_text("project: docs\n")
    with running_server(tmp_path, env={"SHIPYARD_PUBLIC_DOCS": "1"}) as url:
        assert "/api/v1/audit/verify" in httpx.get(url + "/openapi.json").json()["paths"]
        assert httpx.get(url + "/docs").status_code == 200


def test_status_page_is_cached_and_rate_limited(world: World) -> None:
    """The status page is made once for many readers (same body, an Age), and one client
    asking too often gets 429 rate-limited with Retry-After while /healthz still answers."""
    page = world.url + "/status?project=bravo"  # the server holds alpha and bravo
    first = httpx.get(page, timeout=30)
    second = httpx.get(page, timeout=30)
    assert first.status_code == second.status_code == 200
    assert first.text == second.text and "max-age" in second.headers["cache-control"]
    with httpx.Client(timeout=30) as client:
        statuses = [client.get(page) for _ in range(40)]
    limited = [r for r in statuses if r.status_code == 429]
    assert limited, [r.status_code for r in statuses]
    assert limited[0].json()["code"] == "rate-limited" and limited[0].json()["hint"]
    assert int(limited[0].headers["retry-after"]) >= 1
    assert httpx.get(world.url + "/healthz").status_code == 200
