"""The Unleash context (who is asking) and how its values read as text.

Separate from the flag model: a context is what the caller hands in on every evaluation, read
from the SDKs' JSON shape, while the model is what the server stores.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Final

from shipyard_sdk.flags.errors import FlagPayloadInvalid
from shipyard_sdk.flags.vocabulary import _STANDARD_FIELDS


@dataclass(slots=True, kw_only=True)
class UnleashContext:
    """Who is asking: the Unleash context. A plain value; evaluation never changes it.

    ``current_time`` may be a ``datetime`` (naive means UTC) or an RFC 3339 string; when it is
    ``None`` date constraints use the ``now`` the caller passes to ``is_enabled``. A property
    that is not text is read as ``from_dict`` reads it (booleans as ``true``/``false``, numbers
    as their decimal text, anything else as absent), so a caller may pass its own mapping.
    """

    user_id: str | None = None
    session_id: str | None = None
    remote_address: str | None = None
    environment: str | None = None
    app_name: str | None = None
    current_time: datetime | str | None = None
    properties: Mapping[str, str | None] | None = None

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> UnleashContext:
        """Read an Unleash context as the SDKs send it (``userId``, ``properties`` ...).

        As the reference engine does: a standard field missing at the top level is taken from
        ``properties``, other top-level keys become properties, booleans read as ``true`` or
        ``false``, numbers as their decimal text, and other values (lists, objects) are ignored.
        """
        if not isinstance(data, Mapping):
            raise FlagPayloadInvalid(
                "context: expected an object",
                hint='send a context such as {"userId": "42", "properties": {"plan": "pro"}}',
            )
        props: dict[str, str] = {}
        raw_props = data.get("properties")
        if isinstance(raw_props, Mapping):
            for key, value in raw_props.items():
                prop = value if type(value) is str else _context_text(value)
                if prop is not None:
                    props[str(key)] = prop
        fields: dict[str, Any] = {}
        for key, value in data.items():
            attribute = _STANDARD_FIELDS.get(key)
            if type(value) is str:
                text: str | None = value
            elif attribute == "current_time" and isinstance(value, datetime):
                fields[attribute] = value
                continue
            else:
                text = _context_text(value)
            if text is None:
                continue
            if attribute is not None:
                fields[attribute] = text
            elif key != "properties":
                props[str(key)] = text  # top-level keys win over the same property
        if props:
            for key, attribute in _STANDARD_FIELDS.items():
                if attribute not in fields and key in props:
                    fields[attribute] = props[key]
        return cls(**fields, properties=props or None)

    def to_dict(self) -> dict[str, Any]:
        """The context in Unleash's JSON shape, leaving out what is unset."""
        out: dict[str, Any] = {}
        for key, attribute in _STANDARD_FIELDS.items():
            value = getattr(self, attribute)
            if value is not None:
                out[key] = value.isoformat() if isinstance(value, datetime) else value
        if self.properties:
            out["properties"] = {k: v for k, v in self.properties.items() if v is not None}
        return out


def _context_text(value: object) -> str | None:
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return str(value)
    if isinstance(value, datetime):
        return value.isoformat()
    return None


def _as_text(value: str | datetime) -> str:
    return value if isinstance(value, str) else value.isoformat()


_EMPTY_CONTEXT: Final = UnleashContext()
