"""Freezes added at runtime, freeze status, deploy locks and trains, on a real store."""

from __future__ import annotations

import subprocess
from datetime import timedelta
from pathlib import Path

import pytest

from shipyard.errors import Conflict, InputError, NotFound, Refused, ShipyardError
from shipyard.services.coordination import freezes, locks, trains
from shipyard.store.uow import Store
from tests.integration.release_helpers import QUIET, XMAS, kinds, spec


def test_runtime_freeze_is_listed_applies_and_is_removed(store: Store) -> None:
    """An added window shows in the list, freezes its environment, and removal lifts it."""
    s = spec()
    freezes.add(
        store,
        s,
        {
            "name": "launch",
            "start": "2026-11-25T08:00Z",
            "end": "2026-11-25T18:00Z",
            "environments": ["production"],
            "reason": "launch day",
        },
        "ops@example.com",
    )
    names = [f["name"] for f in freezes.list_freezes(store, s, QUIET)["freezes"]]
    assert names == ["year-end", "weekends", "launch"]
    assert freezes.status(store, s, QUIET, "production")["window"] == "launch"
    assert not freezes.status(store, s, QUIET, "staging")["frozen"]
    freezes.remove(store, s, "launch", "ops@example.com")
    assert not freezes.status(store, s, QUIET, "production")["frozen"]
    assert kinds(store, "freeze.") == ["freeze.added", "freeze.removed"]


def test_freeze_status_names_the_window_and_when_it_ends(store: Store) -> None:
    """Inside a recurring window the status says which and until when, in its time zone."""
    saturday = QUIET + timedelta(days=3)
    out = freezes.status(store, spec(), saturday, "production")
    assert out["message"] == "frozen by weekends until Monday 2026-11-30 08:00 Europe/Berlin"
    assert freezes.status(store, spec(), XMAS)["window"] == "year-end"


def test_a_freeze_that_never_lifts_says_so(store: Store) -> None:
    """A window whose end is also its next start is frozen with no end, said as such (not a
    time years ahead that is still frozen)."""
    s = spec()
    endless = {"name": "endless", "start_cron": "0 2 * * *", "end_cron": "0 2 * * MON"}
    freezes.add(store, s, {**endless, "environments": ["staging"]}, "ops@example.com")
    out = freezes.status(store, s, QUIET, "staging")
    assert out["frozen"] and out["window"] == "endless" and out["until"] is None
    assert out["message"] == "frozen by endless, with no end: its stretches leave no gap"


@pytest.mark.parametrize(
    ("definition", "code"),
    [
        ({"name": "x", "start_cron": "0 25 * * *", "end_cron": "0 8 * * MON"}, "cron-invalid"),
        ({"name": "x", "start": "2026-12-10", "end": "2026-12-01"}, "freeze-invalid"),
        (
            {"name": "x", "start": "2026-12-10", "end": "2026-12-11", "timezone": "Mars/Base"},
            "timezone-unknown",
        ),
        ({"name": "", "start": "2026-12-10", "end": "2026-12-11"}, "freeze-invalid"),
        ({"name": "year-end", "start": "2026-12-10", "end": "2026-12-11"}, "freeze-exists"),
    ],
)
def test_bad_freezes_are_refused_with_a_code(store: Store, definition: dict, code: str) -> None:
    """A cron that does not parse, an end before the start, an unknown zone or a taken name fail."""
    with pytest.raises(ShipyardError) as err:
        freezes.add(store, spec(), definition, "ops")
    assert err.value.code == code and err.value.hint
    assert kinds(store, "freeze.") == []


def test_removing_spec_or_unknown_freezes_fails(store: Store) -> None:
    """Windows from shipyard.yaml are edited there; unknown names are not found."""
    with pytest.raises(InputError) as in_spec:
        freezes.remove(store, spec(), "year-end", "ops")
    assert in_spec.value.code == "freeze-in-spec"
    with pytest.raises(NotFound) as missing:
        freezes.remove(store, spec(), "nope", "ops")
    assert missing.value.code == "freeze-not-found"


