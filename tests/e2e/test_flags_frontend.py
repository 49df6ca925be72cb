"""The Unleash frontend API against the real `unleash-proxy-client` under Node: a frontend
token, answers evaluated by the server for the client's context, ETag polling, metrics, and
CORS origins per token."""

from __future__ import annotations

import json
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.e2e.helpers import apply, as_json, running_server, shipyard

FRONTEND = Path(__file__).resolve().parents[1] / "frontend"
ORIGIN = "http://shop.test"
Server = dict[str, Any]


def _feature(name: str, enabled: bool, strategy: dict[str, Any], **more: Any) -> dict[str, Any]:
    return {"name": name, "enabled": enabled, "strategies": [strategy], **more}


FEATURES = [
    _feature("banner", True, {"name": "userWithId", "parameters": {"userIds": "1,2"}}),
    _feature(
        "theme",
        True,
        {"name": "default"},
        variants=[
            {
                "name": "dark",
                "weight": 500,
                "stickiness": "default",
                "payload": {"type": "string", "value": "#000"},
            },
            {
                "name": "light",
                "weight": 500,
                "stickiness": "default",
                "payload": {"type": "string", "value": "#fff"},
            },
        ],
    ),
    _feature(
        "pro",
        True,
        {
            "name": "default",
            "constraints": [{"contextName": "plan", "operator": "IN", "values": ["pro"]}],
        },
    ),
    _feature("dormant", False, {"name": "default"}),
]


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    repo = tmp_path_factory.mktemp("frontend")
    (repo / "shipyard.yaml").write_text("project: shop\nenvironments:\n  dev: {}\n")
    flags = repo / "flags.json"
    flags.write_text(json.dumps({"version": 2, "features": FEATURES}))
    assert shipyard("flags", "import", str(flags), "--env", "dev", cwd=repo).returncode == 0

    def token(*args: str) -> str:
        proc = shipyard("flags", "token", "create", "--env", "dev", *args, "--json", cwd=repo)
        assert proc.returncode == 0, proc.stderr
        return str(as_json(proc)["token"])

    tokens = {
        "frontend": token("--frontend", "--origin", ORIGIN),
        "client": token(),
    }
    admin = shipyard("token", "create", "--role", "admin", "--json", cwd=repo)
    with running_server(repo) as url:
        apply(repo, url, as_json(admin)["token"])
        yield {"url": url, "repo": repo, "tokens": tokens}


def _expected(state_context: dict[str, Any]) -> dict[str, Any]:
    """What Shipyard's own evaluation says for the same context (the oracle the browser
    client must agree with)."""
    from shipyard_sdk.flags import FeatureState, UnleashContext

    state = FeatureState.from_payload({"features": FEATURES})
    ctx = UnleashContext.from_dict({"environment": "dev", **state_context})
    return {f["name"]: state.is_enabled(f["name"], ctx) for f in FEATURES}


