"""Importing from Unleash on a real store (SQLite and PostgreSQL): lenient by default, as
Unleash serves what it accepts; strict on request; the delta formats; disabled strategies."""

from __future__ import annotations

import json
from pathlib import Path
from random import Random
from typing import Any

import pytest

from shipyard.errors import InputError
from shipyard.services.flags import flags
from shipyard.store.uow import Store
from shipyard_sdk.flags import UnleashContext
from tests.unit.test_unleash_conformance import NOW

P = "shop"
CONFORMANCE = Path(__file__).resolve().parents[1] / "conformance" / "unleash"
FILES = sorted(p.name for p in CONFORMANCE.glob("[0-9][0-9]-*.json"))


def _file(name: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((CONFORMANCE / name).read_text(encoding="utf-8"))
    return data


def _events(store: Store) -> list[dict[str, Any]]:
    with store.read() as uow:
        return [e.to_dict() for e in uow.events.query(project=P, kind="flag.*")]


def test_every_specification_file_imports_and_evaluates_as_specified(store: Store) -> None:
    """Each of the 22 client-specification files imports (into its own environment), and
    every check of the file holds against what was stored."""
    with_warnings = []
    for number, name in enumerate(FILES):
        env = f"e{number:02d}"
        data = _file(name)
        result = flags.import_payload(store, P, env, data["state"], "a")
        if result["warnings"]:
            with_warnings.append(name[:2])
        state = flags.state(store, P, env)
        for case in data.get("tests", []):
            ctx = UnleashContext.from_dict(case["context"])
            got = state.is_enabled(case["toggleName"], ctx, now=NOW, random=Random(0).random)
            assert got is case["expectedResult"], (name, case["description"])
        for case in data.get("variantTests", []):
            ctx = UnleashContext.from_dict(case["context"])
            variant = state.get_variant(case["toggleName"], ctx, now=NOW, random=Random(0).random)
            assert variant.to_dict() == case["expectedResult"], (name, case["description"])
    assert with_warnings == ["06", "09", "11", "13", "14", "15", "17", "21", "22"]


def test_each_oddity_is_a_warning_naming_the_flag_and_field(store: Store) -> None:
    """A mixed valid/invalid address list is stored, with one warning naming flag, field,
    code and how it evaluates."""
    result = flags.import_payload(
        store, P, "dev", _file("06-remote-address-strategy.json")["state"], "a"
    )
    assert result["warnings"] == [
        {
            "flag": "Feature.remoteAddress.C",
            "field": "strategies[0].parameters.IPs",
            "code": "flag-address-invalid",
            "message": "not IP addresses or CIDR ranges: '192.invalid'",
            "effect": "the invalid entries are ignored",
        }
    ]
    assert "Feature.remoteAddress.C" in flags.state(store, P, "dev")


def test_a_strict_import_refuses_the_file_and_stores_nothing(store: Store) -> None:
    """With strict, a file with one odd flag is refused whole: no flag, no event."""
    with pytest.raises(InputError) as err:
        flags.import_payload(
            store, P, "dev", _file("22-cidr-constraint-operators.json")["state"], "a", strict=True
        )
    assert err.value.code == "flag-address-invalid"
    assert flags.list_flags(store, P) == [] and _events(store) == []


def test_changes_after_a_lenient_import_are_judged_on_what_they_add(store: Store) -> None:
    """A flag imported with an oddity can still be toggled, and other flags changed; a change
    that brings a new problem is still refused."""
    flags.import_payload(store, P, "dev", _file("06-remote-address-strategy.json")["state"], "a")
    assert flags.set_enabled(store, P, "dev", "Feature.remoteAddress.C", False, "a")["changed"]
    flags.create(store, P, "dev", "other", "a")
    bad = {
        "name": "other",
        "enabled": True,
        "strategies": [{"name": "remoteAddress", "parameters": {"IPs": "nope"}}],
    }
    with pytest.raises(InputError) as err:
        flags.save(store, P, "dev", bad, "a")
    assert err.value.code == "flag-address-invalid"


@pytest.mark.parametrize(
    "payload",
    [{}, {"version": 2}, {"features": []}, {"events": []}, {"toggles": [1]}],
    ids=["empty", "version-only", "no-features", "no-events", "other-shape"],
)
def test_a_file_with_nothing_to_import_is_an_error(store: Store, payload: dict[str, Any]) -> None:
    """A payload that is no flags state, or holds no flag or segment, is flag-import-empty."""
    with pytest.raises(InputError) as err:
        flags.import_payload(store, P, "dev", payload, "a")
    assert err.value.code == "flag-import-empty" and err.value.hint
    assert _events(store) == []


def test_a_hydration_event_is_imported(store: Store) -> None:
    """The delta API's hydration event imports its flags and segments."""
    result = flags.import_payload(
        store, P, "dev", _file("19-delta-api-hydration.json")["state"], "a"
    )
    assert result["created"] == ["delta.api.hydration"] and result["segments"] == 1
    assert flags.state(store, P, "dev").segments


def test_delta_events_apply_in_order_and_remove_what_they_remove(store: Store) -> None:
    """feature-updated events create flags; a feature-removed event deletes a stored flag."""
    events = _file("20-delta-api-events.json")["state"]["events"]
    removed = {e["featureName"] for e in events if e["type"] == "feature-removed"}
    for name in removed:
        flags.create(store, P, "dev", name, "a")
    result = flags.import_payload(store, P, "dev", {"events": events}, "a")
    assert sorted(result["deleted"]) == sorted(removed)
    stored = flags.state(store, P, "dev")
    assert not any(name in stored for name in removed) and len(stored) >= 1


def test_a_disabled_strategy_stays_disabled(store: Store) -> None:
    """A strategy marked disabled is kept (export round-trips it) but never evaluated or
    served; a flag whose strategies are all disabled is served as off."""
    feature = {
        "name": "f",
        "enabled": True,
        "strategies": [{"name": "default", "disabled": True}],
    }
    both = {
        "name": "g",
        "enabled": True,
        "strategies": [
            {"name": "default", "disabled": True},
            {"name": "userWithId", "parameters": {"userIds": "7"}},
        ],
    }
    flags.import_payload(store, P, "dev", {"version": 2, "features": [feature, both]}, "a")
    state = flags.state(store, P, "dev")
    assert not state.is_enabled("f", UnleashContext(user_id="1"))
    assert not state.is_enabled("g", UnleashContext(user_id="1"))
    assert state.is_enabled("g", UnleashContext(user_id="7"))
    exported = {f["name"]: f for f in flags.export(store, P, "dev")["features"]}
    assert exported["f"]["strategies"][0]["disabled"] is True
    _, served = flags.client_payload(store, P, "dev")
    by_name = {f["name"]: f for f in served["features"]}
    assert by_name["f"]["enabled"] is False and by_name["f"]["strategies"] == []
    assert [s["name"] for s in by_name["g"]["strategies"]] == ["userWithId"]
