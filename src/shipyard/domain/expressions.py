"""The `if:` expression language: a small, safe subset of GitHub Actions expressions.

Grammar (lowest precedence first)::

    expression := or
    or         := and ( "||" and )*
    and        := equality ( "&&" equality )*
    equality   := relation ( ( "==" | "!=" ) relation )*
    relation   := unary ( ( "<" | "<=" | ">" | ">=" ) unary )*
    unary      := "!" unary | postfix
    postfix    := primary ( "." NAME | "[" expression "]" )*
    primary    := literal | NAME "(" arguments ")" | CONTEXT | "(" expression ")"
    literal    := 'string' | "string" | number | true | false | null

Contexts are ``env``, ``matrix`` and ``needs``. Functions are ``success()``, ``failure()``,
``always()``, ``cancelled()``, ``contains(a, b)``, ``startsWith(a, b)`` and
``endsWith(a, b)``; their names are case-insensitive, as in GitHub Actions. The whole text may be
wrapped in ``${{ }}``. Names may contain ``-`` (``needs.build-linux.result``).

Values follow GitHub Actions so that conditions copied from a workflow behave the same:
``&&`` and ``||`` return one of their operands; operands of different types are compared as
numbers (``'3.11' == 3.11``); string comparisons and the string functions ignore case; a missing
property is ``null``. Unlike GitHub, arrays and objects compare by content, strings may also be
double-quoted, and ``contains()`` on an object searches its values.

Source text is tokenized and parsed by hand into an immutable tree once; evaluation walks the
tree. Nothing is ever handed to Python's ``eval``.
"""

from __future__ import annotations

import difflib
import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Final

from shipyard.errors import InputError

__all__ = [
    "CONTEXTS",
    "FUNCTIONS",
    "STATUS_FUNCTIONS",
    "Binary",
    "Call",
    "ContextRef",
    "EvalContext",
    "Expression",
    "ExpressionError",
    "Index",
    "Literal",
    "Logical",
    "Member",
    "Not",
    "parse_expression",
    "to_number",
    "to_string",
    "truthy",
]

CONTEXTS: Final = frozenset({"env", "matrix", "needs"})
STATUS_FUNCTIONS: Final = frozenset({"success", "failure", "always", "cancelled"})
# Canonical spelling -> number of arguments.
FUNCTIONS: Final[Mapping[str, int]] = {
    "success": 0,
    "failure": 0,
    "always": 0,
    "cancelled": 0,
    "contains": 2,
    "startsWith": 2,
    "endsWith": 2,
}
_FUNCTIONS_BY_LOWER: Final = {name.lower(): name for name in FUNCTIONS}
_FUNCTION_LIST: Final = ", ".join(f"{name}()" for name in FUNCTIONS)
_KEYWORDS: Final[Mapping[str, bool | None]] = {"true": True, "false": False, "null": None}
# Deep enough for any real condition, shallow enough to stay far from Python's recursion limit.
MAX_DEPTH: Final = 64

_GENERAL_HINT = (
    "conditions use ==, !=, <, <=, >, >=, &&, ||, !, parentheses, 'quoted strings', numbers, "
    "true/false/null, the contexts env, matrix and needs, and the functions "
    "success(), failure(), always(), cancelled(), contains(), startsWith(), endsWith()"
)


class ExpressionError(InputError):
    """An `if:` expression that does not parse; ``column`` is 1-based in ``expression``."""

    code = "expression-invalid"
    default_hint = _GENERAL_HINT

    def __init__(
        self,
        message: str,
        hint: str | None = None,
        *,
        expression: str,
        column: int,
        code: str | None = None,
    ) -> None:
        self.expression = expression
        self.column = column
        super().__init__(
            message, hint, code=code, details={"expression": expression, "column": column}
        )

    @property
    def pointer(self) -> str:
        """The expression with a caret under the offending column, for terminal output."""
        return f"{self.expression}\n{' ' * (self.column - 1)}^"


# --- syntax tree -----------------------------------------------------------------------------


@dataclass(frozen=True)
class Literal:
    value: bool | int | float | str | None


@dataclass(frozen=True)
class ContextRef:
    name: str


@dataclass(frozen=True)
class Member:
    """``obj.name``, and ``obj['name']`` when the index is a string literal."""

    obj: Node
    name: str


@dataclass(frozen=True)
class Index:
    obj: Node
    index: Node


@dataclass(frozen=True)
class Not:
    operand: Node


@dataclass(frozen=True)
class Logical:
    op: str  # "&&" or "||"
    left: Node
    right: Node


