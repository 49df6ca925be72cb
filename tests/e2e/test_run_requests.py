"""Runs started by events: the API and GitHub/GitLab webhooks queue a run of a commit, a
worker (`shipyard runs work`) checks it out of the project's repository (a bare repository
here), runs it, records it with its commit, and reports the commit's status through a command."""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.e2e.helpers import as_json, running_server, shipyard

SECRET = "s3cret-webhook-value-0123"
SPEC = """project: shop
pipeline:
  jobs:
    build:
      run: mkdir -p out && echo built > out/built.txt
      outputs: [out/built.txt]
"""


@dataclass
class World:
    url: str
    home: Path
    origin: Path
    commit: str
    tokens: dict[str, str]
    statuses: Path

    def h(self, who: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.tokens[who]}"}

    def requests(self) -> list[dict[str, Any]]:
        got = httpx.get(f"{self.url}/api/v1/run-requests", headers=self.h("viewer"))
        assert got.status_code == 200, got.text
        return list(got.json()["requests"])


def _git(*args: str, cwd: Path) -> str:
    env_args = ["-c", "user.email=dev@example.com", "-c", "user.name=dev"]
    return subprocess.run(
        ["git", *env_args, *args], cwd=cwd, check=True, capture_output=True, text=True
    ).stdout.strip()


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    base = tmp_path_factory.mktemp("events")
    work = base / "work"
    work.mkdir()
    _git("init", "-q", cwd=work)
    (work / "shipyard.yaml").write_text(SPEC)
    _git("add", "-A", cwd=work)
    _git("commit", "-qm", "first", cwd=work)
    origin = base / "origin.git"
    _git("clone", "-q", "--bare", str(work), str(origin), cwd=base)
    commit = _git("rev-parse", "HEAD", cwd=work)
    home = base / "server"
    home.mkdir()
    (home / "shipyard.yaml").write_text("project: shop\n")
    tokens = {
        role: as_json(shipyard("token", "create", "--role", role, "--json", cwd=home))["token"]
        for role in ("viewer", "developer", "admin")
    }
    statuses = base / "statuses.txt"
    with running_server(home) as url:
        w = World(url, home, origin, commit, tokens, statuses)
        put = httpx.put(
            f"{url}/api/v1/projects/shop/repository",
            headers=w.h("admin"),
            json={
                "name": "acme/shop",
                "remote": str(origin),
                "secret": SECRET,
                "status_command": f'echo "$SHIPYARD_STATUS $SHIPYARD_COMMIT $SHIPYARD_RUN_ID"'
                f" >> {statuses}",
            },
        )
        assert put.status_code == 200, put.text
        assert "secret" not in put.json()
        yield w


def _github(
    world: World, event: str, payload: dict[str, Any], secret: str = SECRET
) -> httpx.Response:
    body = json.dumps(payload).encode()
    signature = "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
    headers = {
        "X-GitHub-Event": event,
        "X-Hub-Signature-256": signature,
        "Content-Type": "application/json",
    }
    return httpx.post(f"{world.url}/api/v1/hooks/git", content=body, headers=headers)


def _work(world: World) -> dict[str, Any]:
    proc = shipyard("runs", "work", "--once", "--json", cwd=world.home)
    assert proc.returncode == 0, proc.stderr
    [settled] = as_json(proc)["requests"]
    return dict(settled)


def test_a_github_push_is_run_by_a_worker_and_its_status_reported(world: World) -> None:
    """A signed push webhook queues its commit; the worker checks it out of the bare remote,
    runs it, records the run with that commit and trigger, and the status command hears
    `pending` then `success`."""
    push = {
        "ref": "refs/heads/main",
        "after": world.commit,
        "repository": {"full_name": "acme/shop"},
    }
    queued = _github(world, "push", push)
    assert queued.status_code == 202 and queued.json()["queued"] is True
    settled = _work(world)
    assert settled["status"] == "done" and settled["commit"] == world.commit
    run = as_json(shipyard("runs", "show", str(settled["run_id"]), "--json", cwd=world.home))
    assert run["status"] == "success" and run["commit"] == world.commit
    assert run["trigger"] == "github:push"
    lines = world.statuses.read_text().splitlines()
    assert lines[-2:] == [f"pending {world.commit} ", f"success {world.commit} {settled['run_id']}"]


