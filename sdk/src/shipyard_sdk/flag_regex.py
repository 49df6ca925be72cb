"""REGEX constraints: Rust ``regex`` crate syntax, matched by RE2 in time linear in the input.

Unleash's reference engine matches with Rust's ``regex`` crate, whose design is RE2's: no
backtracking, so no pattern can take more than linear time. Python's ``re`` backtracks, and
``^(a|a)*$`` against 30 characters takes minutes there; a flag author must never be able to
freeze a server or an SDK that way. So a pattern is parsed here with Rust's grammar (what Rust
rejects, such as look-around and back-references, never matches) and rewritten for RE2
(``google-re2``), which runs it.

Where RE2 cannot say what Rust says, RE2's semantics win (docs/flags.md lists them):

* ``\\b`` and ``\\B`` are ASCII word boundaries (Rust's are Unicode);
* ``\\<``, ``\\>``, ``\\b{start}``, ``\\b{end}`` and their half forms, and ``^``/``$`` in
  multi-line CRLF mode ``(?mR)``, are unsupported: the constraint is false;
* a counted repetition above 1000, or a pattern whose program exceeds RE2's memory budget, is
  unsupported;
* ``\\w``, ``\\d``, ``\\s`` keep Rust's Unicode meaning (written out as classes), and
  ``\\p{...}`` takes general categories, as before.
"""

from __future__ import annotations

import re
import unicodedata
from bisect import bisect_right
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from functools import lru_cache
from types import MappingProxyType
from typing import Any, Final, NoReturn, TypeAlias

import re2
from re2 import _re2

__all__ = ["Matcher", "compile_pattern", "pattern_problem"]

Matcher: TypeAlias = Callable[[str], bool]
_Ranges: TypeAlias = tuple[tuple[int, int], ...]


class _RegexUnsupported(Exception):
    """A pattern Rust's regex crate rejects, or that RE2 cannot run with Rust's meaning."""


_RX_I: Final = 1
_RX_M: Final = 2
_RX_S: Final = 4
_RX_X: Final = 8
_RX_U: Final = 16  # swap greed
_RX_ASCII: Final = 32  # "(?-u)": Perl classes and word boundaries are ASCII-only
_RX_R: Final = 64  # CRLF mode: "\r" ends lines as well as "\n"
_RX_SCOPED: Final = _RX_I | _RX_M | _RX_S  # the flags RE2's scoped groups carry for us
_RX_FLAG_BITS: Final[Mapping[str, int]] = MappingProxyType(
    {"i": _RX_I, "m": _RX_M, "s": _RX_S, "x": _RX_X, "U": _RX_U, "R": _RX_R, "u": _RX_ASCII}
)
_MAX_CODEPOINT: Final = 0x10FFFF
_EVERYTHING: Final[_Ranges] = ((0, _MAX_CODEPOINT),)
_EMPTY_CLASS: Final = "[^\\x{0}-\\x{10FFFF}]"
_ANY_CHAR: Final = "[\\x{0}-\\x{10FFFF}]"

