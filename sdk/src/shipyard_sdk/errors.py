"""The root of Shipyard's one exception tree, kept in the SDK so that the flag errors the SDK
raises and the server's errors are one family: every error has a stable kebab-case code, a
message and a hint (``shipyard.errors`` holds the rest of the tree).

The same code appears in CLI output (``error[code]: message``), in the process exit status
(by family, see ``EXIT_CODES``) and in API responses (``{"code", "message", "hint"}``).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

# Exit statuses by family; documented in docs/errors.md.
EXIT_CODES = {
    "ok": 0,
    "error": 1,  # anything not below
    "input": 2,  # bad command-line input or bad shipyard.yaml
    "store": 3,  # state store unreachable or migration failed
    "integrity": 4,  # audit log or artifact verification failed
    "refused": 5,  # a policy refused the action (gate, freeze, lock, permission)
    "not-found": 6,
    "conflict": 7,
}


class ShipyardError(Exception):
    """Base of every error Shipyard raises on purpose."""

    code = "shipyard-error"
    family = "error"
    http_status = 500
    default_hint = ""

    def __init__(
        self,
        message: str,
        hint: str | None = None,
        *,
        code: str | None = None,
        details: Mapping[str, Any] | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint if hint is not None else self.default_hint
        if code is not None:
            self.code = code
        self.details: dict[str, Any] = dict(details) if details else {}

    @property
    def exit_code(self) -> int:
        return EXIT_CODES[self.family]

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"code": self.code, "message": self.message, "hint": self.hint}
        if self.details:
            out["details"] = self.details
        return out

    def __str__(self) -> str:
        return self.message


class InputError(ShipyardError):
    code = "invalid-input"
    family = "input"
    http_status = 422