def test_the_api_queues_a_run_for_a_developer_only(world: World) -> None:
    """POST /api/v1/runs queues a commit for a developer token (202) and refuses a viewer
    (403) without queueing anything."""
    before = len(world.requests())
    refused = httpx.post(
        f"{world.url}/api/v1/runs?project=shop",
        headers=world.h("viewer"),
        json={"commit": world.commit},
    )
    assert refused.status_code == 403 and len(world.requests()) == before
    queued = httpx.post(
        f"{world.url}/api/v1/runs?project=shop",
        headers=world.h("developer"),
        json={"commit": world.commit, "ref": "refs/heads/main"},
    )
    assert queued.status_code == 202 and queued.json()["status"] == "queued"
    assert queued.json()["trigger"] == "api"
    assert _work(world)["status"] == "done"


def test_a_commit_the_remote_lacks_fails_the_request_and_records_no_run(world: World) -> None:
    """A queued commit the repository does not have settles `failed` with commit-not-found,
    the status command hears `error`, and no run is recorded."""
    runs_before = as_json(shipyard("runs", "--json", cwd=world.home))["runs"]
    missing = "0123456789abcdef0123456789abcdef01234567"
    queued = httpx.post(
        f"{world.url}/api/v1/runs?project=shop",
        headers=world.h("developer"),
        json={"commit": missing},
    )
    assert queued.status_code == 202
    settled = _work(world)
    assert settled["status"] == "failed" and settled["reason"].startswith("commit-not-found")
    assert world.statuses.read_text().splitlines()[-1] == f"error {missing} "
    assert as_json(shipyard("runs", "--json", cwd=world.home))["runs"] == runs_before


@pytest.mark.parametrize(
    ("headers", "payload", "status", "code"),
    [
        (
            {"X-GitHub-Event": "push", "X-Hub-Signature-256": "sha256=" + "0" * 64},
            {"after": "a" * 40, "ref": "refs/heads/x", "repository": {"full_name": "acme/shop"}},
            401,
            "webhook-signature-invalid",
        ),
        (
            {"X-GitHub-Event": "push"},
            {"after": "a" * 40, "ref": "refs/heads/x", "repository": {"full_name": "acme/shop"}},
            401,
            "webhook-signature-invalid",
        ),
        (
            {"X-GitHub-Event": "push", "X-Hub-Signature-256": "sha256=x"},
            {"after": "a" * 40, "ref": "refs/heads/x", "repository": {"full_name": "acme/other"}},
            404,
            "repository-unknown",
        ),
        (
            {"X-Gitlab-Event": "Push Hook", "X-Gitlab-Token": "wrong-token-value"},
            {
                "checkout_sha": "a" * 40,
                "ref": "refs/heads/x",
                "project": {"path_with_namespace": "acme/shop"},
            },
            401,
            "webhook-signature-invalid",
        ),
        ({}, {"repository": {"full_name": "acme/shop"}}, 422, "webhook-host-unknown"),
        ({"X-GitHub-Event": "push"}, [1, 2], 422, "webhook-payload-invalid"),
    ],
)
def test_a_webhook_that_is_not_signed_or_not_known_queues_nothing(
    world: World, headers: dict[str, str], payload: Any, status: int, code: str
) -> None:
    """A bad signature or token, an unknown repository or a body that is not a webhook is
    refused with its code, and nothing is queued."""
    before = len(world.requests())
    resp = httpx.post(f"{world.url}/api/v1/hooks/git", headers=headers, json=payload)
    assert resp.status_code == status and resp.json()["code"] == code
    assert resp.json()["hint"]
    assert len(world.requests()) == before


