"""The exact bytes the event log hashes and signs.

An event's leaf is the canonical JSON of all its fields (sorted keys, no spaces, UTF-8), so
editing any column, including the sequence number, changes its hash. Kept apart from the
verification in ``audit`` so that appending an event imports nothing more than this.
"""

from __future__ import annotations

import base64
import json
from enum import Enum
from json.encoder import encode_basestring
from typing import Any


def _default(value: Any) -> Any:
    from datetime import date, datetime  # rare here, and not worth loading for every append

    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, Enum):
        return value.value
    if isinstance(value, set | frozenset | tuple):
        return sorted(value) if isinstance(value, set | frozenset) else list(value)
    raise TypeError(f"{type(value).__name__} is not JSON serialisable")


def canonical_json(value: Any) -> str:
    return json.dumps(
        value,
        sort_keys=True,
        separators=(",", ":"),
        ensure_ascii=False,
        allow_nan=False,
        default=_default,
    )


def event_bytes(
    seq: int, ts: str, project: str, kind: str, subject: str, actor: str, payload: str
) -> bytes:
    """canonical_json of the whole event, built by hand from the stored canonical payload.

    Equal to ``canonical_json({...})`` of the decoded event (a unit test holds it to that) but
    several times faster, which is what lets verification run at hundreds of thousands of
    events a second.
    """
    enc = encode_basestring
    return (
        f'{{"actor":{enc(actor)},"kind":{enc(kind)},"payload":{payload},'
        f'"project":{enc(project)},"seq":{seq},"subject":{enc(subject)},"ts":{enc(ts)}}}'
    ).encode()


def checkpoint_body(origin: str, size: int, root: bytes) -> bytes:
    """A checkpoint in the transparency-log note format: origin, size, base64 root."""
    return f"{origin}\n{size}\n{base64.b64encode(root).decode()}\n".encode()
