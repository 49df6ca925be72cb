"""The pipeline routes over real HTTP: runs, one run, a step's log, with tokens."""

from __future__ import annotations

from pathlib import Path

import httpx

from tests.e2e.helpers import as_json, running_server, shipyard


def test_runs_routes(tmp_path: Path) -> None:
    """A viewer token lists runs, shows one and reads a log; no token or a bad id is refused."""
    (tmp_path / "shipyard.yaml").write_text(
        "project: shop\npipeline:\n  jobs:\n    a: {run: 'echo hello-log'}\n"
    )
    assert shipyard("run", cwd=tmp_path).returncode == 0
    token = as_json(shipyard("token", "create", "--role", "viewer", "--json", cwd=tmp_path))
    other = as_json(
        shipyard("token", "create", "--role", "viewer", "--project", "else", "--json", cwd=tmp_path)
    )
    with running_server(tmp_path) as url:
        auth = {"Authorization": f"Bearer {token['token']}"}
        runs = httpx.get(url + "/api/v1/runs", headers=auth).json()["runs"]
        assert runs[0]["id"] == 1 and runs[0]["status"] == "success"
        shown = httpx.get(url + "/api/v1/runs/1", headers=auth).json()
        assert shown["steps"][0]["node"] == "a"
        log = httpx.get(url + "/api/v1/runs/1/logs/a", headers=auth).json()
        assert "hello-log" in log["logs"][0]["log"]
        assert httpx.get(url + "/api/v1/runs").status_code == 401
        missing = httpx.get(url + "/api/v1/runs/99", headers=auth)
        assert missing.status_code == 404 and missing.json()["code"] == "run-not-found"
        elsewhere = {"Authorization": f"Bearer {other['token']}"}
        assert httpx.get(url + "/api/v1/runs/1", headers=elsewhere).status_code == 403
        assert httpx.get(url + "/api/v1/runs", headers=elsewhere).json()["runs"] == []
