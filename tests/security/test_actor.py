"""Hole 7: an event made through the API names its token's principal and the token's id, so
two tokens with the same name are told apart."""

from __future__ import annotations

from tests.security.conftest import World


def test_events_record_the_token_id_and_its_principal(world: World) -> None:
    """Two tokens both named ci-bot change flags; each event says which token acted."""
    ids = []
    for n in range(2):
        made = world.call(
            "POST", "/api/v1/tokens", "root", json={"role": "developer", "name": "ci-bot"}
        ).json()
        ids.append(made["id"])
        headers = {"Authorization": f"Bearer {made['token']}"}
        flag = {"name": f"actor-flag-{n}", "enabled": True}
        put = world.call(
            "PUT",
            f"/api/v1/flags/actor-flag-{n}?project=bravo&env=dev",
            None,
            headers=headers,
            json=flag,
        )
        assert put.status_code == 200, put.text
    log = world.call("GET", "/api/v1/audit/events?kind=flag.changed&limit=10000", "root").json()
    mine = {e["subject"]: e for e in log["events"] if e["subject"].startswith("flag:actor-flag-")}
    assert [mine[f"flag:actor-flag-{n}"]["actor"] for n in range(2)] == ["ci-bot", "ci-bot"]
    assert [mine[f"flag:actor-flag-{n}"]["payload"]["actor_token"] for n in range(2)] == ids
    created = [
        e
        for e in world.call("GET", "/api/v1/audit/events?kind=token.created", "root").json()[
            "events"
        ]
        if e["subject"] in {f"token:{i}" for i in ids}
    ]
    assert {e["payload"]["actor_token"] for e in created} == {world.tokens["root"]["id"]}
    assert {e["actor"] for e in created} == {"root"}


def test_events_made_without_a_token_carry_none(world: World) -> None:
    """What the CLI records on its own store names no token."""
    world.cli("token", "create", "--role", "viewer", "--name", "local-made", "--json")
    log = world.call("GET", "/api/v1/audit/events?kind=token.created&limit=10000", "root").json()
    local = [e for e in log["events"] if e["payload"].get("name") == "local-made"]
    assert local and "actor_token" not in local[-1]["payload"]
