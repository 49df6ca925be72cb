"""Matrix expansion on random matrices: it equals a plain reading of GitHub Actions' rules
(the product in the order written, minus ``exclude``, plus ``include``), has no repeated
combination, keeps to the combination limit with ``matrix-too-large``, and is deterministic."""

from __future__ import annotations

import copy
import math
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from shipyard.domain.pipeline import DEFAULT_MAX_COMBINATIONS, PipelineError, expand_matrix

# Values that compare equal in Python but are different matrix values (1, 1.0 and True;
# 1 and "1"), so that identity by type is exercised.
_VALUES = st.sampled_from([1, 2, 1.0, True, False, None, "1", "a", "b", "3.10", 3.1])
_MATRIX_KEYS = ["os", "python", "arch", "db"]
_EXTRA_KEYS = ["experimental", "color"]
# A matrix's vectors, its include entries and its exclude entries.
Case = tuple[dict[str, list[Any]], list[dict[str, Any]], list[dict[str, Any]]]


@st.composite
def _matrices(draw: st.DrawFn) -> Case:
    """Up to four keys of one to four values each (repeats allowed), and ``exclude`` and
    ``include`` entries over those keys; includes may also add keys of their own."""
    keys = draw(st.lists(st.sampled_from(_MATRIX_KEYS), unique=True, max_size=4))
    matrix = {k: draw(st.lists(_VALUES, min_size=1, max_size=4)) for k in keys}
    exclude = (
        draw(st.lists(st.dictionaries(st.sampled_from(keys), _VALUES, max_size=2), max_size=3))
        if keys
        else []
    )
    include = draw(
        st.lists(
            st.dictionaries(st.sampled_from(keys + _EXTRA_KEYS), _VALUES, min_size=1, max_size=3),
            max_size=4,
        )
    )
    return matrix, include, exclude


def _identity(value: object) -> tuple[str, str]:
    """Matrix values are the same only with the same type: ``true`` is not ``1``."""
    return type(value).__name__, repr(value)


def _key(combination: dict[str, Any]) -> frozenset[tuple[str, tuple[str, str]]]:
    return frozenset((k, _identity(v)) for k, v in combination.items())


def _has(combination: dict[str, Any], entry: dict[str, Any]) -> bool:
    """Does the combination have every key/value pair of ``entry``?"""
    return all(
        k in combination and _identity(combination[k]) == _identity(v) for k, v in entry.items()
    )


def _reference(
    matrix: dict[str, list[Any]], include: list[dict[str, Any]], exclude: list[dict[str, Any]]
) -> list[dict[str, Any]]:
    """GitHub Actions' rules read literally. The product, first key slowest; minus every
    combination an exclude entry partly matches; then each include entry is added to every
    remaining combination whose original values it does not change (values added by an
    earlier include may be overwritten), or else becomes a combination of its own; repeats
    keep their first place. A matrix of includes alone has no product."""
    rows: list[dict[str, Any]] = [{}] if matrix else []
    for key, values in matrix.items():
        rows = [{**row, key: value} for row in rows for value in values]
    rows = [row for row in rows if not any(_has(row, entry) for entry in exclude)]
    combinations = [dict(row) for row in rows]
    extra = []
    for entry in include:
        fits = [
            i
            for i, row in enumerate(rows)
            if _has(row, {k: v for k, v in entry.items() if k in row})
        ]
        for i in fits:
            combinations[i].update(entry)
        if not fits:
            extra.append(dict(entry))
    seen: set[frozenset[tuple[str, tuple[str, str]]]] = set()
    out = []
    for combination in combinations + extra:
        if _key(combination) not in seen:
            seen.add(_key(combination))
            out.append(combination)
    return out


@settings(max_examples=200, deadline=None)
@given(
    case=_matrices(),
    limit=st.none() | st.integers(1, 40),
    near=st.booleans(),
    slack=st.integers(-2, 2),
)
def test_expansion_is_githubs_product_minus_exclude_plus_include(
    case: Case,
    limit: int | None,
    near: bool,
    slack: int,
) -> None:
    """Within the limit the expansion is the reference's list, in its order, with each
    combination's values of the same types; past it, or with nothing left, it is refused with
    ``matrix-too-large`` (a product over 16 times the limit before ``exclude`` is even
    applied) or ``matrix-empty``, naming the job and saying what to change. Limits are the
    default, random, or within two of the number of combinations."""
    matrix, include, exclude = case
    expected = _reference(matrix, include, exclude)
    if near:
        limit = max(1, len(expected) + slack)
    cap = DEFAULT_MAX_COMBINATIONS if limit is None else limit
    product = math.prod(len(values) for values in matrix.values())
    if product > 16 * cap or len(expected) > cap or not expected:
        with pytest.raises(PipelineError) as info:
            expand_matrix(matrix, include, exclude, max_combinations=limit, job="test")
        error = info.value
        assert "job 'test'" in error.message
        if product > 16 * cap:
            assert error.code == "matrix-too-large"
            assert f"{product} combinations before exclude" in error.message
        elif len(expected) > cap:
            assert error.code == "matrix-too-large"
            assert f"{len(expected)} combinations, over the limit of {cap}" in error.message
            assert "max-combinations" in (error.hint or "")
        else:
            assert error.code == "matrix-empty"
        return
    got = expand_matrix(matrix, include, exclude, max_combinations=limit, job="test")
    assert [_key(c) for c in got] == [_key(c) for c in expected]


@settings(max_examples=120, deadline=None)
@given(case=_matrices())
def test_expansion_has_no_repeats_and_every_combination_comes_from_the_matrix(
    case: Case,
) -> None:
    """No combination appears twice; each one either has a value of every matrix key, drawn
    from that key's list and not excluded, or is an include entry of its own."""
    matrix, include, exclude = case
    try:
        got = expand_matrix(matrix, include, exclude, max_combinations=1000)
    except PipelineError as exc:
        assert exc.code == "matrix-empty"
        return
    assert len({_key(c) for c in got}) == len(got)
    for combination in got:
        original = {k: combination[k] for k in matrix if k in combination}
        from_product = (
            bool(matrix)
            and len(original) == len(matrix)
            and all(
                any(_identity(v) == _identity(w) for w in matrix[k]) for k, v in original.items()
            )
            and not any(_has(original, entry) for entry in exclude)
        )
        own_entry = any(_key(combination) == _key(entry) for entry in include)
        assert from_product or own_entry, combination


@settings(max_examples=100, deadline=None)
@given(case=_matrices())
def test_expansion_is_deterministic_and_leaves_its_input_alone(
    case: Case,
) -> None:
    """The same matrix, given twice or as an equal copy, expands to the same combinations in
    the same order, with keys in the same order; the matrix and its entries are unchanged."""
    matrix, include, exclude = case
    before = copy.deepcopy(case)
    try:
        first = expand_matrix(matrix, include, exclude)
    except PipelineError as exc:
        with pytest.raises(PipelineError) as again:
            expand_matrix(*copy.deepcopy(case))
        assert (again.value.code, again.value.message) == (exc.code, exc.message)
        return
    second = expand_matrix(*copy.deepcopy(case))
    assert [list(c.items()) for c in first] == [list(c.items()) for c in second]
    assert [[_identity(v) for v in c.values()] for c in first] == [
        [_identity(v) for v in c.values()] for c in second
    ]
    assert repr(case) == repr(before)
