"""The demo's flag step on the bundled sample project."""

from __future__ import annotations

from pathlib import Path

from shipyard.demo import flags as flags_demo
from shipyard.demo import steps as demo


def test_demo_step_rolls_a_flag_out_and_flips_it(tmp_path: Path) -> None:
    """10/25/50/100% reach about that share of 1,000 users, buckets hold, off is off; then a
    protected environment refuses a direct toggle and applies an approved change request."""
    ctx = demo.prepare(tmp_path / "d")
    demo.step_validate(ctx)
    lines = flags_demo.step(ctx)
    shares = ctx.facts["flags"]
    assert shares[100] == 1000 and 200 <= shares[25] <= 300 and 60 <= shares[10] <= 140
    assert "each user kept their bucket as the rollout grew" in lines
    assert lines[-3].startswith("flipped off: 0 of 1,000") and "7 flag.changed" in lines[-3]
    with ctx.store.read() as uow:
        assert len(uow.events.query(kind="flag.changed")) == 8  # and the approved change
    assert ctx.facts["change_request"] == {
        "refused": "flag-change-request-required",
        "status": "applied",
        "on": 1000,
    }
    ctx.store.dispose()
