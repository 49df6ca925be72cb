"""Segment and strategy editing on a real store (SQLite and PostgreSQL): events, refusals."""

from __future__ import annotations

from typing import Any

import pytest

from shipyard.errors import Conflict, InputError, NotFound
from shipyard.services.flags import flag_segments as segs
from shipyard.services.flags import flag_strategies as strats
from shipyard.services.flags import flags
from shipyard.store.uow import Store
from shipyard_sdk.flags import UnleashContext

P, ENV = "shop", "dev"
BETA_USERS = [{"contextName": "userId", "operator": "IN", "values": ["1", "2"]}]


def _events(store: Store, kind: str) -> list[dict[str, Any]]:
    with store.read() as uow:
        return [e.to_dict() for e in uow.events.query(project=P, kind=kind)]


def test_segment_create_update_delete_each_record_before_and_after(store: Store) -> None:
    """Each change is one flag.segment-changed event, bumps the revision and shows in export."""
    rev = flags.revision(store, P, ENV)
    made = segs.create_segment(store, P, ENV, BETA_USERS, "alice", name="beta users")
    assert made["id"] == 1 and made["changed"] is True and made["used_by"] == []
    assert flags.revision(store, P, ENV) == rev + 1
    second = segs.create_segment(store, P, ENV, BETA_USERS[0], "alice")
    assert second["id"] == 2
    changed = segs.update_segment(
        store, P, ENV, 1, "bob", constraints=[{**BETA_USERS[0], "values": ["3"]}]
    )
    assert changed["name"] == "beta users" and changed["constraints"][0]["values"] == ["3"]
    same = segs.update_segment(store, P, ENV, 1, "bob", name="beta users")
    assert same["changed"] is False
    assert [s["id"] for s in segs.list_segments(store, P, ENV)] == [1, 2]
    assert flags.export(store, P, ENV)["segments"][0]["constraints"][0]["values"] == ["3"]
    segs.delete_segment(store, P, ENV, 2, "carol")
    events = _events(store, "flag.segment-changed")
    assert [(e["actor"], e["subject"]) for e in events] == [
        ("alice", "segment:1"),
        ("alice", "segment:2"),
        ("bob", "segment:1"),
        ("carol", "segment:2"),
    ]
    assert events[0]["payload"]["before"] is None
    assert events[0]["payload"]["after"]["name"] == "beta users"
    assert events[2]["payload"]["before"]["constraints"][0]["values"] == ["1", "2"]
    assert events[2]["payload"]["after"]["constraints"][0]["values"] == ["3"]
    assert events[3]["payload"] == {
        "environment": ENV,
        "before": events[1]["payload"]["after"],
        "after": None,
    }
    with pytest.raises(NotFound) as missing:
        segs.show_segment(store, P, ENV, 2)
    assert missing.value.code == "flag-segment-not-found"


@pytest.mark.parametrize(
    ("constraints", "code"),
    [
        ([{"contextName": "userId", "operator": "LIKE", "values": ["1"]}], "flag-operator-unknown"),
        ([{"contextName": "email", "operator": "REGEX", "value": "(?=x)"}], "flag-regex-invalid"),
        ([{"contextName": "v", "operator": "SEMVER_GT", "value": "v1.2"}], "flag-semver-invalid"),
        ([{"contextName": "userId", "operator": "IN"}], "flag-constraint-values-missing"),
        ([{"operator": "IN", "values": ["1"]}], "flag-payload-invalid"),
        ("not a list", "flag-payload-invalid"),
    ],
)
def test_invalid_segment_constraints_store_nothing(
    store: Store, constraints: Any, code: str
) -> None:
    """A segment whose constraints cannot work is refused with the domain's code, no event."""
    with pytest.raises(InputError) as refused:
        segs.create_segment(store, P, ENV, constraints, "alice")
    assert refused.value.code == code
    segs.create_segment(store, P, ENV, BETA_USERS, "alice")
    with pytest.raises(InputError) as again:
        segs.update_segment(store, P, ENV, 1, "alice", constraints=constraints)
    assert again.value.code == code
    assert segs.show_segment(store, P, ENV, 1)["constraints"][0]["values"] == ["1", "2"]
    assert len(_events(store, "flag.segment-changed")) == 1


def test_segment_bad_ids_and_names(store: Store) -> None:
    """A taken id is a conflict, a bad id or name is refused, unknown ids are not found."""
    segs.create_segment(store, P, ENV, BETA_USERS, "a", segment_id=7)
    with pytest.raises(Conflict) as taken:
        segs.create_segment(store, P, ENV, BETA_USERS, "a", segment_id=7)
    assert taken.value.code == "flag-segment-exists"
    with pytest.raises(InputError) as bad_id:
        segs.create_segment(store, P, ENV, BETA_USERS, "a", segment_id=0)
    assert bad_id.value.code == "flag-segment-id-invalid"
    with pytest.raises(InputError) as bad_name:
        segs.create_segment(store, P, ENV, BETA_USERS, "a", name=" ")
    assert bad_name.value.code == "flag-segment-name-invalid"
    for call in (
        lambda: segs.update_segment(store, P, ENV, 9, "a", name="x"),
        lambda: segs.delete_segment(store, P, ENV, 9, "a"),
        lambda: segs.show_segment(store, P, "production", 7),
    ):
        with pytest.raises(NotFound):
            call()
    assert segs.create_segment(store, P, ENV, [], "a")["id"] == 8


