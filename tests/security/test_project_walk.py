"""Hole 2: a token of project alpha, aimed at every route with project bravo's data, gets
403, 404 or an answer that holds nothing of bravo."""

from __future__ import annotations

from typing import Any

import pytest

from tests.security.conftest import Bravo, World
from tests.security.routes import route_calls, send

# Routes anyone may call, by design (docs/server.md): nothing to walk. A git webhook carries
# no token: its signature with the repository's secret is its authentication.
PUBLIC = {("GET", "/healthz"), ("GET", "/status"), ("POST", "/api/v1/hooks/git")}


def test_every_route_is_walked(world: World, bravo: Bravo) -> None:
    """The walk below covers every route the server's OpenAPI document lists."""
    spec = world.call("GET", "/openapi.json", "root").json()
    listed = {(m.upper(), path) for path, ops in spec["paths"].items() for m in ops}
    assert listed - PUBLIC == set(route_calls(world, bravo))


def test_alpha_reaches_nothing_of_bravo(world: World, bravo: Bravo) -> None:
    """Every route refuses alpha's admin token, the strongest alpha has (403/404), or answers
    without any of bravo's data, and bravo's data is unchanged afterwards."""
    who = "alpha_admin"
    client = world.call(
        "POST", "/api/v1/flags/tokens?project=alpha", "alpha_admin", json={"environment": "dev"}
    )
    assert client.status_code == 200, client.text
    frontend = world.call(
        "POST",
        "/api/v1/flags/tokens?project=alpha",
        "alpha_admin",
        json={"environment": "dev", "kind": "frontend"},
    )
    assert frontend.status_code == 200, frontend.text
    leaks = []
    for (method, route), requests in route_calls(world, bravo).items():
        token = client.json()["token"] if route.startswith("/api/client") else None
        if route.startswith("/api/frontend"):
            token = frontend.json()["token"]
        headers = {"Authorization": token} if token else world.headers(who)
        for path, body in requests:
            status, text = send(world, method, path, body, headers)
            refused = status in (403, 404)
            clean = status < 400 and "bravo" not in text
            if not (refused or clean):
                leaks.append(f"{method} {path}: {status} {text[:300]}")
    assert leaks == [], "\n".join(leaks)
    flag = world.call("GET", "/api/v1/flags/bravo-flag?project=bravo&env=dev", "root").json()
    assert flag["environments"]["dev"]["enabled"] is True
    assert world.call("GET", "/api/v1/audit/events", "bravo_viewer").status_code == 200
    locks = world.call("GET", "/api/v1/release/locks?project=bravo", "root").json()["locks"]
    assert [lock["environment"] for lock in locks] == ["dev"]


def test_audit_log_holds_only_alphas_events(world: World, bravo: Bravo) -> None:
    """A project token reads its own project's events only, and no proof of bravo's."""
    events = world.call("GET", "/api/v1/audit/events?limit=10000", "alpha_viewer").json()
    assert events["events"] and {e["project"] for e in events["events"]} == {"alpha"}
    asked = world.call("GET", "/api/v1/audit/events?project=bravo", "alpha_viewer")
    assert asked.status_code == 403
    proof = world.call("GET", f"/api/v1/audit/proof/inclusion/{bravo.event_seq}", "alpha_viewer")
    assert proof.status_code == 404 and proof.json()["code"] == "event-not-found"
    mine = events["events"][0]["seq"]
    assert world.call("GET", f"/api/v1/audit/proof/inclusion/{mine}", "alpha_viewer").is_success


FIGURES = [
    ("/api/v1/metrics/builds", lambda d: d["runs"] is not None),
    ("/api/v1/metrics/cost?developers=1&runs_per_day=1&hourly_cost=1", lambda d: d["runs"] > 0),
    (
        "/api/v1/metrics/dora?env=dev",
        lambda d: d["figures"]["deployment_frequency"]["numerator"] > 0,
    ),
]


@pytest.mark.parametrize(("path", "counts_something"), FIGURES)
def test_alphas_figures_count_nothing_of_bravo(
    world: World, bravo: Bravo, path: str, counts_something: Any
) -> None:
    """Aggregates (builds, cost, DORA) a global token sees from bravo's data are empty for
    alpha: the figures are filtered, not only the names."""
    assert counts_something(world.call("GET", path, "root").json())
    assert not counts_something(world.call("GET", path, "alpha_viewer").json())


def test_prometheus_figures_count_nothing_of_bravo(world: World, bravo: Bravo) -> None:
    """/metrics samples for alpha hold none of bravo's builds or deployments."""

    def samples(who: str) -> list[str]:
        text = world.call("GET", "/metrics?env=dev", who).text
        lines = [line for line in text.splitlines() if line and not line.startswith("#")]
        return [line for line in lines if not line.startswith("shipyard_dora_window_days")]

    assert samples("root")
    assert samples("alpha_viewer") == []


WRITES = [
    ("PUT", "/api/v1/flags/f?project=zulu&env=dev", {"name": "f", "enabled": True}),
    ("POST", "/api/v1/flags?project=zulu&env=dev", {"name": "f"}),
    ("POST", "/api/v1/flags/tokens?project=zulu", {"environment": "dev"}),
    ("PUT", "/api/v1/artifacts/zulu-art/1.0.0?project=zulu", None),
    ("POST", "/api/v1/incidents", {"service": "s", "unlinked": True, "project": "zulu"}),
]


@pytest.mark.parametrize(("method", "path", "body"), WRITES)
def test_a_global_token_cannot_invent_projects(
    world: World, method: str, path: str, body: Any
) -> None:
    """A global developer (deployer for incidents) writing to a project the server does not
    hold gets 404 project-not-found, and no project appears."""
    kw: dict[str, Any] = {"json": body} if body is not None else {"content": b"x"}
    who = "deployer" if "incidents" in path else "developer"
    answer = world.call(method, path, who, **kw)
    assert answer.status_code == 404, answer.text
    assert answer.json()["code"] == "project-not-found" and answer.json()["hint"]
    assert "zulu" not in world.call("GET", "/api/v1/projects", "root").json()["projects"]
    assert "zulu" not in world.call("GET", "/api/v1/audit/events?limit=10000", "root").text


def test_a_global_admin_adds_a_project_then_others_write_to_it(world: World) -> None:
    """POST /api/v1/projects (global admin only) makes a project a global developer may use."""
    refused = world.call("POST", "/api/v1/projects", "alpha_admin", json={"name": "yankee"})
    assert refused.status_code == 403
    assert (
        world.call("POST", "/api/v1/projects", "root", json={"name": "yankee"}).status_code == 201
    )
    made = world.call(
        "POST", "/api/v1/flags?project=yankee&env=dev", "developer", json={"name": "g"}
    )
    assert made.status_code == 200, made.text
    bad = world.call("POST", "/api/v1/projects", "root", json={"name": ""})
    assert bad.status_code == 422 and bad.json()["code"] == "project-name-invalid"