_POSIX_CLASSES: Final[Mapping[str, _Ranges]] = MappingProxyType(
    {
        "alnum": ((0x30, 0x39), (0x41, 0x5A), (0x61, 0x7A)),
        "alpha": ((0x41, 0x5A), (0x61, 0x7A)),
        "ascii": ((0x00, 0x7F),),
        "blank": ((0x09, 0x09), (0x20, 0x20)),
        "cntrl": ((0x00, 0x1F), (0x7F, 0x7F)),
        "digit": ((0x30, 0x39),),
        "graph": ((0x21, 0x7E),),
        "lower": ((0x61, 0x7A),),
        "print": ((0x20, 0x7E),),
        "punct": ((0x21, 0x2F), (0x3A, 0x40), (0x5B, 0x60), (0x7B, 0x7E)),
        "space": ((0x09, 0x0D), (0x20, 0x20)),
        "upper": ((0x41, 0x5A),),
        "word": ((0x30, 0x39), (0x41, 0x5A), (0x5F, 0x5F), (0x61, 0x7A)),
        "xdigit": ((0x30, 0x39), (0x41, 0x46), (0x61, 0x66)),
    }
)
# Perl classes in ASCII mode.
_ASCII_PERL: Final[Mapping[str, str]] = MappingProxyType({"d": "digit", "w": "word", "s": "space"})
_SIMPLE_ESCAPES: Final[Mapping[str, str]] = MappingProxyType(
    {"a": "\x07", "f": "\x0c", "t": "\t", "n": "\n", "r": "\r", "v": "\x0b"}
)
# Unicode White_Space: Rust's "\s" (RE2's is ASCII).
_WHITE_SPACE: Final[_Ranges] = (
    (0x09, 0x0D),
    (0x20, 0x20),
    (0x85, 0x85),
    (0xA0, 0xA0),
    (0x1680, 0x1680),
    (0x2000, 0x200A),
    (0x2028, 0x2029),
    (0x202F, 0x202F),
    (0x205F, 0x205F),
    (0x3000, 0x3000),
)
# Rust's "\w": Alphabetic, marks, decimal numbers, connector punctuation and join controls.
# RE2 knows general categories, not Alphabetic: that is the letters and letter numbers plus
# the enclosed letters of Other_Alphabetic (its other members are marks).
_WORD_CATEGORIES: Final = ("L", "M", "Nd", "Nl", "Pc")
_WORD_EXTRA: Final[_Ranges] = (
    (0x200C, 0x200D),
    (0x24B6, 0x24E9),
    (0x1F130, 0x1F149),
    (0x1F150, 0x1F169),
    (0x1F170, 0x1F189),
)
_GROUP_NAME: Final = re.compile(r"[A-Za-z_][A-Za-z0-9_]*", re.ASCII)
_COUNTED: Final = re.compile(r"\{\s*([0-9]+)\s*(,\s*([0-9]*)\s*)?\}", re.ASCII)
_LOOSE: Final = re.compile(r"[\s_-]")

_CATEGORIES: Final = [
    "L",
    "Lu",
    "Ll",
    "Lt",
    "Lm",
    "Lo",
    "M",
    "Mn",
    "Mc",
    "Me",
    "N",
    "Nd",
    "Nl",
    "No",
    "P",
    "Pc",
    "Pd",
    "Ps",
    "Pe",
    "Pi",
    "Pf",
    "Po",
    "S",
    "Sm",
    "Sc",
    "Sk",
    "So",
    "Z",
    "Zs",
    "Zl",
    "Zp",
    "C",
    "Cc",
    "Cf",
    "Cs",
    "Co",
]
# Unicode general categories by loose name (lower case, without spaces, "_" or "-").
_CATEGORY_NAMES: Final[Mapping[str, str]] = MappingProxyType(
    {
        **{c.lower(): c for c in [*_CATEGORIES, "LC", "Cn"]},
        "letter": "L",
        "casedletter": "LC",
        "uppercaseletter": "Lu",
        "lowercaseletter": "Ll",
        "titlecaseletter": "Lt",
        "modifierletter": "Lm",
        "otherletter": "Lo",
        "mark": "M",
        "combiningmark": "M",
        "nonspacingmark": "Mn",
        "spacingmark": "Mc",
        "enclosingmark": "Me",
        "number": "N",
        "decimalnumber": "Nd",
        "digit": "Nd",
        "letternumber": "Nl",
        "othernumber": "No",
        "punctuation": "P",
        "punct": "P",
        "connectorpunctuation": "Pc",
        "dashpunctuation": "Pd",
        "openpunctuation": "Ps",
        "closepunctuation": "Pe",
        "initialpunctuation": "Pi",
        "finalpunctuation": "Pf",
        "otherpunctuation": "Po",
        "symbol": "S",
        "mathsymbol": "Sm",
        "currencysymbol": "Sc",
        "modifiersymbol": "Sk",
        "othersymbol": "So",
        "separator": "Z",
        "spaceseparator": "Zs",
        "lineseparator": "Zl",
        "paragraphseparator": "Zp",
        "other": "C",
        "control": "Cc",
        "cntrl": "Cc",
        "format": "Cf",
        "surrogate": "Cs",
        "privateuse": "Co",
        "unassigned": "Cn",
        "any": "Any",
        "ascii": "ASCII",
        "assigned": "Assigned",
    }
)
_NATIVE_CATEGORIES: Final = frozenset([*_CATEGORIES, "Any"])  # what RE2's \p{..} knows


