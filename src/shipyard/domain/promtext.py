"""A parser for the Prometheus text exposition format (version 0.0.4).

The built-in router serves its per-pool counters and latency histograms in this format at
``/metrics``, and a real Prometheus exposes the same shape; analysis reads both through here.
Pure: text in, samples out. Bad text raises ``MetricsParseError`` naming the line.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from shipyard.errors import InputError

__all__ = [
    "Family",
    "LabelMatch",
    "MetricsParseError",
    "Sample",
    "buckets",
    "parse",
    "parse_families",
    "select",
    "total",
]

_NAME = re.compile(r"[a-zA-Z_:][a-zA-Z0-9_:]*")
_LABEL = re.compile(r"[a-zA-Z_][a-zA-Z0-9_]*")
_TYPES = ("counter", "gauge", "histogram", "summary", "untyped")
# Suffixes by which a sample belongs to a histogram or summary family of a shorter name.
_SUFFIXES = ("_bucket", "_sum", "_count", "_created")

LabelMatch = Mapping[str, "str | re.Pattern[str]"]


class MetricsParseError(InputError):
    code = "metrics-parse-error"
    default_hint = "the endpoint must serve the Prometheus text format (text/plain; version=0.0.4)"


@dataclass(frozen=True)
class Sample:
    """One line of the exposition: a name, sorted labels, a value and an optional timestamp."""

    name: str
    labels: tuple[tuple[str, str], ...] = ()
    value: float = 0.0
    timestamp_ms: int | None = None

    def label(self, key: str) -> str | None:
        for k, v in self.labels:
            if k == key:
                return v
        return None

    def matches(self, match: LabelMatch | None) -> bool:
        """Whether every label in ``match`` equals (or, for a pattern, fully matches) ours."""
        for key, want in (match or {}).items():
            have = self.label(key)
            if have is None:
                return False
            if isinstance(want, re.Pattern):
                if want.fullmatch(have) is None:
                    return False
            elif have != want:
                return False
        return True


@dataclass(frozen=True)
class Family:
    """Samples grouped under the name of their ``# TYPE`` line (``untyped`` when none)."""

    name: str
    type: str = "untyped"
    help: str = ""
    samples: tuple[Sample, ...] = ()


def parse(text: str) -> tuple[Sample, ...]:
    """Every sample in ``text``, in order; comments and blank lines are skipped."""
    return tuple(s for _, s in _lines(text))


def parse_families(text: str) -> dict[str, Family]:
    """Samples grouped into families by their ``# TYPE``/``# HELP`` lines."""
    types: dict[str, str] = {}
    helps: dict[str, str] = {}
    grouped: dict[str, list[Sample]] = {}
    for number, line in enumerate(text.splitlines(), 1):
        parts = line.strip().split(None, 3)
        if len(parts) >= 3 and parts[0] == "#" and parts[1] in ("TYPE", "HELP"):
            name = parts[2]
            rest = parts[3] if len(parts) > 3 else ""
            if parts[1] == "TYPE":
                if rest not in _TYPES:
                    raise MetricsParseError(f"line {number}: unknown metric type '{rest}'")
                types[name] = rest
            else:
                helps[name] = _unescape_help(rest)
    for _, sample in _lines(text):
        grouped.setdefault(_family_of(sample.name, types), []).append(sample)
    names = list(dict.fromkeys([*types, *helps, *grouped]))
    return {
        n: Family(n, types.get(n, "untyped"), helps.get(n, ""), tuple(grouped.get(n, ())))
        for n in names
    }


def select(samples: Iterable[Sample], name: str, match: LabelMatch | None = None) -> list[Sample]:
    """The samples called ``name`` whose labels satisfy ``match``."""
    return [s for s in samples if s.name == name and s.matches(match)]


def total(samples: Iterable[Sample], name: str, match: LabelMatch | None = None) -> float:
    """The sum over every matching series (e.g. all status codes of one pool)."""
    return sum(s.value for s in select(samples, name, match))


