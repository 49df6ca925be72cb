"""A server serves projects from the specs `shipyard apply` sent it, and only records
deployments: a recorded one waits for a worker, and an abort cancels it."""

from __future__ import annotations

import io
import tarfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from shipyard.api.app import create_app
from shipyard.domain.provenance import BuildInfo
from shipyard.services import tokens
from shipyard.services.releases import artifacts
from shipyard.store.uow import Store
from tests.integration.test_deploy import APP, SPEC

H = dict[str, dict[str, str]]
GOOD = SPEC.format(dev_strategy="recreate", fail_rate=0, migrate="null")


@pytest.fixture
def client(
    store: Store, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[tuple[TestClient, H]]:
    away = tmp_path / "elsewhere"  # the server runs in no repository
    away.mkdir()
    monkeypatch.chdir(away)
    headers = {
        name: {"Authorization": f"Bearer {tokens.create(store, role, name, project=p)['token']}"}
        for name, role, p in (
            ("admin", "admin", None),
            ("viewer", "viewer", "shop"),
            ("deployer", "deployer", "shop"),
        )
    }
    with TestClient(create_app(store)) as c:
        yield c, headers


def _put(c: TestClient, h: dict[str, str], text: str, project: str = "shop") -> object:
    return c.put(f"/api/v1/projects/{project}/spec", json={"yaml": text}, headers=h)


def test_apply_checks_keeps_revisions_and_refuses_bad_files(
    client: tuple[TestClient, H], store: Store
) -> None:
    """A file with a mistake is refused with its line and column and nothing is kept; a good
    one is revision 1, the same bytes again change nothing, another file is revision 2."""
    c, h = client
    bad = _put(c, h["admin"], GOOD.replace("strategy: recreate", "strategy: sideways"))
    assert bad.status_code == 422, bad.text
    where = bad.json()["details"]
    assert (where["file"], where["line"]) == ("shipyard.yaml", 12) and where["column"] > 1
    missing = c.get("/api/v1/projects/shop/spec", headers=h["viewer"])
    assert missing.status_code == 404 and missing.json()["code"] == "spec-not-applied"
    first = _put(c, h["admin"], GOOD).json()
    assert (first["revision"], first["changed"]) == (1, True)
    again = _put(c, h["admin"], GOOD).json()
    assert (again["revision"], again["changed"]) == (1, False)
    second = _put(c, h["admin"], GOOD + "\n# reviewed\n").json()
    assert (second["revision"], second["changed"]) == (2, True)
    got = c.get("/api/v1/projects/shop/spec", headers=h["viewer"]).json()
    assert got["revision"] == 2 and got["yaml"].endswith("# reviewed\n")
    other = _put(c, h["admin"], GOOD, project="books")
    assert other.status_code == 422 and other.json()["code"] == "spec-project-mismatch"
    refused = _put(c, h["viewer"], GOOD)
    assert refused.status_code == 403
    with store.read() as uow:
        applied = uow.events.query(project="shop", kind="project.applied")
    assert [e.payload["revision"] for e in applied] == [1, 2]


def test_routes_read_the_applied_spec(client: tuple[TestClient, H]) -> None:
    """Deployment routes answer from the applied spec; before it, spec-not-applied."""
    c, h = client
    before = c.get("/api/v1/environments?project=shop", headers=h["viewer"])
    assert before.status_code == 404 and before.json()["code"] == "spec-not-applied"
    _put(c, h["admin"], GOOD)
    envs = c.get("/api/v1/environments", headers=h["viewer"]).json()["environments"]
    assert [e["environment"] for e in envs] == ["dev", "staging", "production"]


def _artifact(store: Store, tmp_path: Path) -> None:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tar:
        tar.add(APP, arcname="app.py")
    path = tmp_path / "shop-1.0.0.tar.gz"
    path.write_bytes(buf.getvalue())
    artifacts.publish(store, "shop", "shop", path, "1.0.0", BuildInfo(pipeline="shop", job="b"))


def test_a_recorded_deployment_waits_for_a_worker_and_an_abort_cancels_it(
    client: tuple[TestClient, H], store: Store, tmp_path: Path
) -> None:
    """With no repository beside the server a bare version is artifact-required; a deploy
    the API records waits for a controller (a second deploy is rollout-waiting, not
    rollout-in-progress), and `rollout abort` cancels it instead of answering no-rollout."""
    c, h = client
    _put(c, h["admin"], GOOD)
    deploy = {"environment": "dev", "version": "1.0.0"}
    bare = c.post("/api/v1/deployments", json=deploy, headers=h["deployer"])
    assert bare.status_code == 404 and bare.json()["code"] == "artifact-required"
    _artifact(store, tmp_path)
    recorded = c.post("/api/v1/deployments", json=deploy, headers=h["deployer"])
    assert recorded.status_code == 200, recorded.text
    status = c.get("/api/v1/rollouts/dev", headers=h["viewer"]).json()
    assert status["status"] == "running" and status["controller"]["state"] == "waiting"
    again = c.post("/api/v1/deployments", json=deploy, headers=h["deployer"])
    assert again.status_code == 409 and again.json()["code"] == "rollout-waiting"
    aborted = c.post("/api/v1/rollouts/dev/abort", headers=h["deployer"]).json()
    assert aborted["status"] == "cancelled"
    status = c.get("/api/v1/rollouts/dev", headers=h["viewer"]).json()
    assert status["status"] == "cancelled" and status["controller"]["state"] == "done"
    retried = c.post("/api/v1/deployments", json=deploy, headers=h["deployer"])
    assert retried.status_code == 200, retried.text
    with store.read() as uow:
        finished = uow.events.query(project="shop", kind="deployment.finished")
    assert [e.payload["status"] for e in finished] == ["cancelled"]
