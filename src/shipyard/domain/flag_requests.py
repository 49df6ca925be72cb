"""Change requests for protected environments: who may approve, and when a change may apply.

An environment can require N approvals for flag changes. A change is proposed (a request in
status ``open``), approved by N actors other than its proposer (then ``approved``), and
applied, at once or at its ``apply_at``. It can be rejected by an approver, or cancelled by
its proposer, while it is not applied. Pure: the caller passes the request's facts and the
time.
"""

from __future__ import annotations

from collections.abc import Collection
from datetime import datetime
from typing import Final

ACTIONS: Final = ("enable", "disable", "rollout")
OPEN: Final = "open"
APPROVED: Final = "approved"
APPLIED: Final = "applied"
REJECTED: Final = "rejected"
CANCELLED: Final = "cancelled"
FAILED: Final = "failed"
CLOSED: Final = frozenset({APPLIED, REJECTED, CANCELLED, FAILED})
MAX_APPROVALS: Final = 10


def action_problem(action: str, percentage: int | None) -> str | None:
    """Why ``action`` (with ``percentage``) is not a change a request can carry, or None."""
    if action not in ACTIONS:
        return f"unknown change '{action}': one of {', '.join(ACTIONS)}"
    if action == "rollout" and (percentage is None or not 0 <= percentage <= 100):
        return "a rollout change needs a percentage from 0 to 100"
    if action != "rollout" and percentage is not None:
        return f"'{action}' takes no percentage"
    return None


def approvals_problem(approvals: int) -> str | None:
    """Why ``approvals`` is not a number of approvals an environment can require, or None."""
    if not 0 <= approvals <= MAX_APPROVALS:
        return f"approvals must be 0 (unprotected) to {MAX_APPROVALS}, got {approvals}"
    return None


def approval_refusal(
    status: str, proposer: str, approver: str, approved_by: Collection[str]
) -> tuple[str, str] | None:
    """(code, message) saying why ``approver`` may not approve now, or None when they may.

    Separation of duties: the proposer never approves their own change, and one actor's
    approval counts once.
    """
    if status != OPEN:
        return ("flag-request-not-open", f"the request is {status}, not open")
    if approver == proposer:
        return (
            "flag-request-self-approval",
            f"{approver} proposed this change and cannot approve it",
        )
    if approver in approved_by:
        return ("flag-request-already-approved", f"{approver} has already approved it")
    return None


def status_after_approval(needed: int, approvals: int) -> str:
    return APPROVED if approvals >= needed else OPEN


def apply_refusal(status: str, apply_at: datetime | None, now: datetime) -> tuple[str, str] | None:
    """(code, message) saying why the change may not be applied at ``now``, or None."""
    if status == OPEN:
        return ("flag-request-not-approved", "the request does not have its approvals yet")
    if status != APPROVED:
        return ("flag-request-not-open", f"the request is {status}")
    if apply_at is not None and apply_at > now:
        return (
            "flag-request-scheduled",
            f"the change is scheduled for {apply_at.isoformat()}; it applies then",
        )
    return None


def close_refusal(
    status: str, actor: str, proposer: str, *, cancel: bool
) -> tuple[str, str] | None:
    """Why ``actor`` may not reject (or, ``cancel``, withdraw) the request, or None."""
    if status in CLOSED:
        return ("flag-request-not-open", f"the request is {status}")
    if cancel and actor != proposer:
        return ("flag-request-not-proposer", f"only {proposer}, who proposed it, can cancel it")
    if not cancel and actor == proposer:
        return ("flag-request-self-approval", "the proposer cancels a request, not rejects it")
    return None
