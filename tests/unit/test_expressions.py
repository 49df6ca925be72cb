"""The `if:` expression language: parsing, GitHub-compatible values, errors with columns."""

from __future__ import annotations

import pytest

from shipyard.domain.expressions import (
    EvalContext,
    ExpressionError,
    parse_expression,
    to_number,
    to_string,
    truthy,
)
from shipyard.errors import InputError

CTX = EvalContext(
    env={"BRANCH": "main", "DEBUG": "", "COUNT": "3"},
    matrix={"os": "linux", "python": "3.11", "flags": ["a", "b"], "big": True},
    needs={
        "build": {
            "result": "success",
            "outcome": "success",
            "outputs": {"version": "1.2.3", "my.key": "dotted", "n": "10"},
        },
        "test": {
            "result": "failure",
            "outcome": "failure",
            "outputs": {"report": {"python=3.11": "ok", "python=3.12": "bad"}},
        },
    },
)


def value(source: str, ctx: EvalContext = CTX) -> object:
    return parse_expression(source).evaluate(ctx)


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        ("true", True),
        ("false", False),
        ("null", None),
        ("42", 42),
        ("-1.5", -1.5),
        ("0xff", 255),
        ("1e3", 1000.0),
        ("'it''s'", "it's"),
        ('"double ""quoted"""', 'double "quoted"'),
        ("env.BRANCH", "main"),
        ("env.branch", "main"),
        ("env.MISSING", None),
        ("matrix.os", "linux"),
        ("matrix['os']", "linux"),
        ("matrix.flags[1]", "b"),
        ("matrix.flags[2]", None),
        ("needs.build.outputs.version", "1.2.3"),
        ("needs.build.outputs['my.key']", "dotted"),
        ("needs.test.outputs.report['python=3.12']", "bad"),
        ("needs.nope.outputs.version", None),
        ("env.BRANCH.length", None),
        ("env.__class__", None),
        ("${{ matrix.os }}", "linux"),
        ("  ${{matrix.os}}  ", "linux"),
    ],
)
def test_literals_and_context_reads(source: str, expected: object) -> None:
    """Literals parse to their values and context reads return the value or null if missing."""
    assert value(source) == expected


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        ("matrix.os == 'linux'", True),
        ("matrix.os == 'LINUX'", True),
        ("matrix.os != 'linux'", False),
        ("matrix.python == 3.11", True),
        ("matrix.python == '3.11'", True),
        ("env.COUNT == 3", True),
        ("env.COUNT > 2", True),
        ("env.COUNT <= 2", False),
        ("'abc' < 'abd'", True),
        ("'B' > 'a'", True),
        ("'B' >= 'b'", True),
        ("true == 1", True),
        ("null == 0", True),
        ("null == false", True),
        ("'x' == 1", False),
        ("'x' < 1", False),
        ("'x' >= 1", False),
        ("matrix.flags == matrix.flags", True),
        ("matrix.big == true", True),
        ("1 < 2 == true", True),
        ("!false", True),
        ("!!matrix.os", True),
        ("!env.DEBUG", True),
        ("!true == false", True),
        ("true || false && false", True),
        ("(true || false) && false", False),
        ("false || null", None),
        ("null || 'fallback'", "fallback"),
        ("'a' && 'b'", "b"),
        ("'' && 'b'", ""),
        ("env.MISSING || env.BRANCH", "main"),
    ],
)
def test_operators_follow_github_semantics(source: str, expected: object) -> None:
    """Mixed types compare as numbers, strings ignore case, and && and || return operands."""
    assert value(source) == expected


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        ("contains(matrix.flags, 'a')", True),
        ("contains(matrix.flags, 'A')", True),
        ("contains(matrix.flags, 'c')", False),
        ("contains('Hello world', 'WORLD')", True),
        ("contains(needs.test.outputs.report, 'bad')", True),
        ("contains(needs.test.outputs.report, 'python=3.11')", False),
        ("contains(env.MISSING, '')", True),
        ("startsWith(env.BRANCH, 'ma')", True),
        ("STARTSWITH(env.BRANCH, 'MA')", True),
        ("startsWith(env.BRANCH, 'in')", False),
        ("endsWith(needs.build.outputs.version, '.3')", True),
        ("endsWith(3.5, '.5')", True),
        ("startsWith(true, 'tr')", True),
    ],
)
def test_string_and_collection_functions(source: str, expected: bool) -> None:
    """contains/startsWith/endsWith ignore case and search arrays, strings and object values."""
    assert value(source) is expected


