"""REGEX constraints on RE2 agree with Unleash's Rust engine and run in linear time."""

from __future__ import annotations

import json
from typing import Any

import pytest
from yggdrasil_engine.engine import UnleashEngine

from shipyard_sdk.flag_regex import compile_pattern, pattern_problem
from shipyard_sdk.flags import UnleashContext, is_enabled, load_state

PATTERNS = [
    "^cat$",
    "(?m)^foo$",
    "^[[:alpha:]]+$",
    "[[:^digit:]]",
    "(?i)[[:^lower:]]",
    "a(?i)b|c",
    "(?i)a(?-i)b",
    "(?x) a b c ",
    "^[a-z--c]+$",
    "(?i)^[A-Z--c]+$",
    "^[a-c~~b-d]+$",
    "^[\\p{L}&&[^a-z]]+$",
    "^[a[^b]]$",
    "^\\p{L}+$",
    "^\\P{Lu}+$",
    "(?i)^\\P{Lu}$",
    "^\\p{LC}$",
    "^\\w+$",
    "^\\W$",
    "^[\\W\\d]$",
    "^\\s$",
    "^[^\\s]$",
    "^\\d+$",
    "^[\\D]$",
    "\\bcat\\b",
    "(?s)a.b",
    "a.b",
    "(?R)a.b",
    "(?-u)\\w+",
    "(?i)k",
    "(?i)\\x{212A}",
    "(?i)[^k]",
    "(?i)ſ",
    "^(a|a)*$",
    "^(a?){25}a{25}$",
    "^(a+)+$",
    "user\\d{3}@example\\.com$",
    "(?U)a+?",
    "^.{3}$",
    "^(?:😀|x)$",
    "(?=a)",
    "\\1",
]
TEXTS = [
    "cat",
    "Cat",
    "CAT",
    "x\nfoo\ny",
    "AlphaBeta",
    "Alpha1",
    "123",
    "AB",
    "Ab",
    "abc",
    "bat",
    "ad",
    "b",
    "Ωmega",
    "élan",
    "ΩΣ",
    "a",
    "A",
    "ab",
    "é",
    "É",
    "١٢٣",
    "\u00a0",
    "\u2028",
    " ",
    "_",
    "-",
    "concatenate",
    "the cat sat",
    "a\nb",
    "a\rb",
    "k",
    "K",
    "\u212a",
    "s",
    "S",
    "ſ",
    "ı",
    "İ",
    "i",
    "I",
    "😀",
    "a" * 50,
    "a" * 40 + "b",
    "user123@example.com",
    "x\u24b6",
]


def _state(pattern: str) -> dict[str, Any]:
    constraint = {"contextName": "userId", "operator": "REGEX", "value": pattern}
    strategy = {"name": "default", "constraints": [constraint]}
    return {"version": 1, "features": [{"name": "f", "enabled": True, "strategies": [strategy]}]}


@pytest.mark.parametrize("pattern", PATTERNS)
def test_agrees_with_the_rust_engine(pattern: str) -> None:
    """On each pattern and every sample text, the answer is the reference engine's."""
    raw = _state(pattern)
    engine = UnleashEngine()
    engine.take_state(json.dumps(raw))
    state = load_state(raw)
    for text in TEXTS:
        theirs = engine.check_enabled("f", {"userId": text}).is_enabled
        mine = is_enabled(state, "f", UnleashContext(user_id=text))
        assert mine is theirs, (pattern, text)


DEVIATIONS = [
    # (pattern, text, RE2's answer): what RE2 says where Rust says otherwise (docs/flags.md)
    ("\\bcat", "écat", True),  # RE2's word boundaries are ASCII
    ("\\<cat", "cat", False),  # unsupported: never matches
    ("\\b{start}cat", "cat", False),
    ("(?mR)^a$", "a", False),
    ("a{1001}", "a" * 1001, False),
]


@pytest.mark.parametrize(("pattern", "text", "expected"), DEVIATIONS)
def test_documented_deviations(pattern: str, text: str, expected: bool) -> None:
    """Where RE2 cannot say what Rust says, the answer is RE2's, as docs/flags.md states."""
    matcher = compile_pattern(pattern, False)
    assert (matcher is not None and matcher(text)) is expected
    if matcher is None:
        assert pattern_problem(pattern, False)


def test_nested_repetition_is_valid_and_linear() -> None:
    """Patterns that backtrack exponentially elsewhere are valid and answer on a long text."""
    for pattern in ("^(a|a)*$", "^(a?){25}a{25}$", "^(a+)+$", "(\\w+\\s?)*$"):
        assert pattern_problem(pattern, False) is None
        matcher = compile_pattern(pattern, False)
        assert matcher is not None
        assert matcher("a" * 100_000 + "!") is (pattern == "(\\w+\\s?)*$")


def test_lone_surrogates_are_read_as_replacement_characters() -> None:
    """A context value RE2 cannot encode (a lone surrogate from JSON) is matched, not raised."""
    matcher = compile_pattern("^a.b$", False)
    assert matcher is not None and matcher("a\ud800b") is True
