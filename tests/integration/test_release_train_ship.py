"""`shipyard train ship`: the train's release candidate promoted through real process targets."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from shipyard.services.compliance import approvals
from shipyard.services.coordination import trains
from shipyard.services.deployments import environments as env_svc
from shipyard.services.releases import release as rel
from shipyard.spec.load import parse_spec
from shipyard.store.uow import Store
from tests import gitrepo
from tests.integration.release_helpers import QUIET, publish

APP = Path(__file__).resolve().parents[2] / "src" / "shipyard" / "demo" / "sample" / "app.py"

SPEC = """
project: shop
config: {FAIL_RATE: 0, GREETING: hello}
environments:
  dev:
    target:
      type: process
      command: "python app.py --port {port}"
      instances: 1
      readiness: {timeout: 5s}
      grace: 1s
    strategy: recreate
  staging:
    promote_from: dev
    strategy: recreate
  production:
    promote_from: staging
    strategy: recreate
    gates: [{approval: {min: 1, not_author: true}}]
release:
  train: {cut: "0 9 * * MON", every_weeks: 2, stabilize: 3d, timezone: Europe/Berlin}
"""


@pytest.fixture
def spec() -> Any:
    return parse_spec(SPEC)


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    root = gitrepo.init(tmp_path / "repo")
    shutil.copy(APP, root / "app.py")
    gitrepo.git(root, "add", "app.py")
    gitrepo.git(root, "commit", "-q", "-m", "feat: the sample app")
    return root


@pytest.fixture
def running(store: Store, spec: Any) -> Iterator[None]:
    yield
    for env in spec.environments:
        env_svc.stop_environment(store, spec, env)


def shipped_events(store: Store) -> list[Any]:
    with store.read() as uow:
        return uow.events.query(project="shop", kind="train.shipped")


def test_ship_stops_at_the_first_refusal_then_carries_on(
    store: Store, spec: Any, repo: Path, running: None
) -> None:
    """The candidate reaches dev and staging, production's approval gate refuses it with the
    reason; after an approval shipping again skips what is live and finishes the train."""
    released = rel.release(store, repo, project="shop", spec=spec, actor="alice@example.com")
    assert released["released"] and released["version"] == "0.1.0"
    cut = trains.cut(store, spec, repo, "rm@example.com", QUIET)
    publish(store, "0.1.0", author="alice@example.com")

    out = trains.ship(store, spec, repo, "alice@example.com", datetime.now(UTC))
    assert out["version"] == "0.1.0" and out["train"] == cut["train"]
    assert [s["status"] for s in out["environments"]] == ["succeeded", "succeeded", "refused"]
    assert out["shipped"] is False and out["stopped_at"] == "production"
    assert out["code"] == "gates-failed"
    assert any(r.startswith("approval:") for r in out["reasons"])
    assert shipped_events(store) == []
    envs = {
        e["environment"]: e["version"] for e in env_svc.environments(store, spec)["environments"]
    }
    assert envs == {"dev": "0.1.0", "staging": "0.1.0", "production": None}

    approvals.approve(store, spec, "production", "0.1.0", "bob@example.com", datetime.now(UTC))
    again = trains.ship(store, spec, repo, "alice@example.com", datetime.now(UTC))
    assert again["shipped"] is True
    assert [s["status"] for s in again["environments"]] == [
        "already-live",
        "already-live",
        "succeeded",
    ]
    [event] = shipped_events(store)
    assert event.subject == f"train:{cut['train']}"
    assert event.payload["version"] == "0.1.0"
    assert event.payload["environments"] == ["dev", "staging", "production"]


def test_ship_without_a_cut_train_or_candidate_is_refused(
    store: Store, spec: Any, repo: Path
) -> None:
    from shipyard.errors import InputError, NotFound

    with pytest.raises(NotFound) as no_train:
        trains.ship(store, spec, repo, "alice@example.com", QUIET)
    assert no_train.value.code == "train-not-cut"
    trains.cut(store, spec, repo, "rm@example.com", QUIET)  # nothing released on the branch
    with pytest.raises(InputError) as no_rc:
        trains.ship(store, spec, repo, "alice@example.com", QUIET)
    assert no_rc.value.code == "candidate-missing"


def test_promotion_order_follows_promote_from() -> None:
    spec = parse_spec(
        "project: p\nenvironments:\n  production: {promote_from: staging}\n"
        "  staging: {promote_from: dev}\n  dev: {}\n"
    )
    assert trains.promotion_order(spec) == ["dev", "staging", "production"]
