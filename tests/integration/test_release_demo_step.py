"""The demo's release-coordination step on the bundled sample project."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from shipyard.demo import coordination as coordination_demo
from shipyard.demo import steps as demo


def test_demo_step_shows_freezes_trains_and_a_gate_verdict(tmp_path: Path) -> None:
    """Inside the year-end freeze, inside a weekly night, outside both, the trains, and
    break-glass passing the freeze."""
    ctx = demo.prepare(tmp_path / "d", now=datetime(2026, 12, 6, 15, 0, tzinfo=UTC))
    demo.step_validate(ctx)
    with ctx.store.begin() as uow:
        uow.events.append(
            "artifact.published",
            "artifact:checkout@0.1.0",
            "demo",
            {"digest": "sha256:" + "c" * 64, "commit": "abc", "run_id": None},
            project="checkout",
        )
    lines = coordination_demo.step(ctx)
    assert "frozen by year-end" in lines[0] and "frozen by weekly-maintenance" in lines[1]
    assert lines[2].startswith("production at Wed 2026-11-25 12:00") and lines[2].endswith(
        "not frozen"
    )
    assert any(line.startswith("train-2026-12-07: cut") for line in lines)
    assert any("freeze: FAIL" in line for line in lines)
    assert "freeze overridden" in lines[-2] and "closes it" in lines[-1]
    ctx.store.dispose()