@pytest.mark.parametrize(
    ("source", "success", "failure", "cancelled", "expected"),
    [
        ("success()", True, False, False, True),
        ("success()", False, True, False, False),
        ("success()", True, False, True, False),
        ("failure()", False, True, False, True),
        ("failure()", True, False, False, False),
        ("always()", False, True, True, True),
        ("cancelled()", True, False, True, True),
        ("cancelled()", True, False, False, False),
        ("Success() && !Cancelled()", True, False, False, True),
        ("failure() || cancelled()", True, False, True, True),
    ],
)
def test_status_functions_read_the_context_flags(
    source: str, success: bool, failure: bool, cancelled: bool, expected: bool
) -> None:
    """Status functions report the flags the caller computed; success() is false once cancelled."""
    ctx = EvalContext(success=success, failure=failure, cancelled=cancelled)
    assert parse_expression(source).is_true(ctx) is expected


@pytest.mark.parametrize(
    ("value_", "expected"),
    [
        (None, False),
        (False, False),
        (0, False),
        (0.0, False),
        (float("nan"), False),
        ("", False),
        (True, True),
        (-1, True),
        ("0", True),
        ("false", True),
        ([], True),
        ({}, True),
    ],
)
def test_truthiness(value_: object, expected: bool) -> None:
    """Only null, false, 0, NaN and the empty string are falsy."""
    assert truthy(value_) is expected


@pytest.mark.parametrize(
    ("value_", "number", "text"),
    [
        (None, 0.0, ""),
        (True, 1.0, "true"),
        (False, 0.0, "false"),
        (3, 3.0, "3"),
        (3.0, 3.0, "3"),
        (3.25, 3.25, "3.25"),
        (" 12 ", 12.0, " 12 "),
        ("", 0.0, ""),
        ("0x10", 16.0, "0x10"),
        ([1], None, "Array"),
        ({"a": 1}, None, "Object"),
        ("abc", None, "abc"),
    ],
)
def test_coercions(value_: object, number: float | None, text: str) -> None:
    """Values coerce to numbers and strings as GitHub Actions does; None here stands for NaN."""
    result = to_number(value_)
    assert (result != result) if number is None else result == number
    assert to_string(value_) == text


@pytest.mark.parametrize(
    ("source", "column", "fragment", "hint_fragment"),
    [
        ("", 1, "empty", "write a condition"),
        ("matrix.os = 'linux'", 11, "unexpected character '='", "=="),
        ("linux == matrix.os", 1, "unknown name 'linux'", "quote text: 'linux'"),
        ("matrix.os & true", 11, "unexpected character '&'", "&&"),
        ("matrix.os | true", 11, "unexpected character '|'", "||"),
        ("matrix.os == ", 14, "expected a value but found end of expression", "conditions use"),
        ("(matrix.os == 'x'", 18, "expected ')'", "matching )"),
        ("matrix.os == 'x')", 17, "unexpected ')' after a complete expression", "&&"),
        ("matrix.os == 'linux", 14, "string is never closed", "close the string"),
        ("succes()", 1, "unknown function 'succes'", "did you mean success()?"),
        ("evil('x')", 1, "unknown function 'evil'", "contains()"),
        ("__import__('os')", 1, "unknown function '__import__'", "use one of"),
        ("contains('a')", 1, "contains() takes 2 arguments, got 1", "contains(a, b)"),
        ("always(1)", 1, "always() takes 0 arguments, got 1", "always()"),
        ("matrx.os", 1, "unknown name 'matrx'", "did you mean 'matrix'?"),
        ("env(1)", 1, "env is a context, not a function", "env.X"),
        ("success", 1, "success is a function", "success()"),
        ("env.", 5, "expected a property name after '.'", "['odd key']"),
        ("env.1", 5, "expected a property name after '.'", "env.HOME"),
        ("matrix['os'", 12, "expected ']'", "close the index"),
        ("true false", 6, "unexpected 'false'", "&&"),
        ("contains(1 2)", 12, "expected ')'", "separate arguments"),
        ("matrix.os == #", 14, "unexpected character '#'", "conditions use"),
        ("${{ matrix.os == }}", 18, "expected a value", "conditions use"),
        ("x == ${{ y }}", 6, "must wrap the whole expression", "drop ${{ }}"),
        ("${{ a }}", 5, "unknown name 'a'", "quote text"),
    ],
)
def test_syntax_errors_name_the_column(
    source: str, column: int, fragment: str, hint_fragment: str
) -> None:
    """Each invalid expression raises expression-invalid naming the 1-based column, with a hint."""
    with pytest.raises(ExpressionError) as info:
        parse_expression(source)
    error = info.value
    assert isinstance(error, InputError)
    assert error.code == "expression-invalid"
    assert error.column == column
    assert f"column {column}" in error.message
    assert fragment in error.message
    assert hint_fragment in error.hint
    assert error.details == {"expression": source, "column": column}


