"""Deployment routes: viewers read, only DEPLOY may act, errors carry code and hint."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from shipyard.api.app import create_app
from shipyard.services import tokens
from shipyard.store.uow import Store
from tests.integration.test_deploy import APP, SPEC


@pytest.fixture
def client(
    store: Store, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[tuple[TestClient, dict[str, dict[str, str]]]]:
    shutil.copy(APP, tmp_path / "app.py")
    away = tmp_path / "elsewhere"  # the server's folder holds no project
    away.mkdir()
    monkeypatch.chdir(away)
    headers = {
        role: {
            "Authorization": f"Bearer {tokens.create(store, role, role, project='shop')['token']}"
        }
        for role in ("viewer", "deployer", "admin")
    }
    with TestClient(create_app(store)) as c:
        # What `shipyard apply` sends from the project's repository.
        text = SPEC.format(dev_strategy="recreate", fail_rate=0, migrate="null")
        sent = c.put("/api/v1/projects/shop/spec", json={"yaml": text}, headers=headers["admin"])
        assert sent.status_code == 200, sent.text
        yield c, headers


def test_viewer_reads_environments_but_cannot_deploy(client: tuple[TestClient, dict]) -> None:
    """A viewer lists environments; a deploy with its token is forbidden."""
    c, h = client
    resp = c.get("/api/v1/environments", headers=h["viewer"])
    assert resp.status_code == 200
    assert [e["environment"] for e in resp.json()["environments"]] == [
        "dev",
        "staging",
        "production",
    ]
    resp = c.post("/api/v1/deployments", json={"environment": "dev"}, headers=h["viewer"])
    assert resp.status_code == 403 and resp.json()["code"] == "forbidden"
    resp = c.post("/api/v1/rollouts/dev/abort", headers=h["viewer"])
    assert resp.status_code == 403


def test_deployer_errors_carry_codes(client: tuple[TestClient, dict]) -> None:
    """Bad deploys and actions answer with a stable code and a hint."""
    c, h = client
    resp = c.post("/api/v1/deployments", json={"environment": "qa"}, headers=h["deployer"])
    assert resp.status_code == 404 and resp.json()["code"] == "environment-unknown"
    resp = c.post(
        "/api/v1/deployments",
        json={"environment": "staging", "version": "9.9.9"},
        headers=h["deployer"],
    )
    # A server deploys from the artifact registry alone: it has no working tree to build from.
    assert resp.status_code == 404 and resp.json()["code"] == "artifact-required", resp.json()
    resp = c.get("/api/v1/rollouts/dev", headers=h["deployer"])
    assert resp.status_code == 404 and resp.json()["code"] == "deployment-not-found"
    assert c.post("/api/v1/rollouts/dev/abort", headers=h["deployer"]).status_code == 404
    assert c.get("/api/v1/deployments", headers=h["viewer"]).json() == {"deployments": []}


def test_rollback_route_needs_deploy_and_something_live(client: tuple[TestClient, dict]) -> None:
    """A viewer may not roll back; with nothing live the deployer gets nothing-to-roll-back."""
    c, h = client
    resp = c.post("/api/v1/rollbacks/dev", headers=h["viewer"])
    assert resp.status_code == 403 and resp.json()["code"] == "forbidden"
    resp = c.post("/api/v1/rollbacks/dev", json={"to": "1.0.0"}, headers=h["deployer"])
    assert resp.status_code == 404 and resp.json()["code"] == "nothing-to-roll-back"
    assert resp.json()["hint"]
