"""Hole 1: a project-scoped admin stays inside its project (tokens, checkpoints)."""

from __future__ import annotations

import pytest

from tests.security.conftest import World


def test_project_admin_cannot_mint_a_global_token(world: World) -> None:
    """A token an alpha admin creates without a project is an alpha token, not a global one."""
    made = world.call("POST", "/api/v1/tokens", "alpha_admin", json={"role": "admin", "name": "x"})
    assert made.status_code == 201, made.text
    assert made.json()["project"] == "alpha"
    minted = {"Authorization": f"Bearer {made.json()['token']}"}
    listed = world.call("GET", "/api/v1/tokens", None, headers=minted).json()["tokens"]
    assert {t["project"] for t in listed} == {"alpha"}


@pytest.mark.parametrize("project", ["bravo", "charlie"])
def test_project_admin_cannot_mint_tokens_for_another_project(world: World, project: str) -> None:
    """An alpha admin asking for a token of another project is refused with 403."""
    made = world.call(
        "POST", "/api/v1/tokens", "alpha_admin", json={"role": "viewer", "project": project}
    )
    assert made.status_code == 403 and made.json()["code"] == "forbidden"
    assert made.json()["hint"]


def test_project_admin_lists_and_revokes_only_its_own_tokens(world: World) -> None:
    """Listing shows only alpha's tokens; revoking bravo's answers 404 and leaves it working."""
    listed = world.call("GET", "/api/v1/tokens", "alpha_admin").json()["tokens"]
    assert listed and {t["project"] for t in listed} == {"alpha"}
    bravo_id = world.tokens["bravo_viewer"]["id"]
    gone = world.call("DELETE", f"/api/v1/tokens/{bravo_id}", "alpha_admin")
    assert gone.status_code == 404 and gone.json()["code"] == "token-not-found"
    still = world.call("GET", "/api/v1/audit/events", "bravo_viewer")
    assert still.status_code == 200
    root_id = world.tokens["root"]["id"]
    assert world.call("DELETE", f"/api/v1/tokens/{root_id}", "alpha_admin").status_code == 404


def test_checkpoints_need_a_global_admin(world: World) -> None:
    """Signing a checkpoint covers every project, so a project admin is refused; root is not."""
    refused = world.call("POST", "/api/v1/audit/checkpoints", "alpha_admin")
    assert refused.status_code == 403 and refused.json()["code"] == "forbidden"
    assert world.call("POST", "/api/v1/audit/checkpoints", "root").status_code == 200