@dataclass(frozen=True)
class Binary:
    op: str  # "==", "!=", "<", "<=", ">", ">="
    left: Node
    right: Node


@dataclass(frozen=True)
class Call:
    name: str  # canonical spelling, e.g. "startsWith"
    args: tuple[Node, ...]


Node = Literal | ContextRef | Member | Index | Not | Logical | Binary | Call


# --- tokenizer -------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Token:
    kind: str  # "num", "str", "name", "op", "eof"
    text: str
    column: int  # 1-based, in the caller's original text
    value: bool | int | float | str | None = None


_NUMBER = re.compile(r"-?(?:0[xX][0-9a-fA-F]+|\d+(?:\.\d+)?(?:[eE][+-]?\d+)?)")
_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_-]*")
_OPERATORS = ("==", "!=", "<=", ">=", "&&", "||", "<", ">", "!", "(", ")", "[", "]", ".", ",")
_LONE_HINTS = {
    "=": "use == to compare values",
    "&": "use && for 'and'",
    "|": "use || for 'or'",
}


def _tokenize(text: str, offset: int, source: str) -> list[_Token]:
    tokens: list[_Token] = []
    i, n = 0, len(text)
    while i < n:
        ch = text[i]
        col = offset + i + 1
        if ch.isspace():
            i += 1
            continue
        if ch in "'\"":
            start = i
            value, i = _read_string(text, i, offset, source)
            tokens.append(_Token("str", text[start:i], col, value))
            continue
        m = _NUMBER.match(text, i)
        if m:
            literal = m.group()
            tokens.append(_Token("num", literal, col, _parse_number(literal)))
            i = m.end()
            continue
        m = _NAME.match(text, i)
        if m:
            tokens.append(_Token("name", m.group(), col))
            i = m.end()
            continue
        op = next((o for o in _OPERATORS if text.startswith(o, i)), None)
        if op is not None:
            tokens.append(_Token("op", op, col))
            i += len(op)
            continue
        hint = _LONE_HINTS.get(ch, _GENERAL_HINT)
        raise ExpressionError(
            f"invalid expression at column {col}: unexpected character {ch!r}",
            hint,
            expression=source,
            column=col,
        )
    tokens.append(_Token("eof", "", offset + n + 1))
    return tokens


def _read_string(text: str, start: int, offset: int, source: str) -> tuple[str, int]:
    """Read a quoted string at ``start``; a doubled quote inside stands for one quote."""
    quote = text[start]
    out: list[str] = []
    i = start + 1
    while i < len(text):
        if text[i] == quote:
            if text.startswith(quote * 2, i):
                out.append(quote)
                i += 2
                continue
            return "".join(out), i + 1
        out.append(text[i])
        i += 1
    col = offset + start + 1
    raise ExpressionError(
        f"invalid expression at column {col}: string is never closed",
        f"close the string with {quote}; write {quote}{quote} for a {quote} inside it",
        expression=source,
        column=col,
    )


def _parse_number(literal: str) -> int | float:
    body = literal.lstrip("-")
    sign = -1 if literal.startswith("-") else 1
    if body[:2].lower() == "0x":
        return sign * int(body, 16)
    if any(c in body for c in ".eE"):
        return sign * float(body)
    return sign * int(body)


# --- parser ----------------------------------------------------------------------------------