# --------------------------------------------------------------------------------------------
# Code point sets, for what RE2's classes cannot say (set operations, nested negations).


@lru_cache(maxsize=1)
def _category_table() -> Mapping[str, _Ranges]:
    """Code point ranges of every general category (built once, when a pattern needs one)."""
    ranges: dict[str, list[list[int]]] = {}
    for code in range(_MAX_CODEPOINT + 1):
        category = unicodedata.category(chr(code))
        spans = ranges.setdefault(category, [])
        if spans and spans[-1][1] == code - 1:
            spans[-1][1] = code
        else:
            spans.append([code, code])
    return {name: tuple((a, b) for a, b in spans) for name, spans in ranges.items()}


def _merge(spans: Iterable[tuple[int, int]]) -> _Ranges:
    merged: list[tuple[int, int]] = []
    for low, high in sorted(spans):
        if merged and merged[-1][1] + 1 >= low:
            merged[-1] = (merged[-1][0], max(high, merged[-1][1]))
        else:
            merged.append((low, high))
    return tuple(merged)


def _complement(ranges: _Ranges) -> _Ranges:
    out, next_low = [], 0
    for low, high in ranges:
        if low > next_low:
            out.append((next_low, low - 1))
        next_low = high + 1
    if next_low <= _MAX_CODEPOINT:
        out.append((next_low, _MAX_CODEPOINT))
    return tuple(out)


def _intersect(a: _Ranges, b: _Ranges) -> _Ranges:
    return _complement(_merge(_complement(a) + _complement(b)))


def _category_ranges(name: str) -> _Ranges:
    if name == "Any":
        return _EVERYTHING
    if name == "ASCII":
        return ((0, 0x7F),)
    table = _category_table()
    if name == "Assigned":
        wanted = [c for c in table if c != "Cn"]
    elif name == "LC":
        wanted = ["Lu", "Ll", "Lt"]
    elif len(name) == 1:
        wanted = [c for c in table if c[0] == name]
    else:
        wanted = [name]
    return _merge(span for c in wanted for span in table.get(c, ()))


def _simple_fold(char: str) -> str:
    """Unicode simple case folding (CaseFolding.txt, statuses C and S), which is what Rust and
    RE2 fold by: the full folding when it is one character, else the lower case when that is."""
    for folded in (char.casefold(), char.lower()):
        if len(folded) == 1:
            return folded
    return char


@lru_cache(maxsize=1)
def _case_orbits() -> tuple[tuple[int, ...], tuple[tuple[int, ...], ...]]:
    """Every code point that folds together with another (sorted), and all it folds with."""
    groups: dict[str, list[int]] = {}
    for code in range(_MAX_CODEPOINT + 1):
        if not 0xD800 <= code <= 0xDFFF:
            groups.setdefault(_simple_fold(chr(code)), []).append(code)
    members = {c: tuple(group) for group in groups.values() if len(group) > 1 for c in group}
    cased = tuple(sorted(members))
    return cased, tuple(members[c] for c in cased)


def _contains(ranges: _Ranges, code: int) -> bool:
    at = bisect_right(ranges, (code, _MAX_CODEPOINT + 1)) - 1
    return at >= 0 and ranges[at][0] <= code <= ranges[at][1]


def _case_fold(ranges: _Ranges) -> _Ranges:
    """``ranges`` closed under simple case folding, as Rust folds a class under ``(?i)``."""
    cased, orbits = _case_orbits()
    extra = [
        (c, c)
        for code, orbit in zip(cased, orbits, strict=True)
        if _contains(ranges, code)
        for c in orbit
    ]
    return _merge([*ranges, *extra])


# --------------------------------------------------------------------------------------------
# Writing RE2.


