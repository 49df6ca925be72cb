"""Change requests as users make them: `shipyard flags protect` and `flags request ...` with
two people (SHIPYARD_ACTOR), on SQLite and PostgreSQL, and the same path over the API with a
developer's and an approver's tokens."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx

from tests.e2e.helpers import apply, as_json, running_server, shipyard

SPEC = "project: shop\nenvironments:\n  dev: {}\n  production: {}\n"


def _as(who: str, env: dict[str, str]) -> dict[str, str]:
    return {**env, "SHIPYARD_ACTOR": who}


def test_a_change_in_production_needs_another_persons_approval(
    tmp_path: Path, database_url: str
) -> None:
    """ann cannot toggle production directly nor approve her own request; bob approves it;
    ann applies it and the flag is on; the audit log holds every step."""
    (tmp_path / "shipyard.yaml").write_text(SPEC)
    db = {"SHIPYARD_DATABASE_URL": database_url}
    ann, bob = _as("ann@shop.example", db), _as("bob@shop.example", db)

    def run(who: dict[str, str], *args: str) -> Any:
        return shipyard(*args, "--json", cwd=tmp_path, env=who)

    assert run(ann, "flags", "create", "checkout", "--env", "production").returncode == 0
    assert run(ann, "flags", "protect", "--env", "production", "--approvals", "1").returncode == 0
    direct = run(ann, "flags", "enable", "checkout", "--env", "production")
    assert direct.returncode != 0
    assert as_json(direct)["error"]["code"] == "flag-change-request-required"
    made = run(ann, "flags", "request", "create", "checkout", "--env", "production", "--enable")
    assert made.returncode == 0, made.stderr
    request = as_json(made)
    own = run(ann, "flags", "request", "approve", str(request["id"]))
    assert own.returncode != 0
    assert as_json(own)["error"]["code"] == "flag-request-self-approval"
    approved = run(bob, "flags", "request", "approve", str(request["id"]))
    assert approved.returncode == 0 and as_json(approved)["status"] == "approved"
    applied = run(ann, "flags", "request", "apply", str(request["id"]))
    assert applied.returncode == 0 and as_json(applied)["status"] == "applied"
    shown = as_json(run(ann, "flags", "show", "checkout", "--env", "production"))
    assert shown["environments"]["production"]["enabled"] is True
    listed = as_json(run(bob, "flags", "request", "list", "--env", "production"))["requests"]
    assert [(r["status"], r["approved_by"]) for r in listed] == [("applied", ["bob@shop.example"])]
    log = as_json(run(ann, "audit", "log", "--kind", "flag.*"))["events"]
    steps = [(e["kind"], e["actor"]) for e in log if e["kind"] != "flag.changed"]
    assert steps[-4:] == [
        ("flag.protection-changed", "ann@shop.example"),
        ("flag.change-requested", "ann@shop.example"),
        ("flag.change-approved", "bob@shop.example"),
        ("flag.change-applied", "ann@shop.example"),
    ]


def test_change_requests_over_the_api_follow_roles(tmp_path: Path) -> None:
    """A developer proposes and applies, an approver approves; a developer cannot approve, an
    approver cannot propose, and the proposer's own token cannot approve."""
    (tmp_path / "shipyard.yaml").write_text(SPEC)

    def token(role: str, name: str) -> dict[str, str]:
        made = shipyard("token", "create", "--role", role, "--name", name, "--json", cwd=tmp_path)
        return {"Authorization": f"Bearer {as_json(made)['token']}"}

    dev, approver, admin = (
        token("developer", "ann"),
        token("approver", "bob"),
        token("admin", "root"),
    )
    assert (
        shipyard("flags", "create", "checkout", "--env", "production", cwd=tmp_path).returncode == 0
    )
    with running_server(tmp_path) as url:
        apply(tmp_path, url, admin["Authorization"].removeprefix("Bearer "))
        api = url + "/api/v1/flags"
        assert (
            httpx.put(
                api + "/protections?env=production", json={"approvals": 1}, headers=dev
            ).status_code
            == 403
        )
        assert (
            httpx.put(
                api + "/protections?env=production", json={"approvals": 1}, headers=admin
            ).status_code
            == 200
        )
        refused = httpx.post(api + "/checkout/enable?env=production", headers=dev)
        assert (
            refused.status_code == 409 and refused.json()["code"] == "flag-change-request-required"
        )
        body = {"flag": "checkout", "action": "rollout", "percentage": 30}
        assert (
            httpx.post(api + "/requests?env=production", json=body, headers=approver).status_code
            == 403
        )
        made = httpx.post(api + "/requests?env=production", json=body, headers=dev)
        assert made.status_code == 200, made.text
        rid = made.json()["id"]
        assert httpx.post(f"{api}/requests/{rid}/approve", headers=dev).status_code == 403
        ok = httpx.post(f"{api}/requests/{rid}/approve", headers=approver)
        assert ok.status_code == 200 and ok.json()["approved_by"] == ["bob"]
        applied = httpx.post(f"{api}/requests/{rid}/apply", headers=dev)
        assert applied.status_code == 200 and applied.json()["status"] == "applied"
        flag = httpx.get(api + "/checkout?env=production", headers=dev).json()
        assert flag["environments"]["production"]["rollout"] == 30
        assert (
            httpx.get(api + "/requests", headers=approver).json()["requests"][0]["status"]
            == "applied"
        )
        assert (
            httpx.get(api + "/protections", headers=dev).json()["protections"][0]["approvals"] == 1
        )
        mine = httpx.post(api + "/requests?env=production", json=body, headers=admin).json()
        own = httpx.post(f"{api}/requests/{mine['id']}/approve", headers=admin)
        assert own.status_code == 403 and own.json()["code"] == "flag-request-self-approval"