class _Parser:
    def __init__(self, tokens: list[_Token], source: str) -> None:
        self.tokens = tokens
        self.pos = 0
        self.source = source
        self.depth = 0

    @property
    def tok(self) -> _Token:
        return self.tokens[self.pos]

    def advance(self) -> _Token:
        tok = self.tokens[self.pos]
        self.pos += 1
        return tok

    def at(self, *ops: str) -> bool:
        return self.tok.kind == "op" and self.tok.text in ops

    def fail(self, tok: _Token, what: str, hint: str | None = None) -> ExpressionError:
        return ExpressionError(
            f"invalid expression at column {tok.column}: {what}",
            hint,
            expression=self.source,
            column=tok.column,
        )

    def found(self, tok: _Token) -> str:
        return "end of expression" if tok.kind == "eof" else repr(tok.text)

    def expect(self, op: str, hint: str | None = None) -> _Token:
        if not self.at(op):
            raise self.fail(self.tok, f"expected {op!r} but found {self.found(self.tok)}", hint)
        return self.advance()

    def nested(self) -> None:
        self.depth += 1
        if self.depth > MAX_DEPTH:
            raise self.fail(
                self.tok,
                f"expression nests deeper than {MAX_DEPTH} levels",
                "split the condition or remove redundant parentheses",
            )

    def parse(self) -> Node:
        if self.tok.kind == "eof":
            raise self.fail(self.tok, "the expression is empty", "write a condition, or drop `if`")
        node = self.parse_or()
        if self.tok.kind != "eof":
            raise self.fail(
                self.tok,
                f"unexpected {self.found(self.tok)} after a complete expression",
                "join conditions with && or ||",
            )
        return node

    def parse_or(self) -> Node:
        node = self.parse_and()
        while self.at("||"):
            self.advance()
            node = Logical("||", node, self.parse_and())
        return node

    def parse_and(self) -> Node:
        node = self.parse_equality()
        while self.at("&&"):
            self.advance()
            node = Logical("&&", node, self.parse_equality())
        return node

    def parse_equality(self) -> Node:
        node = self.parse_relation()
        while self.at("==", "!="):
            op = self.advance().text
            node = Binary(op, node, self.parse_relation())
        return node

    def parse_relation(self) -> Node:
        node = self.parse_unary()
        while self.at("<", "<=", ">", ">="):
            op = self.advance().text
            node = Binary(op, node, self.parse_unary())
        return node

    def parse_unary(self) -> Node:
        if self.at("!"):
            self.advance()
            self.nested()
            node: Node = Not(self.parse_unary())
            self.depth -= 1
            return node
        return self.parse_postfix()

    def parse_postfix(self) -> Node:
        node = self.parse_primary()
        while self.at(".", "["):
            if self.advance().text == ".":
                if self.tok.kind != "name":
                    raise self.fail(
                        self.tok,
                        f"expected a property name after '.' but found {self.found(self.tok)}",
                        "write a name such as env.HOME, or use ['odd key'] for other keys",
                    )
                node = Member(node, self.advance().text)
            else:
                self.nested()
                index = self.parse_or()
                self.depth -= 1
                self.expect("]", "close the index with ]")
                if isinstance(index, Literal) and isinstance(index.value, str):
                    node = Member(node, index.value)
                else:
                    node = Index(node, index)
        return node

    def parse_primary(self) -> Node:
        tok = self.tok
        if tok.kind in ("num", "str"):
            self.advance()
            return Literal(tok.value)
        if self.at("("):
            self.advance()
            self.nested()
            node = self.parse_or()
            self.depth -= 1
            self.expect(")", "every ( needs a matching )")
            return node
        if tok.kind == "name":
            return self.parse_name()
        raise self.fail(tok, f"expected a value but found {self.found(tok)}")

    def parse_name(self) -> Node:
        tok = self.advance()
        name = tok.text
        if self.at("("):
            return self.parse_call(tok)
        if name in _KEYWORDS:
            return Literal(_KEYWORDS[name])
        if name in CONTEXTS:
            return ContextRef(name)
        if name.lower() in _FUNCTIONS_BY_LOWER:
            canonical = _FUNCTIONS_BY_LOWER[name.lower()]
            raise self.fail(tok, f"{name} is a function", f"call it: {canonical}()")
        close = difflib.get_close_matches(name, sorted(CONTEXTS | set(_KEYWORDS)), n=1)
        hint = (
            f"did you mean {close[0]!r}?"
            if close
            else f"read a context (env.X, matrix.X, needs.JOB.result) or quote text: '{name}'"
        )
        raise self.fail(tok, f"unknown name {name!r}", hint)

    def parse_call(self, tok: _Token) -> Node:
        name = tok.text
        canonical = _FUNCTIONS_BY_LOWER.get(name.lower())
        if canonical is None:
            if name in CONTEXTS:
                raise self.fail(tok, f"{name} is a context, not a function", f"read it: {name}.X")
            close = difflib.get_close_matches(name, list(FUNCTIONS), n=1)
            hint = f"did you mean {close[0]}()?" if close else f"use one of: {_FUNCTION_LIST}"
            raise self.fail(tok, f"unknown function {name!r}", hint)
        self.advance()  # "("
        self.nested()
        args: list[Node] = []
        if not self.at(")"):
            args.append(self.parse_or())
            while self.at(","):
                self.advance()
                args.append(self.parse_or())
        self.depth -= 1
        self.expect(")", "separate arguments with , and close the call with )")
        arity = FUNCTIONS[canonical]
        if len(args) != arity:
            plural = "" if arity == 1 else "s"
            raise self.fail(
                tok,
                f"{canonical}() takes {arity} argument{plural}, got {len(args)}",
                f"write {canonical}({', '.join(['a', 'b'][:arity])})",
            )
        return Call(canonical, tuple(args))