def test_the_browser_client_gets_answers_for_its_context(server: Server) -> None:
    """unleash-proxy-client under Node: the server's answers for each context it sends, the
    variant with its payload, a change seen by ETag polling (unchanged polls are 304s), and
    its metrics stored as exposures."""
    node = subprocess.Popen(
        [
            "node",
            str(FRONTEND / "check.mjs"),
            server["url"] + "/api/frontend",
            server["tokens"]["frontend"],
        ],
        cwd=FRONTEND,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert node.stdout is not None
        lines: dict[str, dict[str, Any]] = {}
        for raw in node.stdout:
            line = json.loads(raw)
            lines[line["step"]] = line
            if line["step"] == "waiting":
                on = shipyard("flags", "enable", "dormant", "--env", "dev", cwd=server["repo"])
                assert on.returncode == 0, on.stderr
            if line["step"] == "done":
                break
        assert node.wait(30) == 0, node.stderr.read() if node.stderr else ""
    finally:
        node.kill()
    first, second, after = lines["first"], lines["second"], lines["after"]
    assert first["errors"] == [] and second["errors"] == []
    want_first = _expected({"userId": "1", "properties": {"plan": "pro"}})
    assert first["enabled"] == {**want_first, "missing": False}
    assert first["enabled"]["banner"] and first["enabled"]["pro"]
    want_second = _expected({"userId": "3", "properties": {"plan": "free"}})
    assert second["enabled"] == {**want_second, "missing": False}
    assert not second["enabled"]["banner"] and not second["enabled"]["pro"]
    assert first["variant"]["name"] in ("dark", "light") and first["variant"]["enabled"]
    assert first["variant"]["payload"]["value"] in ("#000", "#fff")
    assert lines["changed"]["updates"] == 1  # polls before the change were 304s
    assert after["enabled"]["dormant"] is True
    shown = as_json(shipyard("flags", "show", "theme", "--json", cwd=server["repo"]))
    assert sum(x["count"] for x in shown["exposures"]) == 3  # getVariant, thrice


def test_answers_are_cached_by_etag_and_only_enabled_flags_are_sent(server: Server) -> None:
    """GET answers only the flags that are on, with an ETag; the same ETag for the same
    context is a 304; POST takes the context in the body."""
    url, auth = server["url"] + "/api/frontend", {"Authorization": server["tokens"]["frontend"]}
    first = httpx.get(url, params={"userId": "2", "properties[plan]": "pro"}, headers=auth)
    assert first.status_code == 200
    names = {t["name"] for t in first.json()["toggles"]}
    assert {"banner", "pro", "theme"} <= names and "missing" not in names
    assert all(t["enabled"] for t in first.json()["toggles"])
    again = httpx.get(
        url,
        params={"userId": "2", "properties[plan]": "pro"},
        headers={**auth, "If-None-Match": first.headers["etag"]},
    )
    assert again.status_code == 304
    other = httpx.get(
        url, params={"userId": "9"}, headers={**auth, "If-None-Match": first.headers["etag"]}
    )
    assert other.status_code == 200
    posted = httpx.post(
        url, json={"context": {"userId": "2", "properties": {"plan": "pro"}}}, headers=auth
    )
    assert posted.json() == first.json()


def test_tokens_of_the_wrong_kind_are_refused(server: Server) -> None:
    """A client token cannot use the frontend API, and a frontend token cannot read the rule
    set from the client API."""
    client = httpx.get(
        server["url"] + "/api/frontend", headers={"Authorization": server["tokens"]["client"]}
    )
    assert client.status_code == 401 and client.json()["code"] == "flag-token-invalid"
    rules = httpx.get(
        server["url"] + "/api/client/features",
        headers={"Authorization": server["tokens"]["frontend"]},
    )
    assert rules.status_code == 401 and rules.json()["code"] == "flag-token-invalid"


def test_cors_follows_the_origins_of_the_token(server: Server) -> None:
    """A preflight from a listed origin is allowed and one from another is 403; a request from
    a listed origin gets Access-Control-Allow-Origin, one from another origin is 403
    flag-origin-refused without it."""
    url, auth = server["url"] + "/api/frontend", {"Authorization": server["tokens"]["frontend"]}
    asked = {
        "Access-Control-Request-Method": "GET",
        "Access-Control-Request-Headers": "authorization,if-none-match",
    }
    ok = httpx.options(url, headers={"Origin": ORIGIN, **asked})
    assert ok.status_code == 204 and ok.headers["access-control-allow-origin"] == ORIGIN
    assert "if-none-match" in ok.headers["access-control-allow-headers"]
    evil = httpx.options(url, headers={"Origin": "http://evil.test", **asked})
    assert evil.status_code == 403 and "access-control-allow-origin" not in evil.headers
    allowed = httpx.get(url, headers={**auth, "Origin": ORIGIN})
    assert allowed.status_code == 200
    assert allowed.headers["access-control-allow-origin"] == ORIGIN
    assert "ETag" in allowed.headers["access-control-expose-headers"]
    refused = httpx.get(url, headers={**auth, "Origin": "http://evil.test"})
    assert refused.status_code == 403 and refused.json()["code"] == "flag-origin-refused"
    assert "access-control-allow-origin" not in refused.headers
