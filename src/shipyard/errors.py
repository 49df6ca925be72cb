"""One exception tree. Every error has a stable kebab-case code, a message and a hint.

The same code appears in CLI output (``error[code]: message``), in the process exit status
(by family, see ``EXIT_CODES``) and in API responses (``{"code", "message", "hint"}``).
"""

from __future__ import annotations

from typing import Any

# The root of the tree lives in the SDK, which raises flag errors of the same family.
from shipyard_sdk.errors import EXIT_CODES as EXIT_CODES
from shipyard_sdk.errors import InputError as InputError
from shipyard_sdk.errors import ShipyardError as ShipyardError


class SpecError(InputError):
    """A problem in shipyard.yaml; ``location`` is ``file:line:column`` when known."""

    code = "spec-invalid"

    def __init__(
        self,
        message: str,
        hint: str | None = None,
        *,
        code: str | None = None,
        file: str | None = None,
        line: int | None = None,
        column: int | None = None,
        details: dict[str, Any] | None = None,
    ) -> None:
        self.file, self.line, self.column = file, line, column
        details = dict(details or {})
        if file is not None:
            details.update(file=file, line=line, column=column)
        super().__init__(message, hint, code=code, details=details)

    @property
    def location(self) -> str:
        if self.file is None:
            return ""
        if self.line is None:
            return self.file
        return f"{self.file}:{self.line}:{self.column or 1}"

    def __str__(self) -> str:
        return f"{self.location}: {self.message}" if self.location else self.message


class SpecProblems(SpecError):
    """Several problems found in one file, in file order. It reads as the first of them (code,
    position, message, hint) and lists them all in ``problems`` and in ``details``."""

    def __init__(self, problems: list[SpecError]) -> None:
        first = problems[0]
        self.problems = problems
        super().__init__(
            first.message,
            first.hint,
            code=first.code,
            file=first.file,
            line=first.line,
            column=first.column,
            details={**first.details, "problems": [p.to_dict() for p in problems]},
        )


class SpecNotFound(InputError):
    code = "spec-not-found"
    default_hint = "run `shipyard init` to create shipyard.yaml, or pass --file"


class StoreError(ShipyardError):
    code = "store-error"
    family = "store"
    http_status = 503


class DatabaseUnreachable(StoreError):
    code = "database-unreachable"
    default_hint = "check SHIPYARD_DATABASE_URL and that the database server is running"


class IntegrityFailure(ShipyardError):
    code = "integrity-failure"
    family = "integrity"
    http_status = 409


class AuditTampered(IntegrityFailure):
    code = "audit-tampered"
    default_hint = (
        "the event log no longer matches its hashes; restore the database from a backup "
        "and compare with `shipyard audit log`"
    )


class Refused(ShipyardError):
    code = "refused"
    family = "refused"
    http_status = 409


class Unauthenticated(Refused):
    code = "unauthenticated"
    http_status = 401
    default_hint = "send `Authorization: Bearer <token>`; create one with `shipyard token create`"


class Forbidden(Refused):
    code = "forbidden"
    http_status = 403


class RateLimited(Refused):
    """Too many requests from one client; ``details["retry_after_s"]`` says when to retry."""

    code = "rate-limited"
    http_status = 429
    default_hint = "wait a few seconds before asking again"


class NotFound(ShipyardError):
    code = "not-found"
    family = "not-found"
    http_status = 404


class Conflict(ShipyardError):
    code = "conflict"
    family = "conflict"
    http_status = 409
