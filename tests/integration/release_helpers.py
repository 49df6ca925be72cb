"""Shared setup for the release-coordination tests: a spec and events other capabilities write."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from shipyard.spec.load import parse_spec
from shipyard.store.uow import Store

SPEC = """\
project: shop
environments:
  dev: {}
  staging:
    promote_from: dev
    gates: [tests]
  production:
    promote_from: staging
    gates:
      - tests
      - vulnerabilities
      - {approval: {min: 1, not_author: true}}
      - freeze
      - lock
      - {soak: 1h}
release:
  train: {cut: "0 9 * * MON", every_weeks: 2, stabilize: 3d, timezone: Europe/Berlin}
  freezes:
    - {name: year-end, start: 2026-12-20, end: 2027-01-04}
    - {name: weekends, start_cron: "0 18 * * FRI", end_cron: "0 8 * * MON", timezone: Europe/Berlin}
"""

# A Wednesday morning in November: no freeze in force.
QUIET = datetime(2026, 11, 25, 10, 0, tzinfo=UTC)
# Christmas Eve: inside the year-end freeze.
XMAS = datetime(2026, 12, 24, 12, 0, tzinfo=UTC)


def spec(text: str = SPEC) -> Any:
    return parse_spec(text)


def publish(
    store: Store,
    version: str,
    *,
    digest: str = "sha256:" + "a" * 64,
    author: str = "alice@example.com",
    run_status: str = "success",
    sbom: Any = None,
) -> None:
    """What the pipeline and artifact services record for a built version."""
    run_id = f"r-{version}-{digest[-4:]}"
    with store.begin() as uow:
        uow.events.append(
            "run.started",
            f"run:{run_id}",
            author,
            {"commit": "c0ffee", "jobs": ["test"]},
            project="shop",
        )
        uow.events.append(
            "step.finished",
            f"run:{run_id}",
            author,
            {"job": "test", "status": "success" if run_status == "success" else "failure"},
            project="shop",
        )
        uow.events.append(
            "run.finished", f"run:{run_id}", author, {"status": run_status}, project="shop"
        )
        payload: dict[str, Any] = {"digest": digest, "commit": "c0ffee", "run_id": run_id}
        if sbom is not None:
            payload["sbom"] = sbom
        uow.events.append(
            "artifact.published", f"artifact:shop@{version}", author, payload, project="shop"
        )


def deployed(store: Store, env: str, version: str, at: datetime) -> None:
    """What the deploy service records when a rollout succeeds."""
    with store.begin() as uow:
        uow.events.append(
            "deployment.finished",
            "deployment:d1",
            "deployer@example.com",
            {"service": "shop", "environment": env, "version": version, "status": "succeeded"},
            project="shop",
            ts=at.strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
        )


def kinds(store: Store, prefix: str) -> list[str]:
    with store.read() as uow:
        return [e.kind for e in uow.events.query(kind=prefix + "*")]