def test_a_gitlab_merge_request_hook_queues_its_last_commit(world: World) -> None:
    """A GitLab merge request hook with the repository's token queues its last commit with
    the merge request as its ref; a closed one queues nothing."""
    body = {
        "project": {"path_with_namespace": "acme/shop"},
        "object_attributes": {"action": "open", "iid": 7, "last_commit": {"id": world.commit}},
    }
    headers = {"X-Gitlab-Event": "Merge Request Hook", "X-Gitlab-Token": SECRET}
    resp = httpx.post(f"{world.url}/api/v1/hooks/git", headers=headers, json=body)
    assert resp.status_code == 202, resp.text
    request = resp.json()["request"]
    assert request["ref"] == "merge-requests/7" and request["trigger"] == "gitlab:merge_request"
    body["object_attributes"]["action"] = "close"  # type: ignore[index]
    closed = httpx.post(f"{world.url}/api/v1/hooks/git", headers=headers, json=body)
    assert closed.status_code == 202 and closed.json() == {
        "queued": False,
        "reason": "merge request close",
    }
    assert _work(world)["status"] == "done"


def _wait(what: str, done: Callable[[], bool], timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while not done():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.1)


def test_a_worker_killed_mid_run_is_replaced_and_the_request_run_again(
    world: World, tmp_path: Path
) -> None:
    """`shipyard worker` takes a queued run by lease; killed (-9) in the middle of its step,
    another worker takes the request over within the lease, marks the dead worker's run
    `abandoned`, runs the commit again and settles the request `done` with the new run."""
    marker = tmp_path / "attempts.txt"
    clone = tmp_path / "clone"
    _git("clone", "-q", str(world.origin), str(clone), cwd=tmp_path)
    (clone / "shipyard.yaml").write_text(
        "project: shop\npipeline:\n  jobs:\n    slow:\n"
        f"      run: echo started >> {marker} && sleep 3 && mkdir -p out && echo ok > out/s.txt\n"
        "      outputs: [out/s.txt]\n"
    )
    _git("commit", "-qam", "slow", cwd=clone)
    _git("push", "-q", "origin", "HEAD", cwd=clone)
    commit = _git("rev-parse", "HEAD", cwd=clone)
    queued = httpx.post(
        f"{world.url}/api/v1/runs?project=shop",
        headers=world.h("developer"),
        json={"commit": commit},
    )
    assert queued.status_code == 202, queued.text
    request_id = queued.json()["id"]

    def request() -> dict[str, Any]:
        return next(r for r in world.requests() if r["id"] == request_id)

    env = {**os.environ, "SHIPYARD_LEASE_S": "2"}
    argv = [sys.executable, "-m", "shipyard", "worker", "--kinds", "run"]
    first = subprocess.Popen(argv, cwd=world.home, env=env, stderr=subprocess.DEVNULL)
    try:
        _wait("the first worker's step", lambda: marker.exists())
        dead_run = request()["run_id"]
        assert request()["status"] == "running" and dead_run is not None
    finally:
        first.kill()
        first.wait()
    killed = time.monotonic()
    second = subprocess.Popen(argv, cwd=world.home, env=env, stderr=subprocess.DEVNULL)
    try:
        _wait("the second attempt", lambda: len(marker.read_text().splitlines()) == 2)
        taken_over = time.monotonic() - killed
        _wait("the request to settle", lambda: request()["status"] != "running")
    finally:
        second.terminate()
        second.wait(10)
    settled = request()
    assert settled["status"] == "done", settled
    assert settled["run_id"] not in (None, dead_run)
    assert taken_over < 10, f"taken over after {taken_over:.1f} s"
    shown = as_json(shipyard("runs", "show", str(settled["run_id"]), "--json", cwd=world.home))
    assert shown["status"] == "success" and shown["commit"] == commit
    dead = as_json(shipyard("runs", "show", str(dead_run), "--json", cwd=world.home))
    assert dead["status"] == "abandoned"