def test_error_pointer_marks_the_column() -> None:
    """The pointer puts a caret under the offending character for terminal output."""
    with pytest.raises(ExpressionError) as info:
        parse_expression("a == = b")
    assert info.value.pointer == "a == = b\n     ^"


@pytest.mark.parametrize(
    ("source", "ok"),
    [
        ("(" * 60 + "true" + ")" * 60, True),
        ("(" * 70 + "true" + ")" * 70, False),
        ("!" * 60 + "true", True),
        ("!" * 70 + "true", False),
        ("matrix" + "['a']" * 200, True),
    ],
)
def test_nesting_is_bounded(source: str, ok: bool) -> None:
    """Deep nesting is refused with expression-invalid instead of exhausting the stack."""
    if ok:
        parse_expression(source)
    else:
        with pytest.raises(ExpressionError, match="nests deeper"):
            parse_expression(source)


@pytest.mark.parametrize(
    ("source", "references", "functions"),
    [
        ("true", set(), set()),
        ("matrix.os == 'linux'", {("matrix", "os")}, set()),
        (
            "needs.build.outputs.version == '1' && success()",
            {("needs", "build", "outputs", "version")},
            {"success"},
        ),
        ("needs['build-linux'].result", {("needs", "build-linux", "result")}, set()),
        (
            "contains(needs.test.outputs.report[matrix.key], env.X)",
            {("needs", "test", "outputs", "report"), ("matrix", "key"), ("env", "X")},
            {"contains"},
        ),
        ("env", {("env",)}, set()),
        ("ALWAYS() || Failure()", set(), {"always", "failure"}),
    ],
)
def test_references_list_what_an_expression_reads(
    source: str, references: set[tuple[str, ...]], functions: set[str]
) -> None:
    """An expression lists the context paths it reads and the functions it calls."""
    expression = parse_expression(source)
    assert expression.references == references
    assert expression.functions == functions
    assert expression.contexts == {path[0] for path in references}


@pytest.mark.parametrize(
    ("source", "uses"),
    [
        ("matrix.os == 'linux'", False),
        ("contains(env.X, 'y')", False),
        ("always()", True),
        ("failure() && matrix.os == 'linux'", True),
        ("!cancelled()", True),
    ],
)
def test_uses_status_function(source: str, uses: bool) -> None:
    """An expression knows whether it calls a status function, so success() can be implied."""
    assert parse_expression(source).uses_status_function is uses


def test_compiled_expression_is_reusable_across_contexts() -> None:
    """One compiled expression evaluates against many contexts without re-parsing."""
    expression = parse_expression("matrix.os == 'linux' && env.CI == 'true'")
    results = [
        expression.is_true(EvalContext(env={"CI": ci}, matrix={"os": os}))
        for os, ci in [("linux", "true"), ("mac", "true"), ("linux", "false")]
    ]
    assert results == [True, False, False]