def _cp(codepoint: int) -> str:
    return f"\\x{{{codepoint:X}}}"


def _literal(char: str) -> str:
    return char if char.isascii() and char.isalnum() else _cp(ord(char))


def _span_items(ranges: Iterable[tuple[int, int]]) -> str:
    return "".join(_cp(low) if low == high else _cp(low) + "-" + _cp(high) for low, high in ranges)


def _scope(flags: int) -> str:
    on = "".join(c for c, bit in (("i", _RX_I), ("m", _RX_M), ("s", _RX_S)) if flags & bit)
    off = "".join(c for c, bit in (("i", _RX_I), ("m", _RX_M), ("s", _RX_S)) if not flags & bit)
    return f"(?{on}-{off}:" if off else f"(?{on}:"


@dataclass(frozen=True, slots=True)
class _Member:
    """One class member as RE2 class text, and as code points for when a set operation or a
    nested negation needs them (computed only then: category tables are costly)."""

    text: str
    ranges: Callable[[], _Ranges]


def _explicit(ranges: _Ranges) -> _Member:
    return _Member(_span_items(ranges), lambda: ranges)


def _word_member() -> _Member:
    text = "".join(f"\\p{{{c}}}" for c in _WORD_CATEGORIES) + _span_items(_WORD_EXTRA)
    return _Member(
        text,
        lambda: _merge([*(s for c in _WORD_CATEGORIES for s in _category_ranges(c)), *_WORD_EXTRA]),
    )


def _negation(ranges: _Ranges, fold: bool) -> _Member:
    """The code points outside ``ranges``, case-folded first under ``(?i)`` as Rust does."""
    return _explicit(_complement(_case_fold(ranges) if fold else ranges))


def _category_member(name: str, negated: bool, fold: bool) -> _Member:
    def ranges() -> _Ranges:
        return _category_ranges(name)

    if name in _NATIVE_CATEGORIES:
        # RE2 folds a negated category before negating it, as Rust does.
        if negated:
            return _Member(f"\\P{{{name}}}", lambda: _negation(ranges(), fold).ranges())
        return _Member(f"\\p{{{name}}}", ranges)
    if name == "LC" and not negated:
        return _Member("\\p{Lu}\\p{Ll}\\p{Lt}", ranges)
    return _negation(ranges(), fold) if negated else _explicit(ranges())


@dataclass(slots=True)
class _ClassSet:
    """A character class being built."""

    members: list[_Member] = field(default_factory=list)

    def text(self) -> str:
        items = "".join(m.text for m in self.members)
        return "[" + items + "]" if items else _EMPTY_CLASS

    def negated_text(self) -> str:
        items = "".join(m.text for m in self.members)
        return "[^" + items + "]" if items else _ANY_CHAR

    def ranges(self, fold: bool) -> _Ranges:
        merged = _merge(span for m in self.members for span in m.ranges())
        return _case_fold(merged) if fold else merged


