"""Literals as the reference engine reads them. It embeds values in a small rule language and
parses them back; these functions reproduce what that accepts, so the same values fail in the
same way: quoted strings, percentages, numbers, semantic versions, RFC 3339 dates, IP
addresses and CIDR ranges.

Shared by compilation (how a value compares) and validation (which values to refuse).
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Callable, Iterable
from datetime import UTC, datetime, timedelta
from functools import lru_cache
from typing import Final, TypeAlias

_GRAMMAR_SPACE: Final = " \t"


def _grammar_string(text: str, *, escaped: bool) -> str | None:
    """What a string embedded in the reference engine's rule text reads back as.

    ``None`` when it breaks the rule (the engine then switches the whole feature off): a value
    ending in a backslash escapes its own closing quote, and, where the engine does not escape
    quotes, a bare quote ends the string early.
    """
    if escaped:
        text = text.replace('"', '\\"')
    quoted = text + '"'
    i, end = 0, len(quoted)
    while i < end:
        if quoted.startswith('\\"', i):
            i += 2
        elif quoted[i] == '"':
            return text.replace('\\"', '"') if i == end - 1 else None
        else:
            i += 1
    return None


_USIZE: Final = re.compile(r"\+?[0-9]+", re.ASCII)
_USIZE_MAX: Final = 2**64 - 1


def _parse_usize(text: str | None) -> int | None:
    """A percentage parameter as Rust reads ``usize``: digits, an optional ``+``, no spaces."""
    if text is None or not _USIZE.fullmatch(text):
        return None
    value = int(text)
    return value if value <= _USIZE_MAX else None


# Operand shapes of the reference grammar, tried in this order: date, semver, number.
_DATE_LITERAL: Final = re.compile(
    r"([0-9]{4})-([0-9]{2})-([0-9]{2})T([0-9]{2}):([0-9]{2}):([0-9]{2})(?:\.([0-9]{3}))?"
    r"(Z|[+-][0-9]{2}:[0-9]{2})",
    re.ASCII,
)
_SEMVER_LITERAL: Final = re.compile(
    r"[0-9]+\.[0-9]+\.[0-9]+(?:-[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*)?"
    r"(?:\+[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*)?",
    re.ASCII,
)
_NUMBER_LITERAL: Final = re.compile(r"[+-]?[0-9]+(?:\.[0-9]*)?(?:[eE][+-]?[0-9]+)?", re.ASCII)
# What Rust's f64::from_str accepts for context values (Python's float() also takes spaces,
# underscores and non-ASCII digits, which must not match).
_RUST_FLOAT: Final = re.compile(
    r"[+-]?(?:inf|infinity|nan|(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:e[+-]?[0-9]+)?)",
    re.ASCII | re.IGNORECASE,
)


@lru_cache(maxsize=4096)  # context values repeat (ages, counts): parse each once
def _parse_number(text: str) -> float | None:
    if not _RUST_FLOAT.fullmatch(text):
        return None
    return float(text)


_SEMVER_STRICT: Final = re.compile(
    r"(0|[1-9][0-9]*)\.(0|[1-9][0-9]*)\.(0|[1-9][0-9]*)"
    r"(?:-([0-9A-Za-z-]+(?:\.[0-9A-Za-z-]+)*))?"
    r"(?:\+[0-9A-Za-z-]+(?:\.[0-9A-Za-z-]+)*)?",
    re.ASCII,
)
_SemverKey: TypeAlias = tuple[int, int, int, tuple[tuple[int, int | str], ...] | tuple[int]]


@lru_cache(maxsize=4096)
def _parse_semver(text: str) -> _SemverKey | None:
    """A strict SemVer 2.0.0 precedence key; build metadata does not take part, as in Unleash."""
    match = _SEMVER_STRICT.fullmatch(text)
    if match is None:
        return None
    major, minor, patch = (int(match.group(n)) for n in (1, 2, 3))
    if max(major, minor, patch) > _USIZE_MAX:
        return None
    pre = match.group(4)
    if pre is None:
        # A release sorts after all of its pre-releases.
        return (major, minor, patch, (1,))
    identifiers: list[tuple[int, int | str]] = []
    for ident in pre.split("."):
        if ident.isdigit():
            if len(ident) > 1 and ident[0] == "0":
                return None
            identifiers.append((0, int(ident)))
        else:
            identifiers.append((1, ident))
    return (major, minor, patch, (0, *identifiers))  # type: ignore[arg-type]


def _aware(moment: datetime) -> datetime:
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


def _build_datetime(
    year: int,
    month: int,
    day: int,
    hour: int,
    minute: int,
    second: int,
    fraction: str | None,
    offset_minutes: int,
) -> datetime | None:
    try:
        # Leap seconds (":60") are valid RFC 3339; they sort just after the 59th second.
        moment = datetime(year, month, day, hour, minute, min(second, 59), tzinfo=UTC)
    except ValueError:
        if 1 <= month <= 12 and year < 1:
            return datetime.min.replace(tzinfo=UTC)
        if 1 <= month <= 12 and year > 9999:
            return datetime.max.replace(tzinfo=UTC)
        return None
    if second > 60:
        return None
    micro = int((fraction or "0")[:6].ljust(6, "0"))
    if second == 60:
        micro = 999999
    moment = moment.replace(microsecond=micro)
    try:
        return moment - timedelta(minutes=offset_minutes)
    except OverflowError:
        return (
            datetime.min.replace(tzinfo=UTC)
            if offset_minutes > 0
            else datetime.max.replace(tzinfo=UTC)
        )


def _offset_minutes(sign: str, hours: str, minutes: str) -> int | None:
    h, m = int(hours), int(minutes)
    if h > 23 or m > 59:
        return None
    return (h * 60 + m) * (-1 if sign == "-" else 1)


def _parse_date_literal(text: str) -> datetime | None:
    match = _DATE_LITERAL.fullmatch(text)
    if match is None:
        return None
    zone = match.group(8)
    offset = 0 if zone == "Z" else _offset_minutes(zone[0], zone[1:3], zone[4:6])
    if offset is None:
        return None
    y, mo, d, h, mi, s = (int(match.group(n)) for n in range(1, 7))
    return _build_datetime(y, mo, d, h, mi, s, match.group(7), offset)


# The relaxed RFC 3339 that chrono accepts for context values: 'T', 't' or spaces between date
# and time, short fields, spaces around fields, 'Z', 'UTC' or an offset with an optional colon.
_CONTEXT_DATE: Final = re.compile(
    r"\s*([+-][0-9]{1,9}|[0-9]{1,4})\s*-\s*([0-9]{1,2})\s*-\s*([0-9]{1,2})"
    r"(?:[Tt]|\s+)\s*([0-9]{1,2})\s*:\s*([0-9]{1,2})\s*:\s*([0-9]{1,2})(?:\.([0-9]+))?"
    r"\s*(?:(Z|z|[Uu][Tt][Cc])|([+-])([0-9]{2})\s*:?\s*([0-9]{2}))\s*",
    re.ASCII,
)


@lru_cache(maxsize=4096)
def _parse_context_date(text: str) -> datetime | None:
    match = _CONTEXT_DATE.fullmatch(text)
    if match is None:
        return None
    if match.group(8) is not None:
        offset: int | None = 0
    else:
        offset = _offset_minutes(match.group(9), match.group(10), match.group(11))
    if offset is None:
        return None
    y, mo, d, h, mi, s = (int(match.group(n)) for n in range(1, 7))
    if h > 23 or mi > 59:
        return None
    return _build_datetime(y, mo, d, h, mi, s, match.group(7), offset)


_Address: TypeAlias = ipaddress.IPv4Address | ipaddress.IPv6Address
_Network: TypeAlias = ipaddress.IPv4Network | ipaddress.IPv6Network


@lru_cache(maxsize=4096)
def _parse_address(text: str) -> _Address | None:
    if "%" in text:  # zone ids are not addresses to Rust's parser
        return None
    try:
        return ipaddress.ip_address(text)
    except ValueError:
        return None


def _parse_network(text: str) -> _Network | None:
    """An address or CIDR range as Rust's ``ipnetwork`` reads it (no host masks, no zones)."""
    if "%" in text or text.strip() != text:
        return None
    _, slash, mask = text.partition("/")
    try:
        network = ipaddress.ip_network(text, strict=False)
    except ValueError:
        return None
    if slash and "." in mask and ipaddress.ip_address(mask) != network.netmask:
        return None  # Python also reads "/0.0.0.255" as a host mask
    return network


def _address_matcher(entries: Iterable[str]) -> Callable[[str], bool]:
    networks = [n for n in (_parse_network(e) for e in entries) if n is not None]
    v4 = tuple((int(n.network_address), int(n.netmask)) for n in networks if n.version == 4)
    v6 = tuple((int(n.network_address), int(n.netmask)) for n in networks if n.version == 6)

    def matches(text: str) -> bool:
        address = _parse_address(text)
        if address is None:
            return False
        value = int(address)
        pool = v4 if address.version == 4 else v6
        return any(value & mask == net for net, mask in pool)

    return matches
