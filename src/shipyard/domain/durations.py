"""Durations as written in shipyard.yaml and on the command line: one grammar everywhere.

A duration is one or more parts ``<number><unit>``, largest unit first and each unit once
(``1h30m``, ``2.5s``, ``1w2d``), with units ``w``, ``d``, ``h``, ``m`` (minutes), ``s`` and
``ms``; spaces are ignored. Where a plain number is also allowed (a spec's timeouts and gates,
written by hand or by a tool), it counts seconds. Nothing is negative and nothing is longer
than ten years, which catches typos before a date overflows.
"""

from __future__ import annotations

import re
from typing import Final

from shipyard.errors import InputError

UNITS: Final = {"w": 604800.0, "d": 86400.0, "h": 3600.0, "m": 60.0, "s": 1.0, "ms": 0.001}
MAX_DAYS: Final = 3660  # ten years
MAX_SECONDS: Final = MAX_DAYS * 86400.0
_PART = re.compile(r"(\d+(?:\.\d+)?)(ms|w|d|h|m|s)")
_NUMBER = re.compile(r"\d+(?:\.\d+)?")


class DurationInvalid(InputError):
    code = "duration-invalid"
    default_hint = "write a number and a unit (w, d, h, m, s, ms), combined largest first: 1h30m"


def parse_seconds(value: object, *, bare: bool = True) -> float:
    """Seconds in ``value``: a duration's text, or (when ``bare``) a number of seconds, as a
    number or as text. Raises ``DurationInvalid`` for anything else."""
    if isinstance(value, bool) or not isinstance(value, str | int | float):
        raise DurationInvalid(f"{value!r} is not a duration")
    if isinstance(value, int | float):
        if not bare:
            raise DurationInvalid(f"{value!r} has no unit")
        return _bounded(float(value), value)
    text = re.sub(r"\s+", "", value)
    if bare and _NUMBER.fullmatch(text):
        return _bounded(float(text), value)
    order = list(UNITS)  # largest first
    seconds, pos, last = 0.0, 0, -1
    for m in _PART.finditer(text):
        rank = order.index(m[2])
        if m.start() != pos or rank <= last:  # a gap, or units out of order or repeated
            break
        seconds += float(m[1]) * UNITS[m[2]]
        pos, last = m.end(), rank
    if not text or pos != len(text):
        raise DurationInvalid(f"{value!r} is not a duration")
    return _bounded(seconds, value)


def _bounded(seconds: float, value: object) -> float:
    if seconds < 0:
        raise DurationInvalid(f"{value!r} is negative")
    if seconds > MAX_SECONDS:
        raise DurationInvalid(f"{value!r} is longer than {MAX_DAYS} days")
    return seconds
