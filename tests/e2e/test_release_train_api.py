"""Train ship, cherry-picks and hotfix start over real HTTP against a `shipyard server` started
outside any repository: it holds the project's applied shipyard.yaml and works in a clone of the
project's configured repository (a bare one here), pushing the branches it makes there."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from shipyard.services.deployments import environments as env_svc
from shipyard.settings import Settings
from shipyard.spec.load import load_spec
from shipyard.store.uow import Store
from tests import gitrepo
from tests.e2e.helpers import (
    apply,
    as_json,
    configure_repository,
    running_server,
    shipyard,
    tarball,
)

APP = Path(__file__).resolve().parents[2] / "src" / "shipyard" / "demo" / "sample" / "app.py"

# A long stabilisation keeps the current train's ship date weeks away whatever day the test
# runs, so the cherry-pick rule is always "stabilising: one approval".
SPEC = """\
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
  production:
    promote_from: dev
    strategy: recreate
    gates: [{approval: {min: 1, not_author: true}}]
release:
  train: {cut: "0 9 * * MON", every_weeks: 1, stabilize: 60d, timezone: UTC}
"""


def _store(repo: Path) -> Store:
    return Store.open(Settings(repo / ".shipyard", f"sqlite:///{repo / '.shipyard/state.db'}"))


def _token(repo: Path, role: str) -> str:
    out = shipyard(
        "token", "create", "--role", role, "--name", f"{role}@example.com", "--json", cwd=repo
    )
    return str(as_json(out)["token"])


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    base = tmp_path_factory.mktemp("train-api")
    repo = gitrepo.init(base / "repo")
    shutil.copy(APP, repo / "app.py")
    (repo / "shipyard.yaml").write_text(SPEC)
    (repo / ".gitignore").write_text(".shipyard/\n")
    gitrepo.git(repo, "add", "app.py", "shipyard.yaml", ".gitignore")
    gitrepo.git(repo, "commit", "-q", "-m", "feat: the sample app")
    released = shipyard("release", "--json", cwd=repo, env={"SHIPYARD_ACTOR": "alice@ex.com"})
    assert released.returncode == 0, released.stderr
    origin = base / "origin.git"  # the git host: main and the release tag pushed there
    gitrepo.git(base, "clone", "-q", "--bare", str(repo), str(origin))
    gitrepo.git(repo, "remote", "add", "origin", str(origin))
    tokens = {r: _token(repo, r) for r in ("viewer", "approver", "deployer", "admin")}
    elsewhere = base / "srv"  # the server's folder holds no project
    elsewhere.mkdir()
    home = {"SHIPYARD_HOME": str(repo / ".shipyard")}
    with running_server(elsewhere, env=home) as url:
        apply(repo, url, tokens["admin"])
        configure_repository(url, tokens["admin"], "shop", origin)
        via = {"SHIPYARD_SERVER": url, "SHIPYARD_TOKEN": tokens["admin"]}
        tgz = tarball(base / "shop-0.1.0.tar.gz", APP)  # what the pipeline's build step publishes
        published = shipyard(
            "artifacts", "publish", "shop", str(tgz), "--version", "0.1.0", cwd=repo, env=via
        )
        assert published.returncode == 0, published.stderr
        yield {"url": url + "/api/v1/release", "tokens": tokens, "repo": repo, "origin": origin}
    store = _store(repo)
    spec = load_spec(repo / "shipyard.yaml")
    for env in spec.environments:
        env_svc.stop_environment(store, spec, env)
    store.dispose()


def _h(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def _error(resp: httpx.Response, status: int, code: str) -> None:
    assert resp.status_code == status, resp.text
    body = resp.json()
    assert body["code"] == code and body["message"] and "hint" in body


def test_train_routes_in_order(server: dict[str, Any]) -> None:
    """Ship before a cut is train-not-cut; after the cut it stops at production's approval gate
    (409 with the reason), and ships once someone else approves; wrong tokens get 401/403."""
    api, t = server["url"], server["tokens"]
    ship = api + "/train/ship"
    assert httpx.post(ship, json={}).status_code == 401
    assert httpx.post(ship, json={}, headers=_h(t["approver"])).status_code == 403
    _error(httpx.post(ship, json={}, headers=_h(t["deployer"])), 404, "train-not-cut")
    _error(httpx.post(ship, json={"version": 3}, headers=_h(t["deployer"])), 422, "invalid-request")
    cut = httpx.post(api + "/train/cut", json={}, headers=_h(t["deployer"]))
    assert cut.status_code == 200, cut.text
    # The branch is in the project's remote, at the remote's main.
    origin = server["origin"]
    assert gitrepo.git(origin, "rev-parse", cut.json()["branch"]) == cut.json()["commit"]
    assert cut.json()["commit"] == gitrepo.git(origin, "rev-parse", "main")

    stopped = httpx.post(ship, json={}, headers=_h(t["deployer"]), timeout=120)
    _error(stopped, 409, "gates-failed")
    details = stopped.json()["details"]
    assert details["stopped_at"] == "production" and details["version"] == "0.1.0"
    assert [s["status"] for s in details["environments"]] == ["succeeded", "refused"]

    approval = {"environment": "production", "version": "0.1.0"}
    assert httpx.post(api + "/approvals", json=approval, headers=_h(t["approver"])).is_success
    done = httpx.post(ship, json={}, headers=_h(t["deployer"]), timeout=120)
    assert done.status_code == 200, done.text
    assert done.json()["shipped"] is True
    assert [s["status"] for s in done.json()["environments"]] == ["already-live", "succeeded"]


def test_cherry_pick_routes(server: dict[str, Any]) -> None:
    """A fix is approved by someone other than its author (approver role), then picked onto the
    train branch by a deployer; unknown commits and wrong roles are refused."""
    api, t, repo = server["url"], server["tokens"], server["repo"]
    if not httpx.get(api + "/train", headers=_h(t["viewer"])).json()["current"]["cut_done"]:
        assert httpx.post(api + "/train/cut", json={}, headers=_h(t["deployer"])).is_success
    fix = gitrepo.commit(repo, "fix: empty carts crash", {"fix.txt": "fixed\n"})
    gitrepo.git(repo, "push", "-q", "origin", "main")
    approve, pick = api + f"/train/picks/{fix}/approve", api + f"/train/picks/{fix}"
    assert httpx.post(approve, json={}).status_code == 401
    assert httpx.post(approve, json={}, headers=_h(t["deployer"])).status_code == 403
    assert httpx.post(pick, json={}, headers=_h(t["viewer"])).status_code == 403
    _error(httpx.post(pick, json={}, headers=_h(t["deployer"])), 409, "pick-approval-required")
    ok = httpx.post(approve, json={"comment": "tiny"}, headers=_h(t["approver"]))
    assert ok.status_code == 200 and ok.json()["approved_by"] == ["approver@example.com"]
    picked = httpx.post(pick, json={}, headers=_h(t["deployer"]))
    assert picked.status_code == 200, picked.text
    branch = picked.json()["branch"]
    log = gitrepo.git(server["origin"], "log", "--format=%s", branch).splitlines()
    assert log[0] == "fix: empty carts crash"
    unknown = httpx.post(api + "/train/picks/0badc0de/approve", json={}, headers=_h(t["approver"]))
    _error(unknown, 404, "git-ref-unknown")


def test_hotfix_start_route(server: dict[str, Any]) -> None:
    """A deployer starts hotfix/0.1.0 at the release tag in the project's remote; an unreleased
    version is release-tag-not-found, and a viewer is refused."""
    api, t, origin = server["url"], server["tokens"], server["origin"]
    route = api + "/hotfixes"
    assert httpx.post(route, json={"version": "0.1.0"}).status_code == 401
    assert httpx.post(route, json={"version": "0.1.0"}, headers=_h(t["viewer"])).status_code == 403
    _error(
        httpx.post(route, json={"version": "9.9.9"}, headers=_h(t["deployer"])),
        404,
        "release-tag-not-found",
    )
    _error(httpx.post(route, json={}, headers=_h(t["deployer"])), 422, "invalid-request")
    started = httpx.post(route, json={"version": "0.1.0"}, headers=_h(t["deployer"]))
    assert started.status_code == 200, started.text
    assert started.json()["branch"] == "hotfix/0.1.0"
    assert gitrepo.git(origin, "rev-parse", "hotfix/0.1.0") == gitrepo.git(
        origin, "rev-parse", "v0.1.0^{commit}"
    )
    again = httpx.post(route, json={"version": "0.1.0"}, headers=_h(t["deployer"]))
    _error(again, 409, "hotfix-exists")