_WRAPPER = re.compile(r"^(\s*\$\{\{)(.*)\}\}\s*$", re.DOTALL)


def parse_expression(source: str) -> Expression:
    """Compile ``source`` once; raise ``ExpressionError`` naming the column if it is invalid."""
    text, offset = source, 0
    m = _WRAPPER.match(source)
    if m:
        text, offset = m.group(2), len(m.group(1))
    elif "${{" in source:
        col = source.index("${{") + 1
        raise ExpressionError(
            f"invalid expression at column {col}: ${{{{ }}}} must wrap the whole expression",
            "drop ${{ }}, or put the whole condition inside it",
            expression=source,
            column=col,
        )
    tokens = _tokenize(text, offset, source)
    return Expression(source, _Parser(tokens, source).parse())


# --- values ----------------------------------------------------------------------------------


def _kind(value: object) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, int | float):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, Mapping):
        return "object"
    return "array" if isinstance(value, Sequence) else "object"


def truthy(value: object) -> bool:
    """Falsy: null, false, 0, NaN and ''; everything else, arrays and objects too, is truthy."""
    kind = _kind(value)
    if kind == "null":
        return False
    if kind == "number":
        number = float(value)  # type: ignore[arg-type]
        return number != 0 and not math.isnan(number)
    if kind in ("bool", "string"):
        return bool(value)
    return True


def to_number(value: object) -> float:
    """Coerce as GitHub does: null -> 0, bools -> 0/1, numeric strings -> their value."""
    kind = _kind(value)
    if kind == "null":
        return 0.0
    if kind in ("bool", "number"):
        return float(value)  # type: ignore[arg-type]
    if kind == "string":
        text = str(value).strip()
        if not text:
            return 0.0
        if _NUMBER.fullmatch(text):
            return float(_parse_number(text))
        return math.nan
    return math.nan


def to_string(value: object) -> str:
    """The text a value stands for inside the string functions."""
    kind = _kind(value)
    if kind == "null":
        return ""
    if kind == "bool":
        return "true" if value else "false"
    if kind == "number":
        number = float(value)  # type: ignore[arg-type]
        if number.is_integer():
            return str(int(number))
        return repr(number)
    if kind == "string":
        return str(value)
    return "Object" if kind == "object" else "Array"


def _equal(left: object, right: object) -> bool:
    lk, rk = _kind(left), _kind(right)
    if lk != rk:
        return to_number(left) == to_number(right)
    if lk == "string":
        return str(left).casefold() == str(right).casefold()
    if lk == "number":
        return float(left) == float(right)  # type: ignore[arg-type]
    if lk == "array":
        ls, rs = list(left), list(right)  # type: ignore[call-overload]
        return len(ls) == len(rs) and all(_equal(a, b) for a, b in zip(ls, rs, strict=True))
    if lk == "object":
        lm, rm = dict(left), dict(right)  # type: ignore[call-overload]
        return lm.keys() == rm.keys() and all(_equal(lm[k], rm[k]) for k in lm)
    return left == right


def _compare(op: str, left: object, right: object) -> bool:
    if _kind(left) == _kind(right) == "string":
        a: str | float = str(left).casefold()
        b: str | float = str(right).casefold()
    else:
        a, b = to_number(left), to_number(right)
        if math.isnan(a) or math.isnan(b):
            return False
    if op == "<":
        return a < b  # type: ignore[operator]
    if op == "<=":
        return a <= b  # type: ignore[operator]
    if op == ">":
        return a > b  # type: ignore[operator]
    return a >= b  # type: ignore[operator]


def _get(obj: object, key: object) -> object:
    """Property or element access; anything missing is null rather than an error."""
    if isinstance(obj, Mapping):
        if isinstance(key, str):
            if key in obj:
                return obj[key]
            # Context keys such as env names are case-insensitive in GitHub Actions.
            folded = key.casefold()
            for k, v in obj.items():
                if isinstance(k, str) and k.casefold() == folded:
                    return v
        return None
    if _kind(obj) == "array" and _kind(key) == "number":
        number = float(key)  # type: ignore[arg-type]
        items = list(obj)  # type: ignore[call-overload]
        if number.is_integer() and 0 <= number < len(items):
            return items[int(number)]
    return None


# --- evaluation ------------------------------------------------------------------------------


