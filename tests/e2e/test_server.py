"""The HTTP API served by a real Uvicorn process, over real HTTP."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.e2e.helpers import as_json, running_server, shipyard


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Path, dict[str, str]]]:
    repo = tmp_path_factory.mktemp("srv")
    (repo / "shipyard.yaml").write_text("project: shop\n")
    tokens = {
        role: as_json(shipyard("token", "create", "--role", role, "--json", cwd=repo))["token"]
        for role in ("viewer", "admin", "developer")
    }
    expired = as_json(
        shipyard("token", "create", "--role", "admin", "--expires", "1s", "--json", cwd=repo)
    )["token"]
    revoked = as_json(shipyard("token", "create", "--role", "admin", "--json", cwd=repo))
    shipyard("token", "revoke", revoked["id"], cwd=repo)
    tokens["expired"], tokens["revoked"] = expired, revoked["token"]
    with running_server(repo) as url:
        time.sleep(1)  # let the 1s token expire
        yield url, repo, tokens


def _h(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def test_healthz_needs_no_token(server: tuple[str, Path, dict[str, str]]) -> None:
    """/healthz answers without a token so load balancers can probe it."""
    url, _, _ = server
    assert httpx.get(url + "/healthz").json()["status"] == "ok"


def test_openapi_lists_the_audit_routes(server: tuple[str, Path, dict[str, str]]) -> None:
    """/openapi.json describes the audit endpoints to a viewer token."""
    url, _, tokens = server
    paths = httpx.get(url + "/openapi.json", headers=_h(tokens["viewer"])).json()["paths"]
    assert "/api/v1/audit/verify" in paths and "/api/v1/audit/proof/inclusion/{seq}" in paths


@pytest.mark.parametrize(
    ("method", "path", "who", "status", "code"),
    [
        ("GET", "/api/v1/audit/events", None, 401, "unauthenticated"),
        ("GET", "/api/v1/audit/events", "garbage", 401, "unauthenticated"),
        ("GET", "/api/v1/audit/events", "expired", 401, "unauthenticated"),
        ("GET", "/api/v1/audit/events", "revoked", 401, "unauthenticated"),
        ("POST", "/api/v1/audit/checkpoints", "viewer", 403, "forbidden"),
        ("POST", "/api/v1/audit/checkpoints", "developer", 403, "forbidden"),
        ("POST", "/api/v1/tokens", "viewer", 403, "forbidden"),
        ("GET", "/api/v1/audit/proof/inclusion/999", "viewer", 422, "audit-seq-out-of-range"),
        ("GET", "/api/v1/audit/events?limit=0", "viewer", 422, "invalid-request"),
    ],
)
def test_requests_without_the_right_token_or_input_are_refused(
    server: tuple[str, Path, dict[str, str]],
    method: str,
    path: str,
    who: str | None,
    status: int,
    code: str,
) -> None:
    """Missing, bad, expired or revoked tokens get 401; too weak a role 403; bad input 422."""
    url, _, tokens = server
    headers = _h(tokens.get(who, who)) if who else {}
    resp = httpx.request(method, url + path, headers=headers, json={"role": "admin"})
    assert resp.status_code == status
    body = resp.json()
    assert body["code"] == code and body["message"] and "hint" in body


def test_roles_allow_what_they_grant(server: tuple[str, Path, dict[str, str]]) -> None:
    """A viewer reads and verifies the log; an admin signs a checkpoint and creates tokens."""
    url, _, tokens = server
    events = httpx.get(url + "/api/v1/audit/events", headers=_h(tokens["viewer"])).json()
    assert {e["kind"] for e in events["events"]} >= {"token.created", "token.revoked"}
    assert httpx.get(url + "/api/v1/audit/verify", headers=_h(tokens["viewer"])).json()["ok"]
    cp = httpx.post(url + "/api/v1/audit/checkpoints", headers=_h(tokens["admin"]))
    assert cp.status_code == 200 and cp.json()["tree_size"] >= 5
    new = httpx.post(
        url + "/api/v1/tokens", headers=_h(tokens["admin"]), json={"role": "deployer", "name": "ci"}
    )
    assert new.status_code == 201 and new.json()["token"].startswith("shp_")


def test_cli_talks_to_the_server(server: tuple[str, Path, dict[str, str]], tmp_path: Path) -> None:
    """With SHIPYARD_SERVER and a token set, audit commands answer from the server."""
    url, _, tokens = server
    env = {"SHIPYARD_SERVER": url, "SHIPYARD_TOKEN": tokens["viewer"]}
    proc = shipyard("audit", "verify", "--json", cwd=tmp_path, env=env)
    assert proc.returncode == 0 and as_json(proc)["ok"] is True
    proof = as_json(shipyard("audit", "prove", "0", "--json", cwd=tmp_path, env=env))
    assert proof["leaf_index"] == 0
    denied = shipyard("audit", "checkpoint", cwd=tmp_path, env=env)
    assert denied.returncode == 5 and "error[forbidden]" in denied.stderr
