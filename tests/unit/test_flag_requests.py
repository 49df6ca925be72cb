"""Change-request decisions: who may approve, when a change may apply, what a request carries."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from shipyard.domain import flag_requests as rules

NOW = datetime(2026, 3, 2, 12, 0, tzinfo=UTC)
LATER = datetime(2026, 3, 2, 13, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("action", "percentage", "ok"),
    [
        ("enable", None, True),
        ("disable", None, True),
        ("rollout", 0, True),
        ("rollout", 100, True),
        ("rollout", None, False),
        ("rollout", 101, False),
        ("rollout", -1, False),
        ("enable", 50, False),
        ("delete", None, False),
    ],
)
def test_what_a_request_can_carry(action: str, percentage: int | None, ok: bool) -> None:
    """Enable, disable, or a rollout with a percentage from 0 to 100, and nothing else."""
    assert (rules.action_problem(action, percentage) is None) is ok


@pytest.mark.parametrize(
    ("status", "proposer", "approver", "before", "code"),
    [
        ("open", "ann", "bob", [], None),
        ("open", "ann", "ann", [], "flag-request-self-approval"),
        ("open", "ann", "bob", ["bob"], "flag-request-already-approved"),
        ("open", "ann", "cat", ["bob"], None),
        ("approved", "ann", "cat", ["bob"], "flag-request-not-open"),
        ("applied", "ann", "bob", [], "flag-request-not-open"),
        ("rejected", "ann", "bob", [], "flag-request-not-open"),
    ],
)
def test_who_may_approve(
    status: str, proposer: str, approver: str, before: list[str], code: str | None
) -> None:
    """Separation of duties: never the proposer, each approver once, only while open."""
    found = rules.approval_refusal(status, proposer, approver, before)
    assert (found[0] if found else None) == code


@pytest.mark.parametrize(
    ("needed", "count", "status"),
    [(1, 1, "approved"), (2, 1, "open"), (2, 2, "approved"), (2, 3, "approved")],
)
def test_approved_once_enough_approvals(needed: int, count: int, status: str) -> None:
    """A request is approved when its approvals reach what its environment needs."""
    assert rules.status_after_approval(needed, count) == status


@pytest.mark.parametrize(
    ("status", "apply_at", "code"),
    [
        ("approved", None, None),
        ("approved", NOW, None),
        ("approved", LATER, "flag-request-scheduled"),
        ("open", None, "flag-request-not-approved"),
        ("applied", None, "flag-request-not-open"),
        ("failed", None, "flag-request-not-open"),
    ],
)
def test_when_a_change_may_apply(status: str, apply_at: datetime | None, code: str | None) -> None:
    """Only an approved request applies, and a scheduled one not before its time."""
    found = rules.apply_refusal(status, apply_at, NOW)
    assert (found[0] if found else None) == code


@pytest.mark.parametrize(
    ("status", "actor", "cancel", "code"),
    [
        ("open", "ann", True, None),
        ("approved", "ann", True, None),
        ("open", "bob", True, "flag-request-not-proposer"),
        ("open", "bob", False, None),
        ("open", "ann", False, "flag-request-self-approval"),
        ("applied", "ann", True, "flag-request-not-open"),
        ("rejected", "bob", False, "flag-request-not-open"),
    ],
)
def test_who_may_close(status: str, actor: str, cancel: bool, code: str | None) -> None:
    """The proposer cancels, another rejects, and neither once the request is closed."""
    found = rules.close_refusal(status, actor, "ann", cancel=cancel)
    assert (found[0] if found else None) == code


@pytest.mark.parametrize(
    ("approvals", "ok"), [(0, True), (1, True), (10, True), (11, False), (-1, False)]
)
def test_approvals_an_environment_can_require(approvals: int, ok: bool) -> None:
    """From 0 (unprotected) to 10."""
    assert (rules.approvals_problem(approvals) is None) is ok
