"""One input policy for everything a client sends: names, integers, text, media types.

Pure rules the API applies at its boundary (api/inputs.py) before any route runs, so every
route refuses the same things the same way: a 4xx with a stable code and a hint, never a
500 from a database that cannot hold the value, and never a stored name that breaks a path, a
header or a log line later.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Sequence
from typing import Final

INT64_MAX: Final = 2**63 - 1
ID_MAX: Final = 2**31 - 1  # record ids are serial integers: 32 bits on PostgreSQL
MAX_QUERY_VALUE: Final = 2000  # characters in one query parameter
MAX_NAME: Final = 100

# Names of projects, environments, artifacts, freezes, jobs: what shipyard.yaml allows
# (spec/models.py NAME_RE), at most MAX_NAME characters.
NAME: Final = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,99}")
# Versions: semver and its build metadata, calendar versions, tags.
VERSION: Final = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.+-]{0,127}")
# Flag names follow Unleash's (any visible character but '/', '\\' and '"').
FLAG: Final = re.compile(r"[^\s/\\\"\x00-\x1f\x7f]{1,200}")
FILENAME: Final = re.compile(r"[A-Za-z0-9][A-Za-z0-9._+-]{0,199}")

RULES: Final = {
    "name": (
        NAME,
        "letters, digits, '.', '_' and '-', starting with a letter or digit, "
        f"at most {MAX_NAME} characters",
    ),
    "version": (
        VERSION,
        "letters, digits, '.', '+', '_' and '-', starting with a letter or "
        "digit, at most 128 characters",
    ),
    "flag": (FLAG, "up to 200 characters, no spaces, '/', '\\\\' or '\"'"),
    "filename": (
        FILENAME,
        "a plain file name: letters, digits, '.', '_', '+' and '-', "
        "starting with a letter or digit",
    ),
}

# The longest text a field of each name may hold (characters), wherever it appears in a JSON
# body; other strings are bounded by the body's own limit (api/limits.py).
TEXT_LIMITS: Final = {
    "reason": 2000,
    "title": 500,
    "description": 10_000,
    "message": 10_000,
    "comment": 10_000,
    "summary": 2000,
    "name": 200,
}

# Media types an artifact may be stored and served with; anything else is refused at upload.
# None of them is rendered by a browser as a page (no text/html, image/svg+xml, XML).
MEDIA_TYPES: Final = frozenset(
    {
        "application/octet-stream",
        "application/zip",
        "application/gzip",
        "application/x-gzip",
        "application/x-tar",
        "application/x-bzip2",
        "application/x-xz",
        "application/zstd",
        "application/java-archive",
        "application/vnd.android.package-archive",
        "application/x-executable",
        "application/x-sharedlib",
        "application/vnd.oci.image.layer.v1.tar+gzip",
        "application/json",
        "application/vnd.cyclonedx+json",
        "application/vnd.in-toto+json",
        "text/plain",
    }
)

_CONTROL: Final = re.compile(r"[\x00-\x08\x0a-\x1f\x7f]")
_INTEGER: Final = re.compile(r"[+-]?\d+")


def name_problem(kind: str, value: str) -> str | None:
    """Why ``value`` is not a valid ``kind`` (a key of RULES), or None."""
    pattern, rule = RULES[kind]
    if pattern.fullmatch(value):
        return None
    shown = value[:60].encode("unicode_escape").decode()
    return f"'{shown}' is not a valid {kind}: {rule}"


def control_character(value: str) -> bool:
    """A NUL, a line break or another control character (a tab is allowed)."""
    return bool(_CONTROL.search(value))


def out_of_range_integer(value: str, limit: int = INT64_MAX) -> bool:
    """An integer literal beyond ``limit`` (a 64-bit column's, or a record id's)."""
    return bool(_INTEGER.fullmatch(value.strip())) and abs(int(value)) > limit


def media_type_problem(value: str) -> str | None:
    """Why ``value`` may not be an artifact's media type, or None."""
    base = value.split(";", 1)[0].strip().lower()
    if control_character(value) or base not in MEDIA_TYPES:
        shown = value[:60].encode("unicode_escape").decode()
        return f"media type '{shown}' is not one artifacts may have"
    return None


def text_problem(field: str, value: str) -> str | None:
    """Why a JSON string field is refused: a NUL byte anywhere, or too long for its name."""
    if "\x00" in value:
        return f"'{field}' holds a NUL character"
    limit = TEXT_LIMITS.get(field)
    if limit is not None and len(value) > limit:
        return f"'{field}' is {len(value)} characters, more than {limit}"
    return None


# Where a webhook or chat notification may not be sent unless the operator allows it: the
# host's own link-local range and the cloud metadata services reachable through it, and
# addresses no service listens on. A project admin must not make the server probe them.
_METADATA: Final = ("169.254.169.254/32", "fd00:ec2::254/128", "100.100.100.200/32")


def destination_problem(address: str, allowed: Sequence[str] = ()) -> str | None:
    """Why a notification may not go to ``address`` (an IP), or None.

    ``allowed`` (SHIPYARD_NOTIFY_ALLOWED_NETWORKS) is an allow-list of networks: when given,
    only addresses inside one of them are reached, and any of them may name a range refused
    by default.
    """
    ip = ipaddress.ip_address(address)
    nets = [ipaddress.ip_network(n, strict=False) for n in allowed]
    if any(ip in n for n in nets):
        return None
    if nets:
        return f"{ip} is outside SHIPYARD_NOTIFY_ALLOWED_NETWORKS"
    if any(ip in ipaddress.ip_network(n) for n in _METADATA):
        return f"{ip} is a cloud metadata address"
    if ip.is_link_local:
        return f"{ip} is a link-local address"
    if ip.is_unspecified or ip.is_multicast or ip.is_reserved:
        return f"{ip} is not an address a service listens on"
    return None