class _RustRegex:
    """Recursive-descent translation of one Rust pattern to RE2; raises ``_RegexUnsupported``."""

    def __init__(self, pattern: str) -> None:
        self.p = pattern
        self.i = 0

    def fail(self, why: str) -> NoReturn:
        raise _RegexUnsupported(f"{why} at offset {self.i}")

    def peek(self, offset: int = 0) -> str:
        j = self.i + offset
        return self.p[j] if j < len(self.p) else ""

    def translate(self, case_insensitive: bool) -> str:
        out = self.alternation(_RX_I if case_insensitive else 0, 0)
        if self.i < len(self.p):
            self.fail("unopened group")
        return out

    def skip_space(self, flags: int) -> None:
        if not flags & _RX_X:
            return
        while self.i < len(self.p):
            c = self.p[self.i]
            if c.isspace():
                self.i += 1
            elif c == "#":
                while self.i < len(self.p) and self.p[self.i] != "\n":
                    self.i += 1
            else:
                return

    def alternation(self, flags: int, outer: int) -> str:
        # Flags set by "(?i)" last to the end of the group, across "|": each alternative starts
        # with the flags the previous one ended with, and is scoped when they differ from the
        # flags the surrounding RE2 text already has.
        alternatives = []
        while True:
            start = flags
            atoms, flags = self.sequence(flags)
            body = "".join(atoms)
            if start & _RX_SCOPED != outer & _RX_SCOPED:
                body = _scope(start) + body + ")"
            alternatives.append(body)
            if self.peek() != "|":
                return "|".join(alternatives)
            self.i += 1

    def sequence(self, flags: int) -> tuple[list[str], int]:
        atoms: list[str] = []
        while True:
            self.skip_space(flags)
            c = self.peek()
            if c in ("", "|", ")"):
                return atoms, flags
            if self.p.startswith("(?", self.i):
                bare = self.bare_flags(flags)
                if bare is not None:
                    rest, end = self.sequence(bare)
                    body = "".join(rest)
                    if bare & _RX_SCOPED != flags & _RX_SCOPED:
                        body = _scope(bare) + body + ")"
                    atoms.append(body)
                    return atoms, end
            atom, assertion = self.atom(flags)
            atoms.append(self.quantified(atom, assertion, flags))

    def read_flags(self, flags: int) -> tuple[int, str]:
        """Read flag letters after "(?" up to ":" or ")"; return the new flags and the stopper."""
        negate = False
        seen: set[str] = set()
        empty = True
        while True:
            c = self.peek()
            if c in (":", ")"):
                if empty or (negate and self.p[self.i - 1] == "-"):
                    self.fail("empty flag group")
                self.i += 1
                return flags, c
            if c == "-":
                if negate:
                    self.fail("repeated negation")
                negate = True
            elif c in _RX_FLAG_BITS:
                if c in seen:
                    self.fail("repeated flag")
                seen.add(c)
                bit = _RX_FLAG_BITS[c]
                # "u" is on by default; turning it off is what sets ASCII mode.
                if c == "u":
                    negate = not negate
                flags = flags & ~bit if negate else flags | bit
                if c == "u":
                    negate = not negate
                empty = False
            else:
                self.fail("unsupported group")
            self.i += 1

    def bare_flags(self, flags: int) -> int | None:
        j = self.i + 2
        while j < len(self.p) and (self.p[j] in _RX_FLAG_BITS or self.p[j] == "-"):
            j += 1
        if j >= len(self.p) or self.p[j] != ")":
            return None
        self.i += 2
        new, _ = self.read_flags(flags)
        return new

    def atom(self, flags: int) -> tuple[str, bool]:
        """One atom; the flag says whether it is an assertion (wrapped before repeating)."""
        c = self.p[self.i]
        if c == "(":
            return self.group(flags), False
        if c == "[":
            return self.char_class(flags), False
        if c == "\\":
            return self.escape(flags)
        self.i += 1
        if c == ".":
            if flags & _RX_ASCII:
                self.fail("'.' in ASCII mode can match invalid UTF-8")
            return ("[^\\x{A}\\x{D}]" if flags & _RX_R and not flags & _RX_S else "."), False
        if c in "^$":
            if flags & _RX_M and flags & _RX_R:
                self.i -= 1
                self.fail("line anchors in CRLF mode are not supported by the linear-time engine")
            if c == "^":
                return "^", True
            # Without multi-line mode "$" is the end of the text, in Rust as in RE2.
            return ("$" if flags & _RX_M else "\\z"), True
        if c in "*+?{":
            self.i -= 1
            self.fail("repetition without an expression")
        if flags & _RX_ASCII and flags & _RX_I and not c.isascii():
            return f"(?-i:{_literal(c)})", False  # ASCII mode folds ASCII letters only
        return _literal(c), False

    def quantified(self, atom: str, assertion: bool, flags: int) -> str:
        repeated = False
        while True:
            self.skip_space(flags)
            c = self.peek()
            if c in ("*", "+", "?"):
                quantifier = c
                self.i += 1
            elif c == "{":
                match = _COUNTED.match(self.p, self.i)
                if match is None:
                    self.fail("invalid counted repetition")
                low, comma, high = match.group(1), match.group(2), match.group(3)
                if high and int(high) < int(low):
                    self.fail("invalid repetition range")
                quantifier = "{" + low + ("," + high if comma else "") + "}"
                self.i = match.end()
            else:
                return atom
            lazy = self.peek() == "?"
            if lazy:
                self.i += 1
            if flags & _RX_U:
                lazy = not lazy
            if repeated or assertion:
                atom = f"(?:{atom})"
            atom = atom + quantifier + ("?" if lazy else "")
            repeated, assertion = True, False

    def group(self, flags: int) -> str:
        # Captures are never read: every group is written non-capturing.
        self.i += 1
        if self.peek() != "?":
            inner = self.alternation(flags, flags)
            self.close_group()
            return f"(?:{inner})"
        self.i += 1
        if self.p.startswith("P<", self.i) or (
            self.peek() == "<" and self.peek(1) not in ("=", "!")
        ):
            self.i += 2 if self.peek() == "P" else 1
            end = self.p.find(">", self.i)
            name = self.p[self.i : end] if end != -1 else ""
            if not _GROUP_NAME.fullmatch(name):
                self.fail("invalid group name")
            self.i = end + 1
            inner = self.alternation(flags, flags)
            self.close_group()
            return f"(?:{inner})"
        if self.peek() == ":":
            self.i += 1
            inner = self.alternation(flags, flags)
            self.close_group()
            return f"(?:{inner})"
        new, stopper = self.read_flags(flags)
        if stopper != ":":
            self.fail("unexpected flag group")
        inner = self.alternation(new, new)
        self.close_group()
        prefix = _scope(new) if new & _RX_SCOPED != flags & _RX_SCOPED else "(?:"
        return prefix + inner + ")"

    def close_group(self) -> None:
        if self.peek() != ")":
            self.fail("unclosed group")
        self.i += 1

    def codepoint(self, letter: str) -> int:
        if self.peek() == "{":
            end = self.p.find("}", self.i)
            digits = self.p[self.i + 1 : end] if end != -1 else ""
            self.i = end + 1
        else:
            width = {"x": 2, "u": 4, "U": 8}[letter]
            digits = self.p[self.i : self.i + width]
            if len(digits) != width:
                self.fail("short hex escape")
            self.i += width
        if not digits or len(digits) > 8 or any(d not in "0123456789abcdefABCDEF" for d in digits):
            self.fail("invalid hex escape")
        value = int(digits, 16)
        if value > _MAX_CODEPOINT or 0xD800 <= value <= 0xDFFF:
            self.fail("invalid code point")
        return value

    def unicode_class(self, letter: str, flags: int) -> _Member:
        """``\\pL``, ``\\p{Letter}``, ``\\P{gc=L}``: general categories only."""
        if flags & _RX_ASCII:
            self.fail("Unicode classes in ASCII mode")
        negated = letter == "P"
        if self.peek() == "{":
            end = self.p.find("}", self.i)
            if end == -1:
                self.fail("unclosed Unicode class")
            spec = self.p[self.i + 1 : end]
            self.i = end + 1
        else:
            spec = self.peek()
            self.i += 1
        for separator in ("!=", "=", ":"):
            if separator in spec:
                key, spec = spec.split(separator, 1)
                if separator == "!=":
                    negated = not negated
                if _LOOSE.sub("", key).lower() not in ("gc", "generalcategory"):
                    self.fail("only general categories are supported")
                break
        name = _CATEGORY_NAMES.get(_LOOSE.sub("", spec).lower())
        if name is None:
            self.fail(f"unsupported Unicode class {spec!r}")
        return _category_member(name, negated, bool(flags & _RX_I))

    def perl_class(self, letter: str, flags: int) -> tuple[_Member, bool]:
        """``\\d \\s \\w`` (Rust's Unicode meaning, or ASCII in ASCII mode) and whether it is
        negated (``\\D \\S \\W``)."""
        negated = letter.isupper()
        lower = letter.lower()
        if flags & _RX_ASCII:
            if negated:
                self.fail("negated ASCII class can match invalid UTF-8")
            return _explicit(_POSIX_CLASSES[_ASCII_PERL[lower]]), False
        if lower == "d":
            return _category_member("Nd", False, False), negated
        if lower == "s":
            return _explicit(_WHITE_SPACE), negated
        return _word_member(), negated

    def escape(self, flags: int) -> tuple[str, bool]:
        """An escape outside a class."""
        self.i += 1
        c = self.peek()
        if not c:
            self.fail("dangling backslash")
        self.i += 1
        if c in "dDsSwW":
            member, negated = self.perl_class(c, flags)
            return ("[^" if negated else "[") + member.text + "]", False
        if c in "pP":
            return "[" + self.unicode_class(c, flags).text + "]", False
        if (c == "b" and self.peek() == "{") or c in "<>":
            self.fail("this word boundary is not supported by the linear-time engine")
        assertions = {"b": "\\b", "B": "\\B", "A": "\\A", "z": "\\z"}
        if c in assertions:
            return assertions[c], True
        if c in _SIMPLE_ESCAPES:
            return _cp(ord(_SIMPLE_ESCAPES[c])), False
        if c in "xuU":
            return _cp(self.codepoint(c)), False
        if c.isascii() and not c.isalnum():
            return _cp(ord(c)), False
        # Back-references, octal and unknown letters.
        self.i -= 1
        self.fail(f"unsupported escape \\{c}")

    def char_class(self, flags: int) -> str:
        negated, result = self.class_expression(flags)
        if flags & _RX_ASCII and negated:
            self.fail("negated class in ASCII mode can match invalid UTF-8")
        return result.negated_text() if negated else result.text()

    def class_expression(self, flags: int) -> tuple[bool, _ClassSet]:
        """A bracketed class: unions joined by set operations (equal precedence, left first)."""
        self.i += 1  # "["
        negated = self.peek() == "^"
        if negated:
            self.i += 1
        result = self.class_union(flags, first=True)
        fold = bool(flags & _RX_I)
        while True:
            if self.peek() == "]":
                self.i += 1
                return negated, result
            operator = self.p[self.i : self.i + 2]
            self.i += 2
            # RE2 has no set operations: compute the code points, each side case-folded first
            # as Rust does, so RE2's own folding of the result adds nothing.
            left = result.ranges(fold)
            right = self.class_union(flags, first=False).ranges(fold)
            if operator == "&&":
                ranges = _intersect(left, right)
            elif operator == "--":
                ranges = _intersect(left, _complement(right))
            else:
                ranges = _merge(
                    _intersect(left, _complement(right)) + _intersect(right, _complement(left))
                )
            result = _ClassSet([_explicit(ranges)])

    def class_union(self, flags: int, *, first: bool) -> _ClassSet:
        """Members up to the closing "]" or a set operator."""
        members = _ClassSet()
        fold = bool(flags & _RX_I)
        while True:
            if flags & _RX_X:
                while self.peek().isspace():
                    self.i += 1
            c = self.peek()
            if not c:
                self.fail("unclosed class")
            if c == "]" and not first:
                return members
            # A leading "-" is a literal, even when another "-" follows it.
            if not (first and c == "-") and self.p.startswith(("&&", "--", "~~"), self.i):
                return members
            first = False
            if c == "[":
                posix = self.posix_class(flags)
                if posix is not None:
                    negated, ranges = posix
                    members.members.append(
                        _negation(ranges, fold) if negated else _explicit(ranges)
                    )
                    continue
                negated, nested = self.class_expression(flags)
                if negated:
                    # RE2 cannot nest a negated class: write out its code points.
                    members.members.append(_negation(nested.ranges(fold), False))
                else:
                    members.members.extend(nested.members)
                continue
            low, member = self.class_atom(flags)
            if self.peek() == "-" and self.peek(1) not in ("]", "-", "") and low != ord("-"):
                if low is None:
                    self.fail("invalid class range")
                self.i += 1
                high, _ = self.class_atom(flags)
                if high is None or high < low:
                    self.fail("invalid class range")
                members.members.append(_explicit(((low, high),)))
            else:
                members.members.append(member)

    def posix_class(self, flags: int) -> tuple[bool, _Ranges] | None:
        """``[:alpha:]`` or ``[:^alpha:]``; ``None`` when the bracket opens a nested class."""
        if self.peek(1) != ":":
            return None
        end = self.p.find(":]", self.i + 2)
        name = self.p[self.i + 2 : end] if end != -1 else ""
        negated = name.startswith("^")
        ranges = _POSIX_CLASSES.get(name.removeprefix("^"))
        if ranges is None:
            return None  # Rust reads "[:foo:]" as a nested class of ':', 'f' and 'o'
        if negated and flags & _RX_ASCII:
            self.fail("negated class in ASCII mode can match invalid UTF-8")
        self.i = end + 2
        return negated, ranges

    def class_atom(self, flags: int) -> tuple[int | None, _Member]:
        """One class member, and its code point when it can start a range."""
        c = self.peek()
        self.i += 1
        if c != "\\":
            return ord(c), _explicit(((ord(c), ord(c)),))
        e = self.peek()
        if not e:
            self.fail("dangling backslash")
        self.i += 1
        if e in "dDsSwW":
            member, negated = self.perl_class(e, flags)
            if negated and e == "D":
                return None, _category_member("Nd", True, bool(flags & _RX_I))
            if negated:
                return None, _negation(member.ranges(), bool(flags & _RX_I))
            return None, member
        if e in "pP":
            return None, self.unicode_class(e, flags)
        if e in _SIMPLE_ESCAPES:
            code = ord(_SIMPLE_ESCAPES[e])
        elif e in "xuU":
            code = self.codepoint(e)
        elif e.isascii() and not e.isalnum():
            code = ord(e)
        else:
            self.i -= 1
            self.fail(f"unsupported class escape \\{e}")
        return code, _explicit(((code, code),))


