"""Every route of the API, with the requests that aim it at project bravo's data."""

from __future__ import annotations

from typing import Any

import httpx

from tests.security.conftest import Bravo, World


def route_calls(world: World, b: Bravo) -> dict[tuple[str, str], list[tuple[str, Any]]]:
    """For each route of the API, the requests alpha makes at bravo: (path, JSON body)."""
    p, q = "project=bravo", "project=bravo&env=dev"
    bravo_token = world.tokens["bravo_viewer"]["id"]
    feature = {"name": "bravo-flag", "enabled": False, "strategies": []}
    return {
        ("GET", "/api/v1/audit/events"): [("/api/v1/audit/events?limit=10000", None)],
        ("GET", "/api/v1/audit/verify"): [("/api/v1/audit/verify", None)],
        ("POST", "/api/v1/audit/verify"): [("/api/v1/audit/verify", {"checkpoints": []})],
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
        ("GET", "/api/v1/audit/checkpoints/latest"): [("/api/v1/audit/checkpoints/latest", None)],
        ("GET", "/api/v1/audit/public-key"): [("/api/v1/audit/public-key", None)],
        ("GET", "/api/v1/tokens"): [("/api/v1/tokens", None)],
        ("POST", "/api/v1/tokens"): [
            ("/api/v1/tokens", {"role": "viewer", "project": "bravo"}),
            ("/api/v1/tokens", {"role": "admin", "project": None}),
        ],
        ("DELETE", "/api/v1/tokens/{token_id}"): [(f"/api/v1/tokens/{bravo_token}", None)],
        ("GET", "/api/v1/projects"): [("/api/v1/projects", None)],
        ("POST", "/api/v1/projects"): [("/api/v1/projects", {"name": "bravo"})],
        ("GET", "/api/v1/projects/{name}/spec"): [("/api/v1/projects/bravo/spec", None)],
        ("PUT", "/api/v1/projects/{name}/spec"): [
            ("/api/v1/projects/bravo/spec", {"yaml": "project: bravo\n"})
        ],
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
        ("POST", "/api/v1/runs"): [(f"/api/v1/runs?{p}", {"commit": "a" * 40})],
        ("GET", "/api/v1/run-requests"): [
            (f"/api/v1/run-requests?{p}", None),
            ("/api/v1/run-requests", None),
        ],
        ("GET", "/api/v1/run-requests/{request_id}"): [("/api/v1/run-requests/1", None)],
        ("PUT", "/api/v1/projects/{project}/repository"): [
            (
                "/api/v1/projects/bravo/repository",
                {"name": "bravo/repo", "remote": "/tmp/x", "secret": "s" * 20},
            )
        ],
        ("GET", "/api/v1/runs/{run_id}"): [(f"/api/v1/runs/{b.run_id}", None)],
        ("GET", "/api/v1/runs/{run_id}/logs/{job}"): [
            (f"/api/v1/runs/{b.run_id}/logs/bravojob", None)
        ],
        ("GET", "/api/v1/runs/{run_id}/live"): [(f"/api/v1/runs/{b.run_id}/live", None)],
        ("GET", "/api/v1/runs/{run_id}/logs/{node}/stream"): [
            (f"/api/v1/runs/{b.run_id}/logs/bravojob/stream", None)
        ],
        ("GET", "/api/v1/runs/why/{job}"): [
            (f"/api/v1/runs/why/bravojob?{p}", None),
            ("/api/v1/runs/why/bravojob", None),
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
        ("GET", "/api/v1/flags/tokens"): [
            (f"/api/v1/flags/tokens?{p}", None),
            ("/api/v1/flags/tokens", None),
        ],
        ("DELETE", "/api/v1/flags/tokens/{token_id}"): [
            (f"/api/v1/flags/tokens/{b.client_token_id}?{p}", None),
            (f"/api/v1/flags/tokens/{b.client_token_id}", None),
        ],
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
        ("GET", "/api/v1/flags/protections"): [
            (f"/api/v1/flags/protections?{p}", None),
            ("/api/v1/flags/protections", None),
        ],
        ("PUT", "/api/v1/flags/protections"): [
            (f"/api/v1/flags/protections?{q}", {"approvals": 1})
        ],
        ("GET", "/api/v1/flags/requests"): [
            (f"/api/v1/flags/requests?{p}", None),
            ("/api/v1/flags/requests", None),
        ],
        ("POST", "/api/v1/flags/requests"): [
            (f"/api/v1/flags/requests?{q}", {"flag": "bravo-flag", "action": "enable"})
        ],
        ("GET", "/api/v1/flags/requests/{request_id}"): [
            (f"/api/v1/flags/requests/{b.request_id}?{p}", None),
            (f"/api/v1/flags/requests/{b.request_id}", None),
        ],
        **{
            ("POST", f"/api/v1/flags/requests/{{request_id}}/{step}"): [
                (f"/api/v1/flags/requests/{b.request_id}/{step}?{p}", None),
                (f"/api/v1/flags/requests/{b.request_id}/{step}", None),
            ]
            for step in ("approve", "reject", "cancel", "apply")
        },
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
        # The frontend API takes frontend tokens: alpha's; its preflights take none by design.
        ("GET", "/api/frontend"): [("/api/frontend?userId=1&environment=dev", None)],
        ("POST", "/api/frontend"): [("/api/frontend", {"context": {"environment": "dev"}})],
        ("POST", "/api/frontend/client/metrics"): [
            (
                "/api/frontend/client/metrics",
                {"appName": "x", "bucket": {"start": "", "stop": "", "toggles": {}}},
            )
        ],
        ("POST", "/api/frontend/client/register"): [
            ("/api/frontend/client/register", {"appName": "x"})
        ],
        ("OPTIONS", "/api/frontend"): [("/api/frontend", None)],
        ("OPTIONS", "/api/frontend/client/metrics"): [("/api/frontend/client/metrics", None)],
        ("OPTIONS", "/api/frontend/client/register"): [("/api/frontend/client/register", None)],
    }


def send(
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
