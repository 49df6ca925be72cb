"""`shipyard hotfix start|finish`: a patch release from a release tag, counted as the repair of
the production deployment live when it started."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from shipyard.domain.versioning import MaintenanceBumpRefused
from shipyard.errors import Conflict, InputError, NotFound
from shipyard.services.coordination import hotfix
from shipyard.services.metrics import metrics
from shipyard.services.releases import release as rel
from shipyard.spec.load import parse_spec
from shipyard.store.uow import Store
from tests import gitrepo

SPEC = """
project: shop
environments:
  dev: {}
  staging: {promote_from: dev}
  production: {promote_from: staging}
"""


@pytest.fixture
def spec() -> Any:
    return parse_spec(SPEC)


@pytest.fixture
def repo(tmp_path: Path, store: Store, spec: Any) -> Path:
    """main with releases 0.1.0 and 0.2.0, then unreleased work on main."""
    root = gitrepo.init(tmp_path / "repo")
    for message in ("feat: carts", "feat: payments"):
        gitrepo.commit(root, message)
        assert rel.release(store, root, project="shop", spec=spec, actor="rm@example.com")[
            "released"
        ]
    gitrepo.commit(root, "feat: unfinished search")
    return root


def production_deploy(store: Store, deployment_id: str, version: str, at: datetime) -> None:
    with store.begin() as uow:
        uow.events.append(
            "deployment.finished",
            f"deployment:{deployment_id}",
            "deployer@example.com",
            {
                "service": "shop",
                "environment": "production",
                "version": version,
                "status": "succeeded",
            },
            project="shop",
            ts=at.strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
        )


def events(store: Store, kind: str) -> list[Any]:
    with store.read() as uow:
        return uow.events.query(project="shop", kind=kind)


def test_hotfix_releases_a_patch_from_the_tag_and_counts_as_a_change_failure(
    store: Store, spec: Any, repo: Path
) -> None:
    now = datetime.now(UTC)
    production_deploy(store, "d-old", "0.1.0", now - timedelta(days=2))
    production_deploy(store, "d-live", "0.2.0", now - timedelta(hours=3))

    started = hotfix.start(store, spec, repo, "0.2.0", "alice@example.com", now)
    assert started["branch"] == "hotfix/0.2.0" and started["tag"] == "v0.2.0"
    assert started["deployment_id"] == "d-live" and started["live_version"] == "0.2.0"
    assert gitrepo.git(repo, "rev-parse", "--abbrev-ref", "HEAD") == "hotfix/0.2.0"
    assert gitrepo.git(repo, "rev-parse", "HEAD") == gitrepo.git(repo, "rev-parse", "v0.2.0^{}")
    with pytest.raises(Conflict) as twice:
        hotfix.start(store, spec, repo, "0.2.0", "alice@example.com", now)
    assert twice.value.code == "hotfix-exists"

    gitrepo.commit(repo, "fix: payments time out")
    done = hotfix.finish(store, spec, repo, "alice@example.com", now)
    assert done["released"] == "0.2.1" and done["tag"] == "v0.2.1"
    assert done["deployment_id"] == "d-live" and done["branch"] == "hotfix/0.2.0"
    # The tag is on the hotfix branch; main's unreleased feature is not in it.
    log = gitrepo.git(repo, "log", "--format=%s", "v0.2.1").splitlines()
    assert "fix: payments time out" in log and "feat: unfinished search" not in log
    [created] = [e for e in events(store, "release.created") if e.payload["version"] == "0.2.1"]
    assert created.payload["branch"] == "hotfix/0.2.0" and created.payload["previous"] == "0.2.0"
    assert [e.kind for e in events(store, "hotfix.*")] == ["hotfix.started", "hotfix.finished"]
    with pytest.raises(Conflict) as again:
        hotfix.finish(store, spec, repo, "alice@example.com", now)
    assert again.value.code == "hotfix-finished"

    for engine in ("sql", "python"):
        report = metrics.dora_report(store, project="shop", engine=engine, now=now)  # type: ignore[arg-type]
        cfr = report["figures"]["change_failure_rate"]
        assert (cfr["numerator"], cfr["denominator"]) == (1, 2), engine
    sql = metrics.dora_report(store, project="shop", engine="sql", now=now)
    assert sql["evidence"]["change_failures"] == [{"deployment": "d-live", "why": "hotfix"}]


def test_a_hotfix_takes_patches_only(store: Store, spec: Any, repo: Path) -> None:
    now = datetime.now(UTC)
    started = hotfix.start(store, spec, repo, "v0.1.0", "alice@example.com", now)
    assert started["deployment_id"] is None  # nothing was live in production
    gitrepo.commit(repo, "feat: a feature sneaking into a hotfix")
    with pytest.raises(MaintenanceBumpRefused) as refused:
        hotfix.finish(store, spec, repo, "alice@example.com", now)
    assert "patch" in refused.value.message
    assert not gitrepo.git(repo, "tag", "-l", "v0.1.1")
    gitrepo.git(repo, "reset", "-q", "--hard", "HEAD~1")
    gitrepo.commit(repo, "fix: carts lose items")
    gitrepo.git(repo, "checkout", "-q", "main")
    # Finishing by version checks the branch out; 0.1.1 is free, so it is the next patch.
    assert (
        hotfix.finish(store, spec, repo, "bob@example.com", now, version="0.1.0")["released"]
        == "0.1.1"
    )


def test_hotfix_bad_input(store: Store, spec: Any, repo: Path) -> None:
    now = datetime.now(UTC)
    with pytest.raises(NotFound) as no_tag:
        hotfix.start(store, spec, repo, "9.9.9", "alice@example.com", now)
    assert no_tag.value.code == "release-tag-not-found"
    with pytest.raises(InputError) as not_hotfix:
        hotfix.finish(store, spec, repo, "alice@example.com", now)
    assert not_hotfix.value.code == "not-a-hotfix-branch"
    gitrepo.git(repo, "checkout", "-q", "-b", "hotfix/0.2.0", "v0.2.0")
    with pytest.raises(NotFound) as not_started:
        hotfix.finish(store, spec, repo, "alice@example.com", now)
    assert not_started.value.code == "hotfix-not-started"
    gitrepo.git(repo, "checkout", "-q", "main")
    gitrepo.git(repo, "branch", "-D", "hotfix/0.2.0")
    hotfix.start(store, spec, repo, "0.2.0", "alice@example.com", now)
    with pytest.raises(InputError) as empty:
        hotfix.finish(store, spec, repo, "alice@example.com", now)
    assert empty.value.code == "hotfix-empty"