@dataclass(frozen=True)
class EvalContext:
    """What a condition may read: contexts plus the outcome the status functions report."""

    env: Mapping[str, str] = field(default_factory=dict)
    matrix: Mapping[str, object] = field(default_factory=dict)
    needs: Mapping[str, object] = field(default_factory=dict)
    success: bool = True
    failure: bool = False
    cancelled: bool = False


def _evaluate(node: Node, ctx: EvalContext) -> object:
    if isinstance(node, Literal):
        return node.value
    if isinstance(node, ContextRef):
        return {"env": ctx.env, "matrix": ctx.matrix, "needs": ctx.needs}[node.name]
    if isinstance(node, Member):
        return _get(_evaluate(node.obj, ctx), node.name)
    if isinstance(node, Index):
        return _get(_evaluate(node.obj, ctx), _evaluate(node.index, ctx))
    if isinstance(node, Not):
        return not truthy(_evaluate(node.operand, ctx))
    if isinstance(node, Logical):
        left = _evaluate(node.left, ctx)
        # Short-circuit and return an operand, so `a || 'default'` yields a value.
        if node.op == "&&":
            return _evaluate(node.right, ctx) if truthy(left) else left
        return left if truthy(left) else _evaluate(node.right, ctx)
    if isinstance(node, Binary):
        left, right = _evaluate(node.left, ctx), _evaluate(node.right, ctx)
        if node.op == "==":
            return _equal(left, right)
        if node.op == "!=":
            return not _equal(left, right)
        return _compare(node.op, left, right)
    return _call(node, ctx)


def _call(node: Call, ctx: EvalContext) -> object:
    if node.name == "success":
        return ctx.success and not ctx.cancelled
    if node.name == "failure":
        return ctx.failure
    if node.name == "always":
        return True
    if node.name == "cancelled":
        return ctx.cancelled
    haystack, needle = (_evaluate(arg, ctx) for arg in node.args)
    if node.name == "contains":
        kind = _kind(haystack)
        if kind == "array":
            return any(_equal(item, needle) for item in haystack)  # type: ignore[attr-defined]
        if kind == "object":
            return any(_equal(item, needle) for item in haystack.values())  # type: ignore[attr-defined]
        return to_string(needle).casefold() in to_string(haystack).casefold()
    text, part = to_string(haystack).casefold(), to_string(needle).casefold()
    return text.startswith(part) if node.name == "startsWith" else text.endswith(part)


def _static_path(node: Node) -> tuple[str, ...] | None:
    """``needs.build.outputs.v`` -> ("needs", "build", "outputs", "v"); None if not a chain."""
    if isinstance(node, ContextRef):
        return (node.name,)
    if isinstance(node, Member):
        head = _static_path(node.obj)
        return None if head is None else (*head, node.name)
    return None


def _walk(node: Node, refs: set[tuple[str, ...]], calls: set[str]) -> None:
    path = _static_path(node)
    if path is not None:
        refs.add(path)
        return
    if isinstance(node, Member):
        _walk(node.obj, refs, calls)
    elif isinstance(node, Index):
        _walk(node.obj, refs, calls)
        _walk(node.index, refs, calls)
    elif isinstance(node, Not):
        _walk(node.operand, refs, calls)
    elif isinstance(node, Logical | Binary):
        _walk(node.left, refs, calls)
        _walk(node.right, refs, calls)
    elif isinstance(node, Call):
        calls.add(node.name)
        for arg in node.args:
            _walk(arg, refs, calls)


@dataclass(frozen=True)
class Expression:
    """A compiled condition: parse once with ``parse_expression``, evaluate many times."""

    source: str
    tree: Node
    references: frozenset[tuple[str, ...]] = field(init=False)
    functions: frozenset[str] = field(init=False)

    def __post_init__(self) -> None:
        refs: set[tuple[str, ...]] = set()
        calls: set[str] = set()
        _walk(self.tree, refs, calls)
        object.__setattr__(self, "references", frozenset(refs))
        object.__setattr__(self, "functions", frozenset(calls))

    @property
    def contexts(self) -> frozenset[str]:
        """The top-level contexts read, e.g. {"matrix", "needs"}."""
        return frozenset(path[0] for path in self.references)

    @property
    def uses_status_function(self) -> bool:
        """Whether the text calls success/failure/always/cancelled (else success() is implied)."""
        return bool(self.functions & STATUS_FUNCTIONS)

    def evaluate(self, ctx: EvalContext) -> object:
        return _evaluate(self.tree, ctx)

    def is_true(self, ctx: EvalContext) -> bool:
        return truthy(self.evaluate(ctx))
