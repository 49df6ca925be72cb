"""Flag services on a real store (SQLite and PostgreSQL): changes, events, refusals, import."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from shipyard.errors import Forbidden, InputError, NotFound, Unauthenticated
from shipyard.services.flags import flags, flags_client, flags_lifecycle
from shipyard.spec.load import parse_spec
from shipyard.store.uow import Store
from shipyard_sdk.flags import FeatureState, UnleashContext

P, ENV = "shop", "dev"
CONFORMANCE = Path(__file__).resolve().parents[1] / "conformance" / "unleash"


def _events(store: Store) -> list[dict[str, Any]]:
    with store.read() as uow:
        return [e.to_dict() for e in uow.events.query(project=P, kind="flag.*")]


def _suite(name: str) -> dict[str, Any]:
    return json.loads((CONFORMANCE / name).read_text(encoding="utf-8"))["state"]


def test_each_change_is_one_event_with_before_and_after(store: Store) -> None:
    """create, rollout, enable and delete each append flag.changed holding before and after."""
    flags.create(store, P, ENV, "new-checkout", "alice")
    flags.set_rollout(store, P, ENV, "new-checkout", 25, "alice")
    flags.set_enabled(store, P, ENV, "new-checkout", True, "bob")
    flags.delete(store, P, ENV, "new-checkout", "carol")
    events = _events(store)
    assert [e["actor"] for e in events] == ["alice", "alice", "bob", "carol"]
    assert all(e["kind"] == "flag.changed" and e["subject"] == "flag:new-checkout" for e in events)
    assert events[0]["payload"]["before"] is None
    rollout = events[1]["payload"]
    assert rollout["environment"] == ENV
    assert rollout["before"]["strategies"][0]["parameters"]["rollout"] == "100"
    assert rollout["after"]["strategies"][0]["parameters"]["rollout"] == "25"
    assert events[2]["payload"]["after"]["enabled"] is True
    assert events[3]["payload"]["after"] is None
    assert flags.list_flags(store, P, ENV) == []


def test_an_unchanged_save_records_nothing(store: Store) -> None:
    """Enabling an enabled flag changes nothing: no event, same revision (same ETag)."""
    flags.create(store, P, ENV, "f", "a", enabled=True)
    rev = flags.revision(store, P, ENV)
    result = flags.set_enabled(store, P, ENV, "f", True, "a")
    assert result["changed"] is False
    assert flags.revision(store, P, ENV) == rev
    assert len(_events(store)) == 1


def _bad_features() -> list[Any]:
    base = {"name": "f", "enabled": True}
    return [
        pytest.param({**base, "strategies": [{"name": "nope"}]}, "flag-strategy-unknown", id="s"),
        pytest.param(
            {**base, "strategies": [{"name": "default", "parameters": {"x": "1"}}]},
            "flag-strategy-parameter-unknown",
            id="param",
        ),
        pytest.param(
            {**base, "strategies": [{"name": "flexibleRollout", "parameters": {"rollout": "150"}}]},
            "flag-percentage-invalid",
            id="pct",
        ),
        pytest.param(
            {
                **base,
                "strategies": [
                    {
                        "name": "default",
                        "constraints": [
                            {"contextName": "email", "operator": "REGEX", "value": "(unclosed"}
                        ],
                    }
                ],
            },
            "flag-regex-invalid",
            id="regex",
        ),
        pytest.param(
            {
                **base,
                "strategies": [
                    {
                        "name": "default",
                        "constraints": [
                            {"contextName": "version", "operator": "SEMVER_GT", "value": "1.x"}
                        ],
                    }
                ],
            },
            "flag-semver-invalid",
            id="semver",
        ),
        pytest.param(
            {**base, "variants": [{"name": "a", "weight": 0}, {"name": "b", "weight": 0}]},
            "flag-variant-weights-invalid",
            id="weights",
        ),
        pytest.param({**base, "name": "has space"}, "flag-name-invalid", id="name"),
        pytest.param({**base, "type": "forever"}, "flag-type-unknown", id="type"),
    ]


@pytest.mark.parametrize(("feature", "code"), _bad_features())
def test_a_bad_definition_is_refused_and_nothing_changes(
    store: Store, feature: dict[str, Any], code: str
) -> None:
    """Each kind of bad definition raises its own code and leaves flags and log as they were."""
    flags.create(store, P, ENV, "f", "a")
    before = (flags.export(store, P, ENV), _events(store), flags.revision(store, P, ENV))
    with pytest.raises(InputError) as err:
        flags.save(store, P, ENV, feature, "a")
    assert err.value.code == code and err.value.hint
    assert (flags.export(store, P, ENV), _events(store), flags.revision(store, P, ENV)) == before


def test_a_percentage_outside_0_to_100_is_refused(store: Store) -> None:
    """rollout 101 and -1 are refused with flag-percentage-invalid; the flag keeps its rollout."""
    flags.create(store, P, ENV, "f", "a", rollout=30)
    for pct in (101, -1):
        with pytest.raises(InputError) as err:
            flags.set_rollout(store, P, ENV, "f", pct, "a")
        assert err.value.code == "flag-percentage-invalid"
    assert flags.list_flags(store, P, ENV)[0]["rollout"] == 30


def test_a_strict_import_with_a_dependency_cycle_stores_nothing(store: Store) -> None:
    """A strict import of a payload with a cycle of parent flags is refused whole: no flag and
    no event stored."""
    with pytest.raises(InputError) as err:
        flags.import_payload(store, P, ENV, _suite("17-dependent-features.json"), "a", strict=True)
    assert err.value.code == "flag-dependency-cycle"
    assert flags.list_flags(store, P) == [] and _events(store) == []


def test_deleting_a_parent_flag_is_refused(store: Store) -> None:
    """A flag other flags depend on cannot be deleted from under them."""
    flags.save(store, P, ENV, {"name": "parent", "enabled": True}, "a")
    flags.save(
        store,
        P,
        ENV,
        {"name": "child", "enabled": True, "dependencies": [{"feature": "parent"}]},
        "a",
    )
    with pytest.raises(InputError) as err:
        flags.delete(store, P, ENV, "parent", "a")
    assert err.value.code == "flag-dependency-missing"
    assert {f["name"] for f in flags.list_flags(store, P, ENV)} == {"parent", "child"}


@pytest.mark.parametrize(
    "suite",
    [
        "01-simple-examples.json",
        "08-variants.json",
        "10-flexible-rollout-strategy.json",
        "16-strategy-variants.json",
        "18-utf8-flag-names.json",
    ],
)
def test_import_then_export_round_trips_a_conformance_state(store: Store, suite: str) -> None:
    """The state of a client-specification file comes back out of export as it went in."""
    payload = _suite(suite)
    result = flags.import_payload(store, P, ENV, payload, "a")
    assert len(result["created"]) == len(payload["features"])
    assert FeatureState.from_payload(flags.export(store, P, ENV)) == FeatureState.from_payload(
        payload
    )
    again = flags.import_payload(store, P, ENV, payload, "a")
    assert again["created"] == again["updated"] == [] and again["unchanged"] == len(
        payload["features"]
    )


def test_segments_are_imported_and_served(store: Store) -> None:
    """Segments in an import are stored per environment and served with the features."""
    payload = {
        "version": 2,
        "features": [
            {"name": "seg", "enabled": True, "strategies": [{"name": "default", "segments": [7]}]}
        ],
        "segments": [
            {"id": 7, "constraints": [{"contextName": "plan", "operator": "IN", "values": ["pro"]}]}
        ],
    }
    flags.import_payload(store, P, ENV, payload, "a")
    _, served = flags.client_payload(store, P, ENV)
    assert served["segments"][0]["id"] == 7
    state = flags.state(store, P, ENV)
    assert state.is_enabled("seg", UnleashContext(properties={"plan": "pro"}))
    assert not state.is_enabled("seg", UnleashContext(properties={"plan": "free"}))


def test_environments_are_separate(store: Store) -> None:
    """The same flag name is independent per environment; a change in one leaves the other."""
    flags.create(store, P, "dev", "f", "a", enabled=True)
    flags.create(store, P, "production", "f", "a")
    flags.set_enabled(store, P, "production", "f", True, "a")
    flags.set_enabled(store, P, "dev", "f", False, "a")
    shown = flags.show(store, P, "f")["environments"]
    assert shown["dev"]["enabled"] is False and shown["production"]["enabled"] is True


def test_unknown_flag_and_environment_name_are_errors(store: Store) -> None:
    """A missing flag is flag-not-found; an undeclared environment is flag-environment-unknown."""
    with pytest.raises(NotFound) as err:
        flags.set_enabled(store, P, ENV, "ghost", True, "a")
    assert err.value.code == "flag-not-found"
    with pytest.raises(InputError) as err2:
        flags.check_environment("qa", ["dev", "production"])
    assert err2.value.code == "flag-environment-unknown"


def test_sync_writes_flags_declared_in_shipyard_yaml(store: Store) -> None:
    """`flags:` in shipyard.yaml becomes stored flags; a second sync changes nothing."""
    spec = parse_spec(
        "project: shop\n"
        "environments: {dev: {}, production: {}}\n"
        "flags:\n"
        "  dark-mode:\n"
        "    type: experiment\n"
        "    environments:\n"
        "      dev: {enabled: true, rollout: 50}\n"
        "      production: {enabled: false}\n"
    )
    first = flags.sync_spec(store, spec, "a", list(spec.environments))
    assert sorted(first["changed"]) == ["dev/dark-mode", "production/dark-mode"]
    rows = {r["environment"]: r for r in flags.list_flags(store, P)}
    assert rows["dev"]["rollout"] == 50 and rows["dev"]["type"] == "experiment"
    assert flags.sync_spec(store, spec, "a", list(spec.environments)) == {
        "changed": [],
        "unchanged": 2,
    }


def test_client_tokens_are_scoped_to_one_environment(store: Store) -> None:
    """A client token authenticates as its project and environment and refuses another."""
    created = flags_client.create_token(store, P, "dev")
    who = flags_client.authenticate(store, created["token"])
    assert (who.project, who.environment) == (P, "dev")
    assert flags_client.authenticate(store, "Bearer " + created["token"]) == who
    with pytest.raises(Forbidden) as err:
        who.require_environment("production")
    assert err.value.code == "flag-token-environment"
    with pytest.raises(Unauthenticated):
        flags_client.authenticate(store, created["token"] + "x")
    with store.read() as uow:
        stored = uow.conn.exec_driver_sql("SELECT token_hash FROM flag_client_tokens").scalar()
    assert created["token"].encode() not in bytes(stored)


def test_metrics_are_counted_per_flag_and_hour(store: Store) -> None:
    """Reported yes/no counts add up per flag, application and hour; bad counts are refused."""
    flags.create(store, P, ENV, "f", "a")
    who = flags_client.authenticate(store, flags_client.create_token(store, P, ENV)["token"])
    body = {"appName": "web", "bucket": {"toggles": {"f": {"yes": 3, "no": 1}}}}
    flags_client.record_metrics(store, who, body)
    flags_client.record_metrics(store, who, body)
    [row] = flags_client.usage(store, P, "f")
    assert (row["yes"], row["no"], row["app_name"]) == (6, 2, "web")
    with pytest.raises(InputError) as err:
        bad = {"appName": "web", "bucket": {"toggles": {"f": {"yes": -1}}}}
        flags_client.record_metrics(store, who, bad)
    assert err.value.code == "flag-client-body-invalid"


def test_stale_names_old_settled_unused_flags_with_their_references(
    store: Store, tmp_path: Path
) -> None:
    """Past its lifetime, at 100% everywhere and unevaluated: listed, with the code naming it."""
    root = tmp_path / "repo"
    (root / "app").mkdir(parents=True)
    (root / "app" / "view.py").write_text("x = 1\nif flags.is_enabled('old-banner'):\n    pass\n")
    (root / "shipyard.yaml").write_text("flags: {old-banner: {}}\n")  # a declaration, not a use
    flags.create(store, P, ENV, "old-banner", "a", enabled=True)
    flags.create(store, P, ENV, "kill", "a", kind="kill-switch", enabled=True)
    later = datetime.now(UTC) + timedelta(days=41)
    report = flags_lifecycle.stale(store, P, root, days=7, now=later)
    by_name = {s["name"]: s for s in report["stale"]}
    banner = by_name["old-banner"]
    assert banner["references"] == ["app/view.py:2"]
    assert any("40 days" in r for r in banner["reasons"])
    assert any("100% in every environment" in r for r in banner["reasons"])
    assert any("no evaluations" in r for r in banner["reasons"])
    # A kill switch is meant to stay: only the missing code reference and usage count.
    assert all("lifetime" not in r and "100%" not in r for r in by_name["kill"]["reasons"])
    assert flags_lifecycle.stale(store, P, root, days=7)["stale"] == []
