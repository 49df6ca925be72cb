"""The Prometheus text exposition format (version 0.0.4), read and written.

The built-in router serves its per-pool counters and latency histograms in this format at
``/metrics``, and a real Prometheus exposes the same shape; analysis reads both through here.
Pure: text in, samples out, and families in, text out. Bad text raises ``MetricsParseError``
naming the line.

``prometheus_client`` (the reference Python client) does the lexing of each sample line (label
sets, escapes, numbers) and all of the writing (``render``). Lines are grouped into families
here rather than by its ``text_string_to_metric_families`` grouping, which renames a counter's
samples to ``<name>_total`` and splits a family whose samples are not adjacent; and the checks
that it leaves out are made here: a metric name, a blank before the value, at most a value and
an integer timestamp, a known ``# TYPE``. The library is imported on first use: importing it
costs tens of milliseconds, which no command that never reads metrics should pay.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from shipyard.errors import InputError

__all__ = [
    "Family",
    "LabelMatch",
    "MetricsParseError",
    "Sample",
    "buckets",
    "parse",
    "parse_families",
    "render",
    "select",
    "total",
]

_NAME = re.compile(r"[a-zA-Z_:][a-zA-Z0-9_:]*")
_TIMESTAMP = re.compile(r"[+-]?[0-9]+")
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


def render(families: Iterable[Family]) -> str:
    """The exposition text of ``families``, as ``prometheus_client`` writes it: a ``# HELP``
    and a ``# TYPE`` line per family (also one without samples), labels sorted and escaped,
    values as Go writes floats (``3.0``, ``+Inf``, ``1.5e+06``), timestamps in milliseconds.

    A counter's name ends in ``_total``, as its samples' names do.
    """
    from prometheus_client.exposition import generate_latest
    from prometheus_client.metrics_core import Metric
    from prometheus_client.registry import Collector

    metrics = []
    for family in families:
        name = family.name
        if family.type == "counter":
            # The library names a counter family without the suffix and writes it back.
            if not name.endswith("_total"):
                raise ValueError(f"counter {name!r} must be named <name>_total")
            name = name.removesuffix("_total")
        metric = Metric(name, family.help, family.type)
        for s in family.samples:
            stamp = None if s.timestamp_ms is None else s.timestamp_ms / 1000
            metric.add_sample(s.name, dict(s.labels), s.value, stamp)
        metrics.append(metric)

    class Families(Collector):
        def collect(self) -> Iterator[Metric]:
            return iter(metrics)

    return generate_latest(Families()).decode()


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
    from prometheus_client.parser import text_string_to_metric_families

    for number, raw in enumerate(text.splitlines(), 1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        yield number, _sample(line, number, text_string_to_metric_families)


def _sample(line: str, number: int, lex: Callable[[str], Iterable[Any]]) -> Sample:
    """One sample line; ``lex`` is ``prometheus_client``'s parser, given the line alone (a
    sample without a ``# TYPE`` before it is a family of its own, so nothing is renamed)."""
    name = _NAME.match(line)
    if name is None:
        raise MetricsParseError(f"line {number}: expected a metric name: {line!r}")
    # The value and the timestamp cannot hold a '}', so the last one closes the label set.
    after = line.rfind("}") + 1 if "{" in line else name.end()
    tail = line[after:]
    rest = tail.split()
    if not rest or len(rest) > 2 or not tail[0].isspace():
        raise MetricsParseError(f"line {number}: expected 'name{{labels}} value [timestamp]'")
    _number(rest[0], number)  # its own message; the library's would not name the value
    if len(rest) == 2 and _TIMESTAMP.fullmatch(rest[1]) is None:
        raise MetricsParseError(f"line {number}: bad timestamp '{rest[1]}'")
    try:
        (family,) = lex(line)
        (parsed,) = family.samples
    except ValueError as exc:
        raise MetricsParseError(
            f"line {number}: bad label set: {line[name.end() : after]!r}"
        ) from exc
    labels = tuple(sorted(parsed.labels.items()))
    timestamp = int(rest[1]) if len(rest) == 2 else None
    return Sample(parsed.name, labels, float(parsed.value), timestamp)


def _number(text: str, number: int | None = None) -> float:
    try:
        if "_" in text:  # Python reads "1_000"; the format does not
            raise ValueError(text)
        return float(text)  # also "+Inf", "-Inf" and "NaN", in any case
    except ValueError:
        where = f"line {number}: " if number is not None else ""
        raise MetricsParseError(f"{where}bad number '{text}'") from None


def _unescape_help(text: str) -> str:
    return re.sub(r"\\(.)", lambda m: "\n" if m.group(1) == "n" else m.group(1), text)