def buckets(
    samples: Iterable[Sample], name: str, match: LabelMatch | None = None
) -> tuple[tuple[float, int], ...]:
    """Cumulative ``(le, count)`` pairs of histogram ``name``, summed over matching series.

    ``name`` is the histogram's base name; its ``name_bucket`` samples are read.
    """
    summed: dict[float, float] = {}
    for s in select(samples, f"{name}_bucket", match):
        le = s.label("le")
        if le is None:
            continue
        bound = _number(le)
        summed[bound] = summed.get(bound, 0.0) + s.value
    return tuple((le, int(count)) for le, count in sorted(summed.items()))


# -- internals --------------------------------------------------------------------------------


def _family_of(name: str, types: Mapping[str, str]) -> str:
    if name in types:
        return name
    for suffix in _SUFFIXES:
        base = name.removesuffix(suffix)
        if base != name and types.get(base) in ("histogram", "summary"):
            return base
    return name


def _lines(text: str) -> Iterable[tuple[int, Sample]]:
    for number, raw in enumerate(text.splitlines(), 1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        yield number, _sample(line, number)


def _sample(line: str, number: int) -> Sample:
    m = _NAME.match(line)
    if m is None:
        raise MetricsParseError(f"line {number}: expected a metric name: {line!r}")
    name, pos = m.group(), m.end()
    labels: list[tuple[str, str]] = []
    brace = _skip(line, pos)
    if brace < len(line) and line[brace] == "{":
        labels, pos = _labels(line, brace + 1, number)
    rest = line[pos:].split()
    if not rest or len(rest) > 2 or (pos < len(line) and not line[pos].isspace()):
        raise MetricsParseError(f"line {number}: expected 'name{{labels}} value [timestamp]'")
    value = _number(rest[0], number)
    timestamp: int | None = None
    if len(rest) == 2:
        try:
            timestamp = int(rest[1])
        except ValueError:
            raise MetricsParseError(f"line {number}: bad timestamp '{rest[1]}'") from None
    return Sample(name, tuple(sorted(labels)), value, timestamp)


def _labels(line: str, pos: int, number: int) -> tuple[list[tuple[str, str]], int]:
    labels: list[tuple[str, str]] = []
    while True:
        pos = _skip(line, pos)
        if pos < len(line) and line[pos] == "}":
            return labels, pos + 1
        m = _LABEL.match(line, pos)
        if m is None:
            raise MetricsParseError(f"line {number}: expected a label name at column {pos + 1}")
        key, pos = m.group(), _skip(line, m.end())
        quote = _skip(line, pos + 1)
        if line[pos : pos + 1] != "=" or line[quote : quote + 1] != '"':
            raise MetricsParseError(f"line {number}: expected '=\"' after label '{key}'")
        value, pos = _quoted(line, quote + 1, number)
        if any(k == key for k, _ in labels):
            raise MetricsParseError(f"line {number}: label '{key}' appears twice")
        labels.append((key, value))
        pos = _skip(line, pos)
        if pos < len(line) and line[pos] == ",":
            pos += 1
        elif pos >= len(line) or line[pos] != "}":
            raise MetricsParseError(f"line {number}: expected ',' or '}}' at column {pos + 1}")


def _skip(line: str, pos: int) -> int:
    """The first position at or after ``pos`` that is not a blank (the format allows blanks)."""
    while pos < len(line) and line[pos] in " \t":
        pos += 1
    return pos


def _quoted(line: str, pos: int, number: int) -> tuple[str, int]:
    out: list[str] = []
    while pos < len(line):
        c = line[pos]
        if c == '"':
            return "".join(out), pos + 1
        if c == "\\" and pos + 1 < len(line):
            nxt = line[pos + 1]
            out.append({"n": "\n", "\\": "\\", '"': '"'}.get(nxt, "\\" + nxt))
            pos += 2
            continue
        out.append(c)
        pos += 1
    raise MetricsParseError(f"line {number}: unterminated label value")


def _number(text: str, number: int | None = None) -> float:
    special = {"+inf": math.inf, "inf": math.inf, "-inf": -math.inf, "nan": math.nan}
    if text.lower() in special:
        return special[text.lower()]
    try:
        return float(text)
    except ValueError:
        where = f"line {number}: " if number is not None else ""
        raise MetricsParseError(f"{where}bad number '{text}'") from None


def _unescape_help(text: str) -> str:
    return re.sub(r"\\(.)", lambda m: "\n" if m.group(1) == "n" else m.group(1), text)
