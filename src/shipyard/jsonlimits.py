"""Bounds on JSON read from outside (API request bodies, `flags import` files), as on YAML.

Python's parser stops at about a thousand levels of nesting with a RecursionError; long before
that a document this deep is no request Shipyard takes. Both bounds are checked on the bytes,
before anything is parsed.
"""

from __future__ import annotations

import re

from shipyard.errors import InputError

MAX_JSON_BYTES = 4 * 1024 * 1024
MAX_JSON_DEPTH = 64

_STRINGS = re.compile(rb'"(?:[^"\\]|\\.)*"')
_NOT_BRACKETS = bytes(b for b in range(256) if b not in b"[]{}")
_OPEN = frozenset(b"[{")


class JsonTooComplex(InputError):
    code = "json-too-complex"
    default_hint = (
        f"JSON documents are at most {MAX_JSON_BYTES // (1024 * 1024)} MiB "
        f"and {MAX_JSON_DEPTH} levels deep"
    )


def check_size(size: int, what: str = "the JSON document") -> None:
    if size > MAX_JSON_BYTES:
        error = JsonTooComplex(f"{what} is {size:,} bytes, over the limit of {MAX_JSON_BYTES:,}")
        error.http_status = 413  # Content Too Large
        raise error


def depth(body: bytes) -> int:
    """How deep arrays and objects nest in ``body``, up to one past ``MAX_JSON_DEPTH``.

    Brackets inside strings do not count; the scan stops once the bound is passed.
    """
    brackets = _STRINGS.sub(b"", body).translate(None, _NOT_BRACKETS)
    level = deepest = 0
    for b in brackets:
        if b in _OPEN:
            level += 1
            if level > deepest:
                deepest = level
                if deepest > MAX_JSON_DEPTH:
                    break
        else:
            level -= 1
    return deepest


def check(body: bytes, what: str = "the JSON document") -> None:
    """Refuse ``body`` past either bound with ``json-too-complex``."""
    check_size(len(body), what)
    if depth(body) > MAX_JSON_DEPTH:
        raise JsonTooComplex(f"{what} nests over {MAX_JSON_DEPTH} levels deep")
