"""The status page shows the DORA trend as a chart drawn from the event log."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from shipyard.services.coordination import status_page
from shipyard.spec.load import parse_spec
from shipyard.store.uow import Store

SPEC = parse_spec("project: shop\nenvironments:\n  production: {}\n")


def test_status_page_inlines_the_dora_chart(store: Store) -> None:
    """With production deployments in the log, the page carries an inline SVG of the four keys."""
    now = datetime(2026, 11, 25, 12, tzinfo=UTC)
    with store.begin() as uow:
        for i in range(3):
            at = (now - timedelta(days=7 * i + 1)).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
            started = {
                "service": "shop",
                "environment": "production",
                "version": f"1.{i}.0",
                "strategy": "canary",
                "commits": [{"sha": f"c{i}", "time": at}],
            }
            uow.events.append(
                "deployment.started", f"deployment:d{i}", "ci", started, project="shop", ts=at
            )
            finished = {**started, "status": "succeeded", "reason": ""}
            uow.events.append(
                "deployment.finished", f"deployment:d{i}", "ci", finished, project="shop", ts=at
            )
    page = status_page.render(store, SPEC, now)
    assert "Delivery (DORA, production, last 12 weeks)" in page
    chart = page[page.index("<svg") :]
    assert "Deployments per week" in chart and "Change failure rate" in chart
    assert "<?xml" not in page
