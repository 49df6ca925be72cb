"""The two errors of flag handling: a payload that is not Unleash's shape, and well-formed
flags that would not behave as their author meant.

Kept apart because several modules of the package raise them: parsing, the context, the
client API's deltas and validation.
"""

from __future__ import annotations

from shipyard_sdk.errors import InputError


class FlagPayloadInvalid(InputError):
    """A flag payload that is not the Unleash client features or delta shape."""

    code = "flag-payload-invalid"
    default_hint = (
        'send the Unleash /api/client/features shape: {"version": 2, "features": [...], '
        '"segments": [...]}, or delta events {"events": [...]}'
    )


class FlagDefinitionInvalid(InputError):
    """Well-formed flags that would not behave as their author meant; see ``find_problems``."""

    code = "flag-definition-invalid"
    default_hint = "fix the flag definition named in the message and submit it again"
