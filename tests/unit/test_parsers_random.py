"""The spec loader and the expression parser on random input: each answers with a value or
one of Shipyard's errors (a code, a message, a hint), never a crash of its own."""

from __future__ import annotations

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from shipyard.domain.expressions import parse_expression
from shipyard.errors import ShipyardError
from shipyard.spec.load import parse_spec

_EXPRESSION_ALPHABET = st.sampled_from(
    list("abcxyz_.0123456789 ()[]!=<>&|'\"-,") + ["env", "github", "true", "null", "&&", "||"]
)
_expressions = st.lists(_EXPRESSION_ALPHABET, max_size=30).map("".join) | st.text(max_size=40)

_YAML_PIECES = st.sampled_from(
    [
        "project: p\n",
        "pipeline:\n",
        "  jobs:\n",
        "    a:\n",
        "      run: echo\n",
        "      needs: [b]\n",
        "      matrix: {x: [1, 2]}\n",
        "      if: ${{ env.X == 'y' }}\n",
        "environments:\n",
        "  dev: {strategy: recreate}\n",
        "  - item\n",
        "&a x\n",
        "*a\n",
        "key: [unclosed\n",
        "\t\n",
        ": :\n",
        "'quote\n",
        "release: {versioning: semver}\n",
    ]
)
_specs = st.lists(_YAML_PIECES, max_size=12).map("".join) | st.text(max_size=200)


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(source=_expressions)
def test_expression_parser_answers_or_refuses(source: str) -> None:
    """Any text parses to an expression or raises a ShipyardError with a code and a hint."""
    try:
        parse_expression(source)
    except ShipyardError as exc:
        assert exc.code and exc.hint is not None


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(text=_specs)
def test_spec_loader_answers_or_refuses(text: str) -> None:
    """Any shipyard.yaml text loads or raises a ShipyardError naming the file and a code."""
    try:
        parse_spec(text, "shipyard.yaml")
    except ShipyardError as exc:
        assert exc.code and "shipyard.yaml" in str(exc.to_dict())
