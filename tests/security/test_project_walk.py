"""Hole 2: a token of project alpha, aimed at every route with project bravo's data, gets
403, 404 or an answer that holds nothing of bravo."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from tests.security.conftest import Bravo, World

# Routes anyone may call, by design (docs/server.md): nothing to walk.
PUBLIC = {("GET", "/healthz"), ("GET", "/status")}


def _calls(world: World, b: Bravo) -> dict[tuple[str, str], list[tuple[str, Any]]]:
    """For each route of the API, the requests alpha makes at bravo: (path, JSON body)."""
    p, q = "project=bravo", "project=bravo&env=dev"
    bravo_token = world.tokens["bravo_viewer"]["id"]
    feature = {"name": "bravo-flag", "enabled": False, "strategies": []}
    return {
        ("GET", "/api/v1/audit/events"): [("/api/v1/audit/events?limit=10000", None)],
        ("GET", "/api/v1/audit/verify"): [("/api/v1/audit/verify", None)],
        ("GET", "/api/v1/audit/proof/inclusion/{seq}"): [
            (f"/api/v1/audit/proof/inclusion/{b.event_seq}", None)
        ],
        ("GET", "/api/v1/audit/proof/consistency/{first}/{second}"): [
            ("/api/v1/audit/proof/consistency/1/2", None)
        ],
        ("GET", "/api/v1/audit/proof/consistency/{first}"): [
            ("/api/v1/audit/proof/consistency/1", None)
        ],
        ("POST", "/api/v1/audit/checkpoints"): [("/api/v1/audit/checkpoints", None)],
        ("GET", "/api/v1/audit/public-key"): [("/api/v1/audit/public-key", None)],
        ("GET", "/api/v1/tokens"): [("/api/v1/tokens", None)],
        ("POST", "/api/v1/tokens"): [
            ("/api/v1/tokens", {"role": "viewer", "project": "bravo"}),
            ("/api/v1/tokens", {"role": "admin", "project": None}),
        ],
        ("DELETE", "/api/v1/tokens/{token_id}"): [(f"/api/v1/tokens/{bravo_token}", None)],
        ("GET", "/api/v1/projects"): [("/api/v1/projects", None)],
        ("POST", "/api/v1/projects"): [("/api/v1/projects", {"name": "bravo"})],
        ("GET", "/api/v1/artifacts"): [
            (f"/api/v1/artifacts?{p}", None),
            ("/api/v1/artifacts", None),
        ],
        ("GET", "/api/v1/artifacts/{name}/{version}"): [
            (f"/api/v1/artifacts/bravo-art/1.0.0?{p}", None),
            ("/api/v1/artifacts/bravo-art/1.0.0", None),
        ],
        ("PUT", "/api/v1/artifacts/{name}/{version}"): [
            (f"/api/v1/artifacts/bravo-art/2.0.0?{p}", None)
        ],
        ("GET", "/api/v1/artifacts/{name}/{version}/verify"): [
            (f"/api/v1/artifacts/bravo-art/1.0.0/verify?{p}", None)
        ],
        ("GET", "/api/v1/artifacts/{name}/{version}/{part}"): [
            (f"/api/v1/artifacts/bravo-art/1.0.0/{part}?{p}", None)
            for part in ("content", "provenance", "sbom")
        ],
        ("GET", "/api/v1/runs"): [(f"/api/v1/runs?{p}", None), ("/api/v1/runs", None)],
        ("GET", "/api/v1/runs/{run_id}"): [(f"/api/v1/runs/{b.run_id}", None)],
        ("GET", "/api/v1/runs/{run_id}/logs/{job}"): [
            (f"/api/v1/runs/{b.run_id}/logs/bravojob", None)
        ],
        ("GET", "/api/v1/release/freezes"): [("/api/v1/release/freezes", None)],
        ("POST", "/api/v1/release/freezes"): [
            ("/api/v1/release/freezes", {"name": "x", "start": "2099-02-01", "end": "2099-02-02"})
        ],
        ("DELETE", "/api/v1/release/freezes/{name}"): [
            ("/api/v1/release/freezes/bravo-freeze", None)
        ],
        ("GET", "/api/v1/release/freezes/status"): [("/api/v1/release/freezes/status", None)],
        ("GET", "/api/v1/release/calendar.ics"): [("/api/v1/release/calendar.ics", None)],
        ("GET", "/api/v1/release/train"): [("/api/v1/release/train", None)],
        ("POST", "/api/v1/release/train/cut"): [("/api/v1/release/train/cut", {})],
        ("POST", "/api/v1/release/train/ship"): [("/api/v1/release/train/ship", {})],
        ("POST", "/api/v1/release/train/picks/{sha}/approve"): [
            ("/api/v1/release/train/picks/abc123/approve", {})
        ],
        ("POST", "/api/v1/release/train/picks/{sha}"): [("/api/v1/release/train/picks/abc123", {})],
        ("POST", "/api/v1/release/hotfixes"): [("/api/v1/release/hotfixes", {"version": "1.0.0"})],
        ("GET", "/api/v1/release/gates/{env}"): [("/api/v1/release/gates/dev?version=1.0.0", None)],
        ("POST", "/api/v1/release/approvals"): [
            ("/api/v1/release/approvals", {"environment": "dev", "version": "1.0.0"})
        ],
        ("GET", "/api/v1/release/locks"): [("/api/v1/release/locks", None)],
        ("POST", "/api/v1/release/locks/{env}"): [("/api/v1/release/locks/dev", {"reason": "x"})],
        ("DELETE", "/api/v1/release/locks/{env}"): [("/api/v1/release/locks/dev?force=true", None)],
        ("GET", "/api/v1/release/break-glass"): [("/api/v1/release/break-glass", None)],
        ("POST", "/api/v1/release/break-glass"): [
            ("/api/v1/release/break-glass", {"environment": "dev", "reason": "x"})
        ],
        ("POST", "/api/v1/release/break-glass/{override_id}/approve"): [
            (f"/api/v1/release/break-glass/{b.override_id}/approve", None)
        ],
        ("POST", "/api/v1/release/break-glass/{override_id}/review"): [
            (f"/api/v1/release/break-glass/{b.override_id}/review", {"notes": "x"})
        ],
        ("GET", "/api/v1/metrics/dora"): [
            ("/api/v1/metrics/dora", None),
            ("/api/v1/metrics/dora?env=dev", None),
        ],
        ("GET", "/api/v1/metrics/builds"): [("/api/v1/metrics/builds", None)],
        ("GET", "/api/v1/metrics/cost"): [
            ("/api/v1/metrics/cost?developers=10&runs_per_day=5&hourly_cost=100", None)
        ],
        ("GET", "/api/v1/incidents"): [("/api/v1/incidents", None)],
        ("POST", "/api/v1/incidents"): [
            ("/api/v1/incidents", {"service": "bravo-svc", "unlinked": True, "project": "bravo"})
        ],
        ("POST", "/api/v1/incidents/{incident_id}/resolve"): [
            (f"/api/v1/incidents/{b.incident_id}/resolve", None)
        ],
        ("GET", "/metrics"): [("/metrics", None), ("/metrics?env=dev", None)],
        ("GET", "/api/v1/environments"): [("/api/v1/environments", None)],
        ("GET", "/api/v1/deployments"): [("/api/v1/deployments", None)],
        ("POST", "/api/v1/deployments"): [
            ("/api/v1/deployments", {"environment": "dev", "version": "2.0.0"})
        ],
        ("POST", "/api/v1/rollbacks/{environment}"): [("/api/v1/rollbacks/dev", {})],
        ("GET", "/api/v1/rollouts/{environment}"): [("/api/v1/rollouts/dev", None)],
        ("POST", "/api/v1/rollouts/{environment}/{action}"): [("/api/v1/rollouts/dev/pause", None)],
        ("GET", "/api/v1/flags"): [(f"/api/v1/flags?{q}", None), ("/api/v1/flags?env=dev", None)],
        ("POST", "/api/v1/flags"): [(f"/api/v1/flags?{q}", {"name": "x"})],
        ("GET", "/api/v1/flags/export"): [(f"/api/v1/flags/export?{q}", None)],
        ("POST", "/api/v1/flags/import"): [(f"/api/v1/flags/import?{q}", {"features": []})],
        ("GET", "/api/v1/flags/stale"): [
            (f"/api/v1/flags/stale?{p}", None),
            ("/api/v1/flags/stale", None),
        ],
        ("POST", "/api/v1/flags/tokens"): [(f"/api/v1/flags/tokens?{p}", {"environment": "dev"})],
        ("GET", "/api/v1/flags/stream"): [(f"/api/v1/flags/stream?{q}", None)],
        ("GET", "/api/v1/flags/segments"): [
            (f"/api/v1/flags/segments?{q}", None),
            ("/api/v1/flags/segments?env=dev", None),
        ],
        ("POST", "/api/v1/flags/segments"): [(f"/api/v1/flags/segments?{q}", {"constraints": []})],
        ("GET", "/api/v1/flags/segments/{segment_id}"): [
            (f"/api/v1/flags/segments/{b.segment_id}?{q}", None),
            (f"/api/v1/flags/segments/{b.segment_id}?env=dev", None),
        ],
        ("PUT", "/api/v1/flags/segments/{segment_id}"): [
            (f"/api/v1/flags/segments/{b.segment_id}?{q}", {"name": "x"}),
            (f"/api/v1/flags/segments/{b.segment_id}?env=dev", {"name": "x"}),
        ],
        ("DELETE", "/api/v1/flags/segments/{segment_id}"): [
            (f"/api/v1/flags/segments/{b.segment_id}?{q}", None),
            (f"/api/v1/flags/segments/{b.segment_id}?env=dev", None),
        ],
        ("GET", "/api/v1/flags/schedules"): [
            (f"/api/v1/flags/schedules?{p}", None),
            ("/api/v1/flags/schedules", None),
        ],
        ("POST", "/api/v1/flags/schedules"): [
            (
                f"/api/v1/flags/schedules?{q}",
                {"flag": "bravo-flag", "action": "enable", "at": "+1d"},
            )
        ],
        ("POST", "/api/v1/flags/schedules/apply"): [
            (f"/api/v1/flags/schedules/apply?{p}", None),
            ("/api/v1/flags/schedules/apply", None),
        ],
        ("POST", "/api/v1/flags/schedules/{schedule_id}/cancel"): [
            (f"/api/v1/flags/schedules/{b.schedule_id}/cancel?{p}", None),
            (f"/api/v1/flags/schedules/{b.schedule_id}/cancel", None),
        ],
        ("GET", "/api/v1/flags/{name}"): [
            (f"/api/v1/flags/bravo-flag?{p}", None),
            ("/api/v1/flags/bravo-flag", None),
        ],
        ("PUT", "/api/v1/flags/{name}"): [(f"/api/v1/flags/bravo-flag?{q}", feature)],
        ("DELETE", "/api/v1/flags/{name}"): [(f"/api/v1/flags/bravo-flag?{q}", None)],
        ("POST", "/api/v1/flags/{name}/enable"): [(f"/api/v1/flags/bravo-flag/enable?{q}", None)],
        ("POST", "/api/v1/flags/{name}/disable"): [(f"/api/v1/flags/bravo-flag/disable?{q}", None)],
        ("POST", "/api/v1/flags/{name}/rollout"): [
            (f"/api/v1/flags/bravo-flag/rollout?{q}", {"percentage": 5})
        ],
        ("POST", "/api/v1/flags/{name}/eval"): [
            (f"/api/v1/flags/bravo-flag/eval?{q}", {"context": {}}),
            ("/api/v1/flags/bravo-flag/eval?env=dev", {"context": {}}),
        ],
        ("GET", "/api/v1/flags/{name}/strategies"): [
            (f"/api/v1/flags/bravo-flag/strategies?{q}", None)
        ],
        ("POST", "/api/v1/flags/{name}/strategies"): [
            (f"/api/v1/flags/bravo-flag/strategies?{q}", {"name": "default"})
        ],
        ("DELETE", "/api/v1/flags/{name}/strategies/{index}"): [
            (f"/api/v1/flags/bravo-flag/strategies/0?{q}", None)
        ],
        # The Unleash client API takes client tokens: alpha's, naming bravo's environment.
        ("GET", "/api/client/features"): [("/api/client/features?environment=dev", None)],
        ("POST", "/api/client/register"): [
            ("/api/client/register", {"appName": "x", "instanceId": "i", "environment": "dev"})
        ],
        ("POST", "/api/client/metrics"): [
            (
                "/api/client/metrics",
                {
                    "appName": "x",
                    "instanceId": "i",
                    "bucket": {"start": "", "stop": "", "toggles": {}},
                },
            )
        ],
        ("GET", "/api/client/streaming"): [("/api/client/streaming", None)],
    }


def _send(
    world: World, method: str, path: str, body: Any, headers: dict[str, str]
) -> tuple[int, str]:
    """The status and, for an answer that streams, its first event only."""
    kw: dict[str, Any] = {"headers": headers, "timeout": 30}
    if body is not None:
        kw["json"] = body
    if method == "PUT" and "/artifacts/" in path:
        kw = {"headers": headers, "timeout": 30, "content": b"alpha-bytes"}
    with httpx.stream(method, world.url + path, **kw) as resp:
        if resp.headers.get("content-type", "").startswith("text/event-stream"):
            return resp.status_code, next(resp.iter_text(), "")
        return resp.status_code, resp.read().decode(errors="replace")


def test_every_route_is_walked(world: World, bravo: Bravo) -> None:
    """The walk below covers every route the server's OpenAPI document lists."""
    spec = world.call("GET", "/openapi.json", "root").json()
    listed = {(m.upper(), path) for path, ops in spec["paths"].items() for m in ops}
    assert listed - PUBLIC == set(_calls(world, bravo))


