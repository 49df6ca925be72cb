"""The supervisor of what is live, on real processes under steady load, driven through
`shipyard` in a fresh git repository: one per environment, outliving the command that started
it; it restarts crashed instances, takes hung ones out of the router and puts them back, and
rolls back a version that fails its watch window after promotion."""

from __future__ import annotations

import os
import signal
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.e2e.helpers import as_json, shipyard
from tests.e2e.test_deploy_failures import SERVICE, gone
from tests.load import Load

SPEC = """
project: shop
config: {{CRASH_AFTER: {crash}, FAIL_RATE: {fail}, BAD_AFTER: {bad}}}
environments:
  production:
    target:
      type: process
      command: "python app.py --port {{port}}"
      instances: 2
      readiness: {{timeout: 20s}}
      grace: 1s
    strategy:
      canary:
        steps: [{{weight: 50}}, {{pause: 1s}}, {{weight: 100}}]
    watch: {{analysis: [errors], window: {window}}}
analysis:
  errors: {{metric: error_rate, max_increase: 0.05, min_samples: 20, interval: 0.5}}
"""


@pytest.fixture
def repo(tmp_path: Path) -> Iterator[Path]:
    subprocess.run(["git", "init", "-q", str(tmp_path)], check=True)
    (tmp_path / "app.py").write_text(SERVICE.read_text())
    yield tmp_path
    shipyard("env", "stop", "production", cwd=tmp_path)


def env_of(root: Path) -> dict[str, Any]:
    out: dict[str, Any] = as_json(shipyard("--json", "env", cwd=root))["environments"][0]
    return out


def supervisors(root: Path) -> list[int]:
    """The `shipyard env supervise production` processes running in ``root``."""
    found = []
    for entry in os.listdir("/proc"):
        try:
            argv = Path(f"/proc/{entry}/cmdline").read_bytes().split(b"\0")
            here = os.readlink(f"/proc/{entry}/cwd") == str(root)
        except OSError:
            continue
        if here and argv[-4:-1] == [b"env", b"supervise", b"production"]:
            found.append(int(entry))
    return found


def until(what: str, check: Any, timeout: float = 30.0) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        got = check()
        if got:
            return got
        time.sleep(0.05)
    raise AssertionError(f"{what} did not happen within {timeout}s")


def test_the_supervisor_restarts_ejects_and_rolls_back_what_fails_after_promotion(
    repo: Path,
) -> None:
    """`shipyard deploy` leaves one supervisor per environment; a killed instance is restarted,
    a hung one is out of the router within 2 s and back once it answers, and a version that
    crashes after promotion, or starts failing requests, is rolled back by its watch; `env
    stop` stops it all."""
    (repo / "shipyard.yaml").write_text(
        SPEC.format(crash=0, fail=0, bad=0, window=1)
    )  # a short watch
    for version in ("1.0.0", "1.0.1"):
        done = shipyard("deploy", "production", "--version", version, cwd=repo)
        assert done.returncode == 0, done.stderr
    [sup] = until("one supervisor", lambda: supervisors(repo) or None)
    env = env_of(repo)
    assert env["supervisor"]["running"] and env["supervisor"]["pid"] == sup
    assert env["phase"] == "Healthy" and env["health"] == "2/2 ready"
    admin = env["admin_url"]

    def backends() -> list[str]:
        table = httpx.get(admin + "/routes").json()
        return sorted(table["pools"][table_live(table)])

    with Load(env["url"], rate=100) as load:
        first, second = env["instances"]
        os.kill(first["pid"], signal.SIGKILL)
        restarted = until(
            "a restart",
            lambda: [i for i in env_of(repo)["instances"] if i["restarts"] == 1 and i["ready"]],
        )
        assert restarted[0]["pid"] != first["pid"] and gone(first["pid"])
        until("the restarted instance in the router", lambda: len(backends()) == 2)

        os.kill(second["pid"], signal.SIGSTOP)  # hung: it accepts connections, answers nothing
        hung_at = time.monotonic()
        address = f"127.0.0.1:{second['port']}"
        until("the hung instance out of the router", lambda: address not in backends())
        ejected_after = time.monotonic() - hung_at
        os.kill(second["pid"], signal.SIGCONT)
        until("the instance back in the router", lambda: address in backends())
        assert ejected_after < 2.0, ejected_after

        for version, settings in (("1.1.0", {"crash": 8}), ("1.2.0", {"fail": 0.5, "bad": 8})):
            values = {"crash": 0, "fail": 0, "bad": 0, "window": 60, **settings}
            (repo / "shipyard.yaml").write_text(SPEC.format(**values))
            bad = shipyard("deploy", "production", "--version", version, cwd=repo)
            assert bad.returncode == 0, bad.stderr  # healthy until promoted
            until(
                f"the watch rolling {version} back",
                lambda: env_of(repo)["version"] == "1.0.1" and env_of(repo)["phase"] == "Healthy",
                timeout=60,
            )
        load.wait_for(50)
    history = as_json(shipyard("--json", "deployments", "production", cwd=repo))["deployments"]
    failed, crashed = history[1], history[3]
    assert [d["version"] for d in history[:4]] == ["1.0.1", "1.2.0", "1.0.1", "1.1.0"]
    assert all(d["actor"] == "supervisor" for d in (history[0], history[2]))
    assert crashed["status"] == failed["status"] == "rolled-back"
    assert crashed["reason"].startswith("rolled back after promotion: watch: target-exited: ")
    assert failed["reason"].startswith("rolled back after promotion: watch analysis 'errors' ")
    explained = shipyard(
        "--json", "rollout", "explain", "production", "--deployment", failed["id"], cwd=repo
    )
    kinds = {a["kind"] for a in as_json(explained)["analyses"]}
    assert kinds == {"background", "watch"}
    counts = load.counts()
    assert counts["200 1.1.0"] > 0 and counts["200 1.2.0"] > 0, counts

    router_pid = httpx.get(admin + "/info").json()["pid"]
    stopped = shipyard("env", "stop", "production", cwd=repo)
    assert stopped.returncode == 0, stopped.stderr
    assert supervisors(repo) == [] and gone(router_pid)
    assert env_of(repo)["instances"] == []


def table_live(table: dict[str, Any]) -> str:
    """The pool with all the traffic."""
    return str(max(table["weights"], key=table["weights"].get))