def test_calendar_export_holds_trains_and_freezes(store: Store) -> None:
    """The iCalendar file has the year-end freeze as all-day dates and train milestones."""
    text = freezes.ical(store, spec(), QUIET, weeks=8)
    assert text.startswith("BEGIN:VCALENDAR\r\n")
    assert "DTSTART;VALUE=DATE:20261220" in text
    assert "SUMMARY:train-2026-12-07: cut" in text


def test_lock_blocks_others_until_its_holder_unlocks(store: Store) -> None:
    """A held lock refuses another holder; only the holder (or --force) releases it."""
    s = spec()
    locks.lock(store, s, "production", "bob", "db migration", QUIET)
    with pytest.raises(Conflict) as held:
        locks.lock(store, s, "production", "carol", "mine", QUIET)
    assert held.value.code == "lock-held" and "bob" in held.value.message
    with pytest.raises(Refused) as not_yours:
        locks.unlock(store, s, "production", "carol", QUIET)
    assert not_yours.value.code == "lock-not-yours"
    locks.unlock(store, s, "production", "carol", QUIET, force=True)
    assert locks.current(store, "shop", "production", QUIET) is None
    assert kinds(store, "lock.") == ["lock.acquired", "lock.released"]


def test_expired_lock_no_longer_holds(store: Store) -> None:
    """A lock with a TTL stops blocking once it expires."""
    s = spec()
    locks.lock(store, s, "production", "bob", "hotfix", QUIET, timedelta(hours=2))
    later = QUIET + timedelta(hours=3)
    assert locks.current(store, "shop", "production", later) is None
    locks.lock(store, s, "production", "carol", "next", later)


def test_lock_input_errors(store: Store) -> None:
    """No reason, an unknown environment and unlocking an open environment fail with codes."""
    s = spec()
    with pytest.raises(InputError) as no_reason:
        locks.lock(store, s, "production", "bob", "  ", QUIET)
    assert no_reason.value.code == "lock-reason-missing"
    with pytest.raises(NotFound) as unknown:
        locks.lock(store, s, "prod", "bob", "x", QUIET)
    assert unknown.value.code == "environment-unknown" and "production" in unknown.value.hint
    with pytest.raises(NotFound) as open_env:
        locks.unlock(store, s, "staging", "bob", QUIET)
    assert open_env.value.code == "lock-not-found"


def _git_repo(path: Path) -> None:
    path.mkdir()
    env_cmds = [
        ["git", "init", "-q", "-b", "main"],
        [
            "git",
            "-c",
            "user.email=a@x",
            "-c",
            "user.name=a",
            "commit",
            "-q",
            "--allow-empty",
            "-m",
            "feat: start",
        ],
    ]
    for cmd in env_cmds:
        subprocess.run(cmd, cwd=path, check=True, capture_output=True)


def test_train_cut_creates_the_branch_and_status_shows_it(store: Store, tmp_path: Path) -> None:
    """Cutting creates release/<train> with plain git, records train.cut, and status knows."""
    repo = tmp_path / "repo"
    _git_repo(repo)
    s = spec()
    before = trains.status(store, s, QUIET)
    assert before["current"]["name"] == "train-2026-11-23"
    assert any("not cut" in b for b in before["blocked_by"])
    out = trains.cut(store, s, repo, "rm@example.com", QUIET)
    assert out["branch"] == "release/train-2026-11-23"
    branches = subprocess.run(
        ["git", "branch", "--list", "release/*"], cwd=repo, capture_output=True, text=True
    ).stdout
    assert "release/train-2026-11-23" in branches
    after = trains.status(store, s, QUIET)
    assert after["current"]["cut_done"] and not any("not cut" in b for b in after["blocked_by"])
    assert kinds(store, "train.") == ["train.cut"]


def test_train_cut_outside_a_repository_fails_and_records_nothing(
    store: Store, tmp_path: Path
) -> None:
    """Without a git repository the cut fails with a code and no event is written."""
    with pytest.raises(ShipyardError) as err:
        trains.cut(store, spec(), tmp_path, "rm", QUIET)
    assert err.value.code == "not-a-git-repo" or err.value.code.startswith("git")
    assert kinds(store, "train.") == []


def test_train_commands_need_a_train_schedule(store: Store) -> None:
    """A spec without release.train says how to add one."""
    with pytest.raises(InputError) as err:
        trains.status(store, spec("project: shop\n"), QUIET)
    assert err.value.code == "train-not-configured"
