"""Release coordination through the real `shipyard` command and a real server over HTTP."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from shipyard.settings import Settings
from shipyard.store.uow import Store
from tests.e2e.helpers import apply, as_json, running_server, shipyard
from tests.integration.release_helpers import SPEC, publish

ALICE = {"SHIPYARD_ACTOR": "alice@example.com"}
CAROL = {"SHIPYARD_ACTOR": "carol@example.com"}


def _repo(path: Path) -> Path:
    path.mkdir(parents=True, exist_ok=True)
    (path / "shipyard.yaml").write_text(SPEC)
    store = Store.open(Settings(path / ".shipyard", f"sqlite:///{path / '.shipyard/state.db'}"))
    publish(store, "1.2.0", author="alice@example.com")
    store.dispose()
    return path


def test_gates_exit_5_and_say_why(tmp_path: Path) -> None:
    """A failing gate exits 5; human output lists each gate, JSON carries the verdict."""
    repo = _repo(tmp_path / "r")
    human = shipyard(
        "gates",
        "production",
        "--version",
        "1.2.0",
        "--at",
        "2026-12-24T12:00Z",
        cwd=repo,
        env=CAROL,
    )
    assert human.returncode == 5, human.stderr
    assert "freeze: frozen" not in human.stdout  # the line reads "FAIL freeze: production is..."
    assert "production is frozen by 'year-end'" in human.stdout
    assert "error[gates-failed]" in human.stderr
    js = shipyard("gates", "production", "--version", "1.2.0", "--json", cwd=repo, env=CAROL)
    assert js.returncode == 5
    details = as_json(js)["error"]["details"]
    assert {g["name"] for g in details["gates"]} >= {"tests", "approval", "freeze", "lock"}
    ok = shipyard("gates", "staging", "--version", "1.2.0", "--json", cwd=repo, env=CAROL)
    assert ok.returncode == 0 and as_json(ok)["passed"] is True


def test_cli_approvals_locks_break_glass_and_freezes(tmp_path: Path) -> None:
    """The commands record what they do and refuse bad input with codes and exit statuses."""
    repo = _repo(tmp_path / "r")
    own = shipyard("approve", "production", "--version", "1.2.0", cwd=repo, env=ALICE)
    assert own.returncode == 5 and "self-approval" in own.stderr
    ok = shipyard("approve", "production", "--version", "1.2.0", "--json", cwd=repo, env=CAROL)
    assert as_json(ok)["approver"] == "carol@example.com"
    assert (
        shipyard(
            "lock", "production", "--reason", "migration", "--ttl", "2h", cwd=repo, env=CAROL
        ).returncode
        == 0
    )
    held = shipyard("lock", "production", "--reason", "mine", cwd=repo, env=ALICE)
    assert held.returncode == 7 and "lock-held" in held.stderr
    assert shipyard("unlock", "production", cwd=repo, env=CAROL).returncode == 0
    bg = as_json(
        shipyard(
            "break-glass",
            "production",
            "--reason",
            "outage",
            "--gates",
            "freeze,approval",
            "--ttl",
            "1h",
            "--incident",
            "INC-1",
            "--json",
            cwd=repo,
            env=ALICE,
        )
    )
    assert bg["approved_by"] is None
    self_ok = shipyard("break-glass", "approve", bg["id"], cwd=repo, env=ALICE)
    assert self_ok.returncode == 5
    approved = shipyard("break-glass", "approve", bg["id"], "--json", cwd=repo, env=CAROL)
    assert as_json(approved)["approved_by"] == "carol@example.com"
    bad = shipyard(
        "freeze", "add", "x", "--start-cron", "61 * * * *", "--end-cron", "0 8 * * MON", cwd=repo
    )
    assert bad.returncode == 2 and "cron-invalid" in bad.stderr and "hint:" in bad.stderr
    status = shipyard(
        "freeze", "status", "--env", "production", "--at", "2026-11-28T12:00Z", cwd=repo
    )
    assert "frozen by weekends until Monday 2026-11-30 08:00 Europe/Berlin" in status.stdout
    out = repo / "releases.ics"
    assert shipyard("calendar", "--ics", "-o", str(out), cwd=repo).returncode == 0
    assert "BEGIN:VEVENT" in out.read_text()
    log = as_json(shipyard("audit", "log", "--json", cwd=repo))["events"]
    assert [
        e["kind"]
        for e in log
        if "." in e["kind"] and e["kind"].split(".")[0] in ("approval", "lock", "break-glass")
    ] == [
        "approval.granted",
        "lock.acquired",
        "lock.released",
        "break-glass.requested",
        "break-glass.approved",
    ]


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, dict[str, str]]]:
    repo = _repo(tmp_path_factory.mktemp("srv"))
    tokens = {
        role: as_json(
            shipyard(
                "token",
                "create",
                "--role",
                role,
                "--name",
                f"{role}@example.com",
                "--json",
                cwd=repo,
            )
        )["token"]
        for role in ("viewer", "approver", "deployer", "admin")
    }
    with running_server(repo) as url:
        apply(repo, url, tokens["admin"])
        yield url, tokens


def _h(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def test_mutating_routes_need_the_right_permission(server: tuple[str, dict[str, str]]) -> None:
    """Freezes need ADMIN, locks and break-glass requests DEPLOY, approvals APPROVE."""
    url, t = server
    api = url + "/api/v1/release"
    freeze = {"name": "launch", "start": "2026-11-25", "end": "2026-11-26"}
    assert httpx.post(api + "/freezes", json=freeze).status_code == 401
    assert httpx.post(api + "/freezes", json=freeze, headers=_h(t["deployer"])).status_code == 403
    assert httpx.post(api + "/freezes", json=freeze, headers=_h(t["admin"])).status_code == 200
    lock = {"reason": "migration"}
    assert (
        httpx.post(api + "/locks/staging", json=lock, headers=_h(t["approver"])).status_code == 403
    )
    r = httpx.post(api + "/locks/staging", json=lock, headers=_h(t["deployer"]))
    assert r.status_code == 200 and r.json()["held_by"] == "deployer@example.com"
    approval = {"environment": "production", "version": "1.2.0"}
    assert (
        httpx.post(api + "/approvals", json=approval, headers=_h(t["deployer"])).status_code == 403
    )
    r = httpx.post(api + "/approvals", json=approval, headers=_h(t["approver"]))
    assert r.status_code == 200 and r.json()["approver"] == "approver@example.com"
    bg = {"environment": "production", "reason": "outage", "gates": ["freeze"], "ttl": "30m"}
    assert httpx.post(api + "/break-glass", json=bg, headers=_h(t["viewer"])).status_code == 403
    req = httpx.post(api + "/break-glass", json=bg, headers=_h(t["deployer"])).json()
    done = httpx.post(api + f"/break-glass/{req['id']}/approve", headers=_h(t["approver"]))
    assert done.json()["approved_by"] == "approver@example.com"
    bad = httpx.post(api + "/locks/nowhere", json=lock, headers=_h(t["deployer"]))
    assert bad.status_code == 404 and bad.json()["code"] == "environment-unknown"


def test_read_routes_and_public_status_page(server: tuple[str, dict[str, str]]) -> None:
    """Gates, freeze status and the calendar need a reader; the status page is public."""
    url, t = server
    api = url + "/api/v1/release"
    v = httpx.get(api + "/gates/production", params={"version": "1.2.0"}, headers=_h(t["viewer"]))
    assert v.status_code == 200 and v.json()["passed"] is False
    st = httpx.get(
        api + "/freezes/status", params={"at": "2026-12-24T12:00Z"}, headers=_h(t["viewer"])
    )
    assert st.json()["window"] == "year-end"
    assert httpx.get(api + "/calendar.ics").status_code == 401
    ics = httpx.get(api + "/calendar.ics", headers=_h(t["viewer"]))
    assert ics.headers["content-type"].startswith("text/calendar")
    page = httpx.get(url + "/status")
    assert page.status_code == 200 and "shop release status" in page.text
    assert "Release train" in page.text


def test_vulns_import_notify_and_status_page_commands(tmp_path: Path) -> None:
    """OSV import reports skipped records; unconfigured delivery fails; the page is written."""
    repo = _repo(tmp_path / "r")
    osv = Path(__file__).resolve().parents[1] / "data" / "osv"
    out = as_json(shipyard("vulns", "import", str(osv), "--json", cwd=repo))
    assert out["imported"] == 2 and out["skipped"][0]["id"] == "BROKEN-1"
    missing = shipyard("vulns", "import", str(tmp_path / "none"), cwd=repo)
    assert missing.returncode == 6 and "osv-source-not-found" in missing.stderr
    env = {"SHIPYARD_NOTIFY_WEBHOOK_URL": "", "SHIPYARD_NOTIFY_SLACK_URL": ""}
    unconfigured = shipyard("notify", "deliver", cwd=repo, env=env)
    assert unconfigured.returncode == 2 and "notify-not-configured" in unconfigured.stderr
    page = repo / "status.html"
    assert shipyard("status-page", "-o", str(page), cwd=repo).returncode == 0
    assert "<h2>Live</h2>" in page.read_text()
    unknown = shipyard("gates", "prod", "--version", "1.2.0", cwd=repo)
    assert unknown.returncode == 6 and "did you mean 'production'" in unknown.stderr
