"""Reading YAML: the same data PyYAML reads, within bounds on aliases, depth and size."""

from __future__ import annotations

import string

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from shipyard.errors import SpecError
from shipyard.spec.source import MAX_ALIAS_NODES, MAX_BYTES, MAX_DEPTH, parse
from tests.yamlbomb import laughs

REFUSED = [
    # (yaml, code, line, column, words in the message)
    (laughs(8), "yaml-too-complex", 6, 8, "over 10,000 nodes"),
    (laughs(10), "yaml-too-complex", 6, 8, "alias *d"),
    ("a: &a [1, *a]\n", "yaml-too-complex", 1, 11, "contains it"),
    ("a: &a {b: *a}\n", "yaml-too-complex", 1, 11, "contains it"),
    ("a: " + "[" * (MAX_DEPTH + 1) + "]" * (MAX_DEPTH + 1) + "\n", "yaml-too-complex", 1, 67, "64"),
    ("a: " + "[" * 200_000 + "\n", "yaml-too-complex", 1, 67, "nested"),
    ("a: *nowhere\n", "yaml-syntax", 1, 4, "no anchor"),
    ("a: &x 1\nb: &x 2\n", "yaml-syntax", 2, 4, "defined twice"),
    ("a: 1\n---\nb: 2\n", "yaml-syntax", 2, 1, "second YAML document"),
    ("a: [1\n", "yaml-syntax", 2, 1, "YAML syntax error"),
    ("a: !custom x\n", "spec-type", 1, 4, "cannot be read as !custom"),
    ("a: 2026-13-45\n", "spec-type", 1, 4, "cannot be read as timestamp"),
    ("a: x\n" + "b: " + "y" * MAX_BYTES + "\n", "yaml-too-complex", None, None, "bytes"),
]


@pytest.mark.parametrize(
    ("text", "code", "line", "column", "words"), REFUSED, ids=[r[4] for r in REFUSED]
)
def test_documents_past_a_bound_are_refused_at_their_position(
    text: str, code: str, line: int | None, column: int | None, words: str
) -> None:
    """Each document past a bound, or malformed, is refused with its code and position."""
    with pytest.raises(SpecError) as err:
        parse(text, "shipyard.yaml")
    e = err.value
    assert (e.code, e.line, e.column) == (code, line, column), str(e)
    assert words in e.message and e.hint


def test_aliases_up_to_the_budget_are_read() -> None:
    """Aliases that expand to exactly the budget are read and expanded like any others."""
    # *a stands for 101 nodes (the list and its 100 items); 99 of them make 9,999.
    count = MAX_ALIAS_NODES // 101
    text = f"a: &a [{', '.join(['x'] * 100)}]\nb: [{', '.join(['*a'] * count)}]\n"
    data = parse(text, "f").data
    assert len(data["b"]) == count and data["b"][0] == ["x"] * 100


def test_shared_blocks_keep_working() -> None:
    """A shared env block and a repeated target, written once, appear wherever they are used."""
    text = """\
common: &env {CI: "1", LANG: C.UTF-8}
target: &t {type: process, command: "app --port {port}"}
jobs:
  a: {run: x, env: *env}
  b: {run: y, env: *env}
envs:
  dev: {target: *t}
  qa: {target: *t}
"""
    data = parse(text, "f").data
    assert data["jobs"]["a"]["env"] == data["jobs"]["b"]["env"] == {"CI": "1", "LANG": "C.UTF-8"}
    assert data["envs"]["dev"]["target"] == data["envs"]["qa"]["target"]
    assert data["jobs"]["a"]["env"] is not data["jobs"]["b"]["env"]  # copies, not one object


_scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-(10**12), 10**12),
    st.floats(allow_nan=False, allow_infinity=False),
    st.text(st.characters(codec="utf-8", exclude_categories=("Cs", "Cc")), max_size=12),
)
_keys = st.text(string.ascii_letters + string.digits + "_-", min_size=1, max_size=8)
_documents = st.dictionaries(
    _keys,
    st.recursive(
        _scalars,
        lambda inner: st.lists(inner, max_size=4) | st.dictionaries(_keys, inner, max_size=4),
        max_leaves=20,
    ),
    max_size=6,
)


@settings(max_examples=50, deadline=None)
@given(data=_documents, flow=st.sampled_from([None, True, False]))
def test_reads_what_pyyaml_reads(data: dict[str, object], flow: bool | None) -> None:
    """Any document PyYAML writes is read back as PyYAML's own loader reads it."""
    text = yaml.safe_dump(data, default_flow_style=flow, allow_unicode=True)
    assert parse(text, "f").data == yaml.safe_load(text)
