"""`shipyard flags schedule ...` as a user runs it: the real command, embedded store."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

from shipyard.services.flags import flag_schedules
from shipyard.settings import Settings
from shipyard.store.uow import Store
from tests.e2e.helpers import as_json, shipyard

SPEC = "project: shop\nenvironments:\n  dev: {}\n"


def test_schedule_list_cancel_and_apply(tmp_path: Path) -> None:
    """Schedules made, listed and cancelled by command; apply-schedules applies only what is due."""
    (tmp_path / "shipyard.yaml").write_text(SPEC)
    assert shipyard("flags", "create", "beta", "--env", "dev", cwd=tmp_path).returncode == 0
    steps = shipyard(
        "flags",
        "schedule",
        "beta",
        "--env",
        "dev",
        "--steps",
        "10@+1h,50@+2h",
        "--json",
        cwd=tmp_path,
    )
    assert steps.returncode == 0, steps.stderr
    ids = [s["id"] for s in as_json(steps)["schedules"]]
    on = shipyard(
        "flags", "schedule", "beta", "--env", "dev", "--enable", "--at", "+3h", cwd=tmp_path
    )
    assert on.returncode == 0 and "enable" in on.stdout
    past = shipyard(
        "flags",
        "schedule",
        "beta",
        "--env",
        "dev",
        "--disable",
        "--at",
        "2020-01-01T00:00Z",
        cwd=tmp_path,
    )
    assert past.returncode == 2 and "schedule-in-past" in past.stderr + past.stdout
    assert shipyard("flags", "schedule-cancel", str(ids[1]), cwd=tmp_path).returncode == 0
    listed = as_json(shipyard("flags", "schedules", "--env", "dev", "--json", cwd=tmp_path))
    assert [s["status"] for s in listed["schedules"]] == ["pending", "cancelled", "pending"]
    # A schedule that came due while nothing ran: made with a "now" two hours ago.
    store = Store.open(Settings.load(tmp_path))
    ago = datetime.now(UTC) - timedelta(hours=2)
    flag_schedules.schedule(store, "shop", "dev", "beta", "enable", "+1h", actor="ci", now=ago)
    store.dispose()
    applied = as_json(shipyard("flags", "apply-schedules", "--json", cwd=tmp_path))["applied"]
    assert [(a["action"], a["created_by"]) for a in applied] == [("enable", "ci")]
    again = as_json(shipyard("flags", "apply-schedules", "--json", cwd=tmp_path))["applied"]
    assert again == []
    flag = as_json(shipyard("flags", "list", "--env", "dev", "--json", cwd=tmp_path))["flags"][0]
    assert (flag["enabled"], flag["rollout"]) == (True, 100)
