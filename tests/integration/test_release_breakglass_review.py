"""The follow-up review every approved break-glass opens: listed by `train status` until it is
done, and a reviewed grant overrides nothing any more."""

from __future__ import annotations

from datetime import timedelta

import pytest

from shipyard.errors import Conflict, InputError
from shipyard.services.compliance import approvals, gates
from shipyard.services.coordination import breakglass, trains
from shipyard.store.uow import Store
from tests.integration.release_helpers import XMAS, deployed, publish, spec


def _grant(store: Store, approve: bool = True) -> str:
    bg = breakglass.request(
        store, spec(), None, "payments down", ["freeze"], timedelta(hours=1), "dave", XMAS,
        incident="INC-7",
    )  # fmt: skip
    if approve:
        breakglass.approve(store, spec(), bg["id"], "erin", XMAS)
    return str(bg["id"])


def test_train_status_lists_the_review_until_it_is_done(store: Store) -> None:
    """A pending request opens no review; an approved one is listed (and blocks) until reviewed."""
    pending = _grant(store, approve=False)
    assert trains.status(store, spec(), XMAS)["reviews_due"] == []
    approved = _grant(store)
    status = trains.status(store, spec(), XMAS)
    [due] = status["reviews_due"]
    assert due["id"] == approved and due["environment"] == "production"
    assert due["approved_by"] == "erin" and due["incident"] == "INC-7"
    assert any(approved in b and "follow-up review" in b for b in status["blocked_by"])
    breakglass.review(store, spec(), approved, "frank", "postmortem PM-3")
    after = trains.status(store, spec(), XMAS)
    assert after["reviews_due"] == [] and not any(approved in b for b in after["blocked_by"])
    assert pending not in str(after)


def _freeze_gate(store: Store) -> object:
    verdict = gates.check(store, spec(), "production", "1.2.0", "dave", XMAS)
    return next(g for g in verdict.gates if g.name == "freeze")


def test_a_reviewed_grant_overrides_nothing(store: Store) -> None:
    """Inside its time box the grant passes the freeze; once reviewed, the freeze blocks again."""
    publish(store, "1.2.0")
    deployed(store, "staging", "1.2.0", XMAS - timedelta(hours=2))
    approvals.approve(store, spec(), "production", "1.2.0", "carol", XMAS)
    bg = _grant(store)
    before = _freeze_gate(store)
    assert before.passed and before.overridden is not None  # type: ignore[attr-defined]
    breakglass.review(store, spec(), bg, "frank", "postmortem PM-3")
    after = _freeze_gate(store)
    assert not after.passed and "year-end" in after.reason  # type: ignore[attr-defined]


def test_review_errors(store: Store) -> None:
    """No notes, a grant never approved, and a second review are each refused."""
    approved = _grant(store)
    with pytest.raises(InputError) as notes:
        breakglass.review(store, spec(), approved, "frank", "  ")
    assert notes.value.code == "notes-missing"
    with pytest.raises(Conflict) as unapproved:
        breakglass.review(store, spec(), _grant(store, approve=False), "frank", "n")
    assert unapproved.value.code == "break-glass-not-approved"
    breakglass.review(store, spec(), approved, "frank", "done")
    with pytest.raises(Conflict) as twice:
        breakglass.review(store, spec(), approved, "frank", "again")
    assert twice.value.code == "break-glass-reviewed"