def test_a_segment_in_use_cannot_be_deleted(store: Store) -> None:
    """Deleting a segment a strategy refers to is refused, naming the flags; nothing changes."""
    segs.create_segment(store, P, ENV, BETA_USERS, "alice")
    flags.create(store, P, ENV, "beta", "alice", enabled=True)
    strats.add_strategy(store, P, ENV, "beta", "alice", kind="default", segments=[1])
    with pytest.raises(Conflict) as used:
        segs.delete_segment(store, P, ENV, 1, "alice")
    assert used.value.code == "flag-segment-in-use"
    assert "beta" in used.value.hint and used.value.details == {"flags": ["beta"]}
    assert segs.show_segment(store, P, ENV, 1)["used_by"] == ["beta"]
    assert len(_events(store, "flag.segment-changed")) == 1


def test_strategies_add_list_and_remove_as_flag_changes(store: Store) -> None:
    """Adding and removing a strategy are flag.changed events; evaluation follows them."""
    flags.create(store, P, ENV, "beta", "alice", rollout=0, enabled=True)
    added = strats.add_strategy(
        store,
        P,
        ENV,
        "beta",
        "bob",
        kind="userWithId",
        parameters={"userIds": "42,43"},
        constraints=[{"contextName": "appName", "operator": "IN", "values": ["web"]}],
    )
    assert [s["name"] for s in added["strategies"]] == ["flexibleRollout", "userWithId"]
    state = flags.state(store, P, ENV)
    web = UnleashContext(user_id="42", app_name="web")
    assert state.is_enabled("beta", web) is True
    assert state.is_enabled("beta", UnleashContext(user_id="42", app_name="ios")) is False
    listed = strats.list_strategies(store, P, ENV, "beta")["strategies"]
    assert [(s["index"], s["name"]) for s in listed] == [(0, "flexibleRollout"), (1, "userWithId")]
    removed = strats.remove_strategy(store, P, ENV, "beta", 1, "carol")
    assert [s["name"] for s in removed["strategies"]] == ["flexibleRollout"]
    assert flags.state(store, P, ENV).is_enabled("beta", web) is False
    events = _events(store, "flag.changed")
    assert [e["actor"] for e in events] == ["alice", "bob", "carol"]
    assert len(events[1]["payload"]["before"]["strategies"]) == 1
    assert events[1]["payload"]["after"]["strategies"][1]["parameters"] == {"userIds": "42,43"}
    assert len(events[2]["payload"]["after"]["strategies"]) == 1


@pytest.mark.parametrize(
    ("kwargs", "code"),
    [
        ({"kind": "nope"}, "flag-strategy-unknown"),
        ({"kind": "default", "parameters": {"x": "1"}}, "flag-strategy-parameter-unknown"),
        ({"kind": "userWithId"}, "flag-strategy-parameter-missing"),
        ({"kind": "flexibleRollout", "parameters": {"rollout": "150"}}, "flag-percentage-invalid"),
        ({"kind": "remoteAddress", "parameters": {"IPs": "10.0.0.300"}}, "flag-address-invalid"),
        ({"kind": "default", "segments": [5]}, "flag-segment-missing"),
        ({"kind": "default", "segments": ["5"]}, "flag-segment-id-invalid"),
        (
            {
                "kind": "default",
                "constraints": [{"contextName": "a", "operator": "NUM_GT", "value": "x"}],
            },
            "flag-number-invalid",
        ),
        ({"kind": "default", "constraints": 3}, "flag-payload-invalid"),
    ],
)
def test_invalid_strategies_store_nothing(store: Store, kwargs: dict[str, Any], code: str) -> None:
    """A strategy that cannot work is refused with the domain's code and no event."""
    flags.create(store, P, ENV, "beta", "alice")
    with pytest.raises(InputError) as refused:
        strats.add_strategy(store, P, ENV, "beta", "bob", **kwargs)
    assert refused.value.code == code
    assert len(strats.list_strategies(store, P, ENV, "beta")["strategies"]) == 1
    assert len(_events(store, "flag.changed")) == 1


def test_strategy_removal_refusals(store: Store) -> None:
    """A missing index, a missing flag and the last strategy of an enabled flag are refused."""
    flags.create(store, P, ENV, "beta", "alice", enabled=True)
    with pytest.raises(InputError) as index:
        strats.remove_strategy(store, P, ENV, "beta", 3, "a")
    assert index.value.code == "flag-strategy-index-invalid"
    with pytest.raises(InputError) as last:
        strats.remove_strategy(store, P, ENV, "beta", 0, "a")
    assert last.value.code == "flag-strategy-last"
    with pytest.raises(NotFound):
        strats.add_strategy(store, P, ENV, "ghost", "a", kind="default")
    flags.set_enabled(store, P, ENV, "beta", False, "a")
    assert strats.remove_strategy(store, P, ENV, "beta", 0, "a")["strategies"] == []
    with pytest.raises(InputError) as pair:
        strats.parse_params(["rollout"])
    assert pair.value.code == "flag-strategy-parameter-invalid"
    assert strats.parse_params(["userIds=1,2", "a=b=c"]) == {"userIds": "1,2", "a": "b=c"}
