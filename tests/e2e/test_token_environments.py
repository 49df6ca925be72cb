"""API tokens limited to environments, over a real server: a developer toggles flags in dev
but not in production, sees dev alone, and mints nothing wider than itself."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx

from tests.e2e.helpers import as_json, running_server, shipyard

SPEC = "project: shop\nenvironments:\n  dev: {}\n  production: {}\n"


def test_a_dev_token_changes_dev_but_not_production(tmp_path: Path) -> None:
    """`token create --role developer --env dev`: enable in dev is 200, in production 403
    token-environment-refused (unchanged); lists and shows hold dev alone; a production client
    token or a deploy to production is refused; it creates no token beyond dev."""
    (tmp_path / "shipyard.yaml").write_text(SPEC)
    for env in ("dev", "production"):
        made = shipyard("flags", "create", "checkout", "--env", env, cwd=tmp_path)
        assert made.returncode == 0, made.stderr

    def token(*args: str) -> dict[str, Any]:
        proc = shipyard("token", "create", *args, "--json", cwd=tmp_path)
        assert proc.returncode == 0, proc.stderr
        return dict(as_json(proc))

    dev = token("--role", "developer", "--project", "shop", "--env", "dev", "--name", "ann")
    assert dev["environments"] == ["dev"]
    deployer = token("--role", "deployer", "--env", "dev", "--name", "ci")
    admin = token("--role", "admin", "--env", "dev", "--name", "lead")
    listed = {
        t["id"]: t for t in as_json(shipyard("token", "list", "--json", cwd=tmp_path))["tokens"]
    }
    assert listed[dev["id"]]["environments"] == ["dev"]
    with running_server(tmp_path) as url:
        api = url + "/api/v1/flags"
        auth = {"Authorization": f"Bearer {dev['token']}"}
        assert httpx.post(api + "/checkout/enable?env=dev", headers=auth).status_code == 200
        refused = httpx.post(api + "/checkout/enable?env=production", headers=auth)
        assert refused.status_code == 403
        assert refused.json()["code"] == "token-environment-refused"
        flags = httpx.get(api, headers=auth).json()["flags"]
        assert {f["environment"] for f in flags} == {"dev"}
        shown = httpx.get(api + "/checkout", headers=auth).json()
        assert list(shown["environments"]) == ["dev"]
        assert httpx.get(api + "/export?env=production", headers=auth).status_code == 403
        client = httpx.post(api + "/tokens", json={"environment": "production"}, headers=auth)
        assert client.status_code == 403
        deploy = httpx.post(
            url + "/api/v1/deployments",
            json={"environment": "production"},
            headers={"Authorization": f"Bearer {deployer['token']}"},
        )
        assert deploy.status_code == 403 and deploy.json()["code"] == "token-environment-refused"
        lead = {"Authorization": f"Bearer {admin['token']}"}
        wider = httpx.post(url + "/api/v1/tokens", json={"role": "viewer"}, headers=lead)
        assert wider.status_code == 201 and wider.json()["environments"] == ["dev"]
        beyond = httpx.post(
            url + "/api/v1/tokens",
            json={"role": "viewer", "environments": ["production"]},
            headers=lead,
        )
        assert beyond.status_code == 403
    production = as_json(
        shipyard("flags", "show", "checkout", "--env", "production", "--json", cwd=tmp_path)
    )
    assert production["environments"]["production"]["enabled"] is False