@pytest.mark.parametrize("who", ["alpha_admin", "alpha_viewer"])
def test_alpha_reaches_nothing_of_bravo(world: World, bravo: Bravo, who: str) -> None:
    """Every route refuses alpha's token (403/404) or answers without any of bravo's data,
    and bravo's data is unchanged afterwards."""
    client = world.call(
        "POST", "/api/v1/flags/tokens?project=alpha", "alpha_admin", json={"environment": "dev"}
    )
    assert client.status_code == 200, client.text
    leaks = []
    for (method, route), requests in _calls(world, bravo).items():
        token = client.json()["token"] if route.startswith("/api/client") else None
        headers = {"Authorization": token} if token else world.headers(who)
        for path, body in requests:
            status, text = _send(world, method, path, body, headers)
            refused = status in (403, 404)
            clean = status < 400 and "bravo" not in text
            if not (refused or clean):
                leaks.append(f"{method} {path}: {status} {text[:300]}")
    assert leaks == [], "\n".join(leaks)
    flag = world.call("GET", "/api/v1/flags/bravo-flag?project=bravo&env=dev", "root").json()
    assert flag["environments"]["dev"]["enabled"] is True
    assert world.call("GET", "/api/v1/audit/events", "bravo_viewer").status_code == 200
    locks = world.call("GET", "/api/v1/release/locks", "root").json()["locks"]
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
