"""The demo's metrics step: sensible lines with and without deployments."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

from shipyard.demo.context import DemoContext
from shipyard.demo.metrics import step_metrics
from shipyard.store.uow import Store
from tests.integration.test_metrics import deploy


def test_demo_step_without_deployments_says_no_data(store: Store, tmp_path: Path) -> None:
    """Before any production deployment every key reads "no data" and nothing fails."""
    lines = step_metrics(DemoContext(root=tmp_path, store=store))
    assert "deployment frequency: no data" in "\n".join(lines)
    assert lines[-1] == "builds: no data"


def test_demo_step_reports_figures_and_level(store: Store, tmp_path: Path) -> None:
    """After a deployment and a rollback the step prints figures with numerators and a level."""
    now = datetime.now(UTC)
    deploy(store, "d1", "checkout", now - timedelta(hours=3), commit_ages_h=(1.0, 2.0))
    deploy(store, "d2", "checkout", now - timedelta(hours=1), status="rolled-back")
    text = "\n".join(step_metrics(DemoContext(root=tmp_path, store=store)))
    assert "change failure rate: 50.0% (1 failed / 2 deployments)" in text
    assert "lead time: 1.5 h (3.0 h / 2 commits)" in text
    assert "overall level: " in text and "no data" not in text.split("overall level: ")[1][:8]
