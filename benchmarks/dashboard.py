"""Dashboard pages against their API routes, with 10,000 events and 1,000 runs stored.

Each page must render in under 200 ms of server time (in-process, SQLite). The peer is the
API route that serves the same data as JSON: the last line prints the slowest page, the budget,
and the ratio of the pages' total time to their API routes'.

    python benchmarks/dashboard.py
"""

from __future__ import annotations

import os
import tempfile
import time
from pathlib import Path

BUDGET_MS = 200.0
SPEC = """\
project: shop
pipeline:
  jobs:
    build: {run: echo built}
environments:
  dev: {target: {type: process, command: "python3 -m http.server {port}"}}
  production: {target: {type: process, command: "python3 -m http.server {port}"}}
"""
PAGES = [
    ("/", "/api/v1/environments"),
    ("/runs", "/api/v1/runs?limit=50"),
    ("/runs/500?step=build", "/api/v1/runs/500"),
    ("/rollouts", "/api/v1/deployments"),
    ("/flags?env=dev", "/api/v1/flags?env=dev"),
    ("/releases", "/api/v1/artifacts?project=shop"),
    ("/audit", "/api/v1/audit/events?limit=100"),
]


def _seed(root: Path) -> str:
    from shipyard.services import tokens
    from shipyard.settings import Settings
    from shipyard.store.pipelines import pipeline_runs, pipeline_steps
    from shipyard.store.uow import Store

    store = Store.open(Settings.load())
    token = tokens.create(store, "admin", "bench@example.com")["token"]
    with store.begin() as uow:
        for i in range(10_000):
            uow.events.append("bench.event", f"thing:{i}", "bench", {"i": i}, project="shop")
        for i in range(1, 1001):
            uow.conn.execute(
                pipeline_runs.insert(),
                {
                    "id": i,
                    "project": "shop",
                    "commit": "0" * 40,
                    "trigger": "cli",
                    "status": "success",
                    "jobs": "[]",
                    "started_at": "2026-01-01T00:00:00Z",
                    "finished_at": "2026-01-01T00:00:01Z",
                    "duration": 1.0,
                },
            )
            uow.conn.execute(
                pipeline_steps.insert(),
                {
                    "run_id": i,
                    "node": "build",
                    "job": "build",
                    "matrix": "{}",
                    "status": "success",
                    "cached": False,
                    "key": None,
                    "manifest": None,
                    "duration": 0.5,
                    "queued": 0.0,
                    "attempt": 1,
                    "log_digest": None,
                    "outputs": "{}",
                    "reason": "",
                    "finished_at": "2026-01-01T00:00:01Z",
                },
            )
    store.dispose()
    return str(token)


def main() -> None:
    from fastapi.testclient import TestClient

    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        (root / "shipyard.yaml").write_text(SPEC)
        os.chdir(root)
        token = _seed(root)
        from shipyard.api.serve import app

        with TestClient(app()) as client:
            client.cookies.set("shipyard_session", token)
            api = {"Authorization": f"Bearer {token}"}
            worst, page_total, api_total = 0.0, 0.0, 0.0
            for page, route in PAGES:
                for _ in range(2):  # warm
                    assert client.get(page).status_code == 200, page
                    assert client.get(route, headers=api).status_code == 200, route
                t = time.perf_counter()
                for _ in range(5):
                    client.get(page)
                page_ms = (time.perf_counter() - t) / 5 * 1000
                t = time.perf_counter()
                for _ in range(5):
                    client.get(route, headers=api)
                api_ms = (time.perf_counter() - t) / 5 * 1000
                print(f"{page:28} {page_ms:7.1f} ms   {route:36} {api_ms:7.1f} ms")
                worst, page_total, api_total = (
                    max(worst, page_ms),
                    page_total + page_ms,
                    api_total + api_ms,
                )
    print(
        f"slowest page {worst:.1f} ms (budget {BUDGET_MS:.0f} ms: "
        f"{'ok' if worst < BUDGET_MS else 'OVER'}); pages/API ratio {page_total / api_total:.2f}"
    )


if __name__ == "__main__":
    main()
