"""Metrics and incident routes: roles enforced, figures served as JSON and Prometheus text."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from fastapi.testclient import TestClient

from shipyard.api.app import create_app
from shipyard.domain import promtext
from shipyard.services import tokens
from shipyard.store.uow import Store
from tests.integration.test_metrics import deploy


@pytest.fixture
def client(store: Store) -> tuple[TestClient, dict[str, str]]:
    keys = {r: tokens.create(store, r, r)["token"] for r in ("viewer", "deployer")}
    return TestClient(create_app(store)), keys


def _h(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def test_incident_routes_need_deployer(
    client: tuple[TestClient, dict[str, str]], store: Store
) -> None:
    """A viewer may read figures but not open incidents; a deployer may, and resolve them."""
    c, keys = client
    now = datetime.now(UTC)
    deploy(store, "d1", "cart", now - timedelta(hours=2), commit_ages_h=(1.0,))
    body = {"service": "cart", "deployment_id": "d1", "title": "5xx"}
    assert c.post("/api/v1/incidents", json=body).status_code == 401
    denied = c.post("/api/v1/incidents", json=body, headers=_h(keys["viewer"]))
    assert denied.status_code == 403 and denied.json()["code"] == "forbidden"
    opened = c.post("/api/v1/incidents", json=body, headers=_h(keys["deployer"]))
    assert opened.status_code == 201
    iid = opened.json()["id"]
    missing = c.post(
        "/api/v1/incidents", json={**body, "deployment_id": "nope"}, headers=_h(keys["deployer"])
    )
    assert missing.status_code == 404 and missing.json()["code"] == "deployment-not-found"
    assert (
        c.post(f"/api/v1/incidents/{iid}/resolve", headers=_h(keys["deployer"])).status_code == 200
    )
    dora = c.get(
        "/api/v1/metrics/dora", params={"since": "1d", "by": "week"}, headers=_h(keys["viewer"])
    ).json()
    assert dora["figures"]["change_failure_rate"]["numerator"] == 1
    assert dora["figures"]["lead_time"]["denominator"] == 1
    listed = c.get("/api/v1/incidents", headers=_h(keys["viewer"])).json()["incidents"]
    assert [i["id"] for i in listed] == [iid]


def test_figure_routes_report_bad_input(client: tuple[TestClient, dict[str, str]]) -> None:
    """A reversed time range and negative developers come back as coded 422 errors."""
    c, keys = client
    r = c.get(
        "/api/v1/metrics/dora",
        params={"since": "2026-02-01", "until": "2026-01-01"},
        headers=_h(keys["viewer"]),
    )
    assert r.status_code == 422 and r.json()["code"] == "time-range-invalid"
    r = c.get(
        "/api/v1/metrics/cost",
        params={"developers": -1, "runs_per_day": 5, "hourly_cost": 100},
        headers=_h(keys["viewer"]),
    )
    assert r.status_code == 422 and r.json()["code"] == "cost-input-invalid"
    assert c.get("/api/v1/metrics/builds", headers=_h(keys["viewer"])).json()["runs"] is None


def test_prometheus_endpoint(client: tuple[TestClient, dict[str, str]], store: Store) -> None:
    """/metrics needs a viewer token and serves parseable text with the same figures."""
    c, keys = client
    assert c.get("/metrics").status_code == 401
    empty = promtext.parse(c.get("/metrics", headers=_h(keys["viewer"])).text)
    assert not promtext.select(empty, "shipyard_dora_deployment_frequency_per_day")
    now = datetime.now(UTC)
    deploy(store, "d1", "cart", now - timedelta(days=2))
    deploy(store, "d2", "cart", now - timedelta(days=1), status="rolled-back")
    resp = c.get("/metrics", headers=_h(keys["viewer"]))
    assert resp.headers["content-type"].startswith("text/plain")
    families = promtext.parse_families(resp.text)
    samples = promtext.parse(resp.text)
    assert families["shipyard_dora_lead_time_seconds"].type == "summary"
    assert promtext.total(samples, "shipyard_dora_deployments", {"service": "cart"}) == 2
    assert promtext.total(samples, "shipyard_dora_change_failure_rate") == 0.5
    assert promtext.total(samples, "shipyard_dora_deployment_frequency_per_day") == 1 / 30


def test_prometheus_endpoint_with_a_deployment_naming_no_service(
    client: tuple[TestClient, dict[str, str]], store: Store
) -> None:
    """A production deployment that names no service is counted under an empty `service`
    label, which Prometheus reads as no label, beside the services that are named."""
    c, keys = client
    now = datetime.now(UTC)
    deploy(store, "d1", "cart", now - timedelta(days=2))
    deploy(store, "d2", None, now - timedelta(days=1))
    resp = c.get("/metrics", headers=_h(keys["viewer"]))
    assert resp.status_code == 200, resp.text
    samples = promtext.parse(resp.text)
    assert promtext.total(samples, "shipyard_dora_deployments", {"service": "cart"}) == 1
    assert promtext.total(samples, "shipyard_dora_deployments", {"service": ""}) == 1
    assert promtext.total(samples, "shipyard_dora_deployments") == 2