# --------------------------------------------------------------------------------------------
# Compiling and matching.


def _options() -> Any:
    options = re2.Options()
    options.log_errors = False  # a bad pattern is an answer here, not a line on stderr
    options.never_capture = True  # only whether it matches is asked
    return options


_OPTIONS: Final = _options()
_UNANCHORED: Final = _re2.RE2.Anchor.UNANCHORED
_NO_MATCH: Final = (-1, -1)


def _compile(pattern: str, case_insensitive: bool) -> Any:
    """RE2's compiled program, through the binding's core: ``re2.compile``'s Python layer
    costs about 6 us a search to report positions, which are never asked for here."""
    try:
        translated = _RustRegex(pattern).translate(case_insensitive)
    except RecursionError as exc:
        raise _RegexUnsupported("nested too deeply") from exc
    compiled = _re2.RE2(translated.encode(), _OPTIONS)
    if not compiled.ok():
        detail = compiled.error()
        text = detail.decode(errors="replace") if isinstance(detail, bytes) else str(detail)
        raise _RegexUnsupported(f"the linear-time engine refuses it: {text}")
    return compiled


def pattern_problem(pattern: str, case_insensitive: bool) -> str | None:
    """Why ``pattern`` can never match (Rust rejects it, or RE2 cannot run it), or None."""
    try:
        _compile(pattern, case_insensitive)
    except _RegexUnsupported as exc:
        return str(exc)
    return None


def _utf8(text: str) -> bytes:
    try:
        return text.encode()
    except UnicodeEncodeError:
        # Lone surrogates (possible in JSON) cannot be UTF-8: read them as U+FFFD.
        return text.encode("utf-16", "surrogatepass").decode("utf-16", "replace").encode()


@lru_cache(maxsize=1024)
def compile_pattern(pattern: str, case_insensitive: bool) -> Matcher | None:
    """A search in time linear in the text, or ``None`` when the pattern can never match."""
    try:
        match = _compile(pattern, case_insensitive).Match
    except _RegexUnsupported:
        return None

    def matches(text: str) -> bool:
        data = _utf8(text)
        return bool(match(_UNANCHORED, data, 0, len(data))[0] != _NO_MATCH)

    return matches
