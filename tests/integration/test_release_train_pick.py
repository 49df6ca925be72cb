"""`shipyard train pick`: cherry-picks onto a cut train's branch under the approval rule."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from shipyard.errors import Conflict, Refused
from shipyard.services.coordination import trains
from shipyard.spec.load import parse_spec
from shipyard.store.uow import Store
from tests import gitrepo

SPEC = """
project: shop
environments: {dev: {}}
release:
  train: {cut: "0 9 * * MON", every_weeks: 2, stabilize: 3d, timezone: Europe/Berlin}
"""
CUT = datetime(2026, 11, 23, 8, 0, tzinfo=UTC)  # train-2026-11-23's scheduled cut
SHIP = datetime(2026, 11, 26, 8, 0, tzinfo=UTC)  # three days of stabilisation later
AUTHOR = "author@example.invalid"  # what tests/gitrepo.py commits as


@pytest.fixture
def spec() -> Any:
    return parse_spec(SPEC)


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    root = gitrepo.init(tmp_path / "repo")
    gitrepo.commit(root, "feat: the base", {"app.txt": "one\n"})
    return root


def branch_log(root: Path, branch: str) -> list[str]:
    return gitrepo.git(root, "log", "--format=%s", branch).splitlines()


def test_a_fix_needs_an_approval_by_someone_else_then_lands_on_the_branch(
    store: Store, spec: Any, repo: Path
) -> None:
    cut = trains.cut(store, spec, repo, "rm@example.com", CUT)
    assert cut["train"] == "train-2026-11-23" and cut["ship"].startswith("2026-11-26T08:00")
    fix = gitrepo.commit(repo, "fix: a crash on empty carts", {"fix.txt": "fixed\n"})
    main_head = gitrepo.git(repo, "rev-parse", "HEAD")
    early = SHIP - timedelta(hours=60)

    with pytest.raises(Refused) as refused:
        trains.pick(store, spec, repo, fix[:10], "rm@example.com", early)
    assert refused.value.code == "pick-approval-required"
    assert "needs 1 approval" in refused.value.message
    assert branch_log(repo, cut["branch"]) == ["feat: the base"]

    with pytest.raises(Refused) as own:
        trains.approve_pick(store, spec, repo, fix, AUTHOR, early)
    assert own.value.code == "self-approval"

    approved = trains.approve_pick(store, spec, repo, fix, "bob@example.com", early)
    assert approved["approved_by"] == ["bob@example.com"] and approved["approvals_needed"] == 1
    with pytest.raises(Conflict):
        trains.approve_pick(store, spec, repo, fix, "bob@example.com", early)

    out = trains.pick(store, spec, repo, fix[:10], "rm@example.com", early)
    assert out["picked"] and out["kind"] == "fix" and out["reason"] == "stabilising: one approval"
    assert branch_log(repo, cut["branch"]) == ["fix: a crash on empty carts", "feat: the base"]
    body = gitrepo.git(repo, "log", "-1", "--format=%B", cut["branch"])
    assert f"(cherry picked from commit {fix})" in body
    # The user's checkout is untouched: still main, at the same commit, no stray work tree.
    assert gitrepo.git(repo, "rev-parse", "--abbrev-ref", "HEAD") == "main"
    assert gitrepo.git(repo, "rev-parse", "HEAD") == main_head
    assert len(gitrepo.git(repo, "worktree", "list").splitlines()) == 1

    with pytest.raises(Conflict) as again:
        trains.pick(store, spec, repo, fix, "rm@example.com", early)
    assert again.value.code == "already-picked"
    with store.read() as uow:
        [event] = uow.events.query(project="shop", kind="train.picked")
    assert event.payload["sha"] == fix and event.payload["approved_by"] == ["bob@example.com"]
    assert event.payload["commit"] == gitrepo.git(repo, "rev-parse", cut["branch"])


def test_the_rule_gets_stricter_as_ship_day_nears(store: Store, spec: Any, repo: Path) -> None:
    trains.cut(store, spec, repo, "rm@example.com", CUT)
    feat = gitrepo.commit(repo, "feat: a new checkout", {"feat.txt": "new\n"})
    late_fix = gitrepo.commit(repo, "fix: rounding", {"round.txt": "ok\n"})
    last_day_fix = gitrepo.commit(repo, "fix: typo", {"typo.txt": "ok\n"})
    security = gitrepo.commit(repo, "security: escape the search box", {"sec.txt": "ok\n"})

    with pytest.raises(Refused) as feature:
        trains.pick(store, spec, repo, feat, "rm@example.com", SHIP - timedelta(hours=60))
    assert feature.value.code == "pick-refused" and feature.value.details["rides"] == "next"

    late = SHIP - timedelta(hours=30)
    trains.approve_pick(store, spec, repo, late_fix, "bob@example.com", late)
    with pytest.raises(Refused) as one:
        trains.pick(store, spec, repo, late_fix, "rm@example.com", late)
    assert one.value.code == "pick-approval-required"
    assert one.value.details["approvals_needed"] == 2
    trains.approve_pick(store, spec, repo, late_fix, "carol@example.com", late)
    assert trains.pick(store, spec, repo, late_fix, "rm@example.com", late)["picked"]

    last_day = SHIP - timedelta(hours=2)
    trains.approve_pick(store, spec, repo, last_day_fix, "bob@example.com", last_day)
    trains.approve_pick(store, spec, repo, last_day_fix, "carol@example.com", last_day)
    with pytest.raises(Refused) as closed:
        trains.pick(store, spec, repo, last_day_fix, "rm@example.com", last_day)
    assert closed.value.code == "pick-refused" and "last day" in closed.value.message

    for who in ("bob@example.com", "carol@example.com"):
        trains.approve_pick(store, spec, repo, security, who, last_day)
    assert trains.pick(store, spec, repo, security, "rm@example.com", last_day)["picked"]
    branch = f"release/{trains.status(store, spec, CUT)['current']['name']}"
    assert branch_log(repo, branch) == [
        "security: escape the search box",
        "fix: rounding",
        "feat: the base",
    ]

    with pytest.raises(Refused) as shipped:
        trains.pick(store, spec, repo, last_day_fix, "rm@example.com", SHIP)
    assert shipped.value.code == "pick-refused" and "shipped" in shipped.value.message


def test_a_pick_that_conflicts_changes_nothing(store: Store, spec: Any, repo: Path) -> None:
    cut = trains.cut(store, spec, repo, "rm@example.com", CUT)
    gitrepo.commit(repo, "chore: rewrite", {"app.txt": "two\n"})
    clash = gitrepo.commit(repo, "fix: app text", {"app.txt": "three\n"})
    early = SHIP - timedelta(hours=60)
    trains.approve_pick(store, spec, repo, clash, "bob@example.com", early)
    with pytest.raises(Conflict) as conflict:
        trains.pick(store, spec, repo, clash, "rm@example.com", early)
    assert conflict.value.code == "pick-conflict"
    assert branch_log(repo, cut["branch"]) == ["feat: the base"]
    assert len(gitrepo.git(repo, "worktree", "list").splitlines()) == 1
    with store.read() as uow:
        assert uow.events.query(project="shop", kind="train.picked") == []
