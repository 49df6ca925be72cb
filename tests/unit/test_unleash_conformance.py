"""The Unleash client specification: every check of every vendored file, one test each."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from functools import cache
from pathlib import Path
from random import Random
from typing import Any

import pytest

from shipyard_sdk.flags import FeatureState, UnleashContext, get_variant, is_enabled, load_state

SPEC = Path(__file__).resolve().parents[1] / "conformance" / "unleash"
# A fixed clock: the date checks carry their own currentTime, and nothing else may depend on it.
NOW = datetime(2024, 6, 1, 12, 0, tzinfo=UTC)


def _suites() -> list[tuple[str, dict[str, Any]]]:
    index = json.loads((SPEC / "index.json").read_text(encoding="utf-8"))
    return [(name, json.loads((SPEC / name).read_text(encoding="utf-8"))) for name in index]


def _cases(kind: str) -> list[Any]:
    cases = []
    for name, suite in _suites():
        for number, case in enumerate(suite.get(kind, [])):
            cases.append(pytest.param(name, case, id=f"{name.removesuffix('.json')}#{number}"))
    return cases


ENABLED_CASES = _cases("tests")
VARIANT_CASES = _cases("variantTests")


@cache
def _state(name: str) -> FeatureState:
    return load_state(json.loads((SPEC / name).read_text(encoding="utf-8"))["state"])


def test_every_file_and_check_is_collected() -> None:
    """All 22 files of the index are read, giving 227 enabled checks and 52 variant checks."""
    suites = _suites()
    assert len(suites) == 22
    assert sorted(p.name for p in SPEC.glob("[0-9][0-9]-*.json")) == [name for name, _ in suites]
    assert len(ENABLED_CASES) == 227
    assert len(VARIANT_CASES) == 52


@pytest.mark.parametrize(("file_name", "case"), ENABLED_CASES)
def test_enabled_check(file_name: str, case: dict[str, Any]) -> None:
    """The toggle is on or off for the context exactly as the specification expects."""
    context = UnleashContext.from_dict(case["context"])
    result = is_enabled(
        _state(file_name), case["toggleName"], context, now=NOW, random=Random(0).random
    )
    assert result is case["expectedResult"], case["description"]


@pytest.mark.parametrize(("file_name", "case"), VARIANT_CASES)
def test_variant_check(file_name: str, case: dict[str, Any]) -> None:
    """The variant (name, payload, enabled, feature_enabled) is the one the spec expects."""
    context = UnleashContext.from_dict(case["context"])
    variant = get_variant(
        _state(file_name), case["toggleName"], context, now=NOW, random=Random(0).random
    )
    assert variant.to_dict() == case["expectedResult"], case["description"]
