"""Organisation mode for real: two API replicas and two workers, each with a home of its own
as separate hosts would have, on one PostgreSQL database and one S3-compatible object store,
serving two projects."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import Any

import httpx

from shipyard.demo.deploy import Traffic
from tests.e2e.helpers import as_json, running_server, shipyard, tarball
from tests.integration.test_deploy import APP
from tests.s3_server import ENV as S3_ENV
from tests.s3_server import make_bucket

SPEC = """\
project: {project}
environments:
  production:
    target:
      type: process
      command: "{python} app.py --port {{port}}"
      instances: 2
      readiness: {{timeout: 10s}}
      grace: 1s
    strategy: {strategy}
"""
CANARY = "{canary: {steps: [{weight: 25}, {pause: 18s}, {weight: 50}, {pause: 2s}, {weight: 100}]}}"
TAKEOVER_S = 10.0


def _repo(base: Path, project: str, strategy: str) -> Path:
    repo = base / project
    repo.mkdir()
    (repo / "shipyard.yaml").write_text(
        SPEC.format(project=project, python=sys.executable, strategy=strategy)
    )
    return repo


@contextmanager
def _worker(env: dict[str, str], home: Path, log: Path) -> Iterator[subprocess.Popen[bytes]]:
    """`shipyard worker` with a home of its own; yields once it polls for work."""
    full = {**os.environ, **env, "SHIPYARD_HOME": str(home)}
    full.pop("SHIPYARD_SERVER", None)
    with open(log, "wb") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "shipyard", "worker"],
            cwd=home.parent,
            env=full,
            stdout=out,
            stderr=out,
        )
    try:
        deadline = time.monotonic() + 30
        while b" takes " not in log.read_bytes():
            assert proc.poll() is None, log.read_text()
            assert time.monotonic() < deadline, log.read_text()
            time.sleep(0.1)
        yield proc
    finally:
        if proc.poll() is None:
            os.kill(proc.pid, signal.SIGCONT)
            proc.kill()
        proc.wait(10)


class Api:
    def __init__(self, url: str, token: str) -> None:
        self.url, self.headers = url, {"Authorization": f"Bearer {token}"}

    def call(self, method: str, path: str, **kw: Any) -> Any:
        r = httpx.request(method, self.url + path, headers=self.headers, timeout=30, **kw)
        assert r.status_code < 400, (method, path, r.status_code, r.text)
        return r.json()

    def rollout(self, project: str) -> dict[str, Any]:
        out: dict[str, Any] = self.call("GET", f"/api/v1/rollouts/production?project={project}")
        return out

    def wait(self, project: str, done: Any, timeout: float = 90) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        while True:
            status = self.rollout(project)
            if done(status):
                return status
            assert time.monotonic() < deadline, status
            time.sleep(0.2)


def _finished(status: dict[str, Any]) -> bool:
    return status["status"] not in ("running", "pending")


def test_replicas_and_workers_share_everything_through_the_database(
    pg_url: str, s3_endpoint: str, tmp_path: Path
) -> None:
    """Publish through A, download and verify through B, one public key from both; a canary
    started through A and driven by worker 1 is taken over by worker 2 within 10 s when worker
    1 hangs, with no failed request under load; the stale worker's write is refused by its
    fencing token; two projects deploy through the same replicas."""
    make_bucket(s3_endpoint, "org")
    env = {
        "SHIPYARD_DATABASE_URL": pg_url,
        "SHIPYARD_MASTER_KEY": "org-master-key-" + "x" * 32,
        "SHIPYARD_BLOBS": "s3://org/blobs",
        "SHIPYARD_S3_ENDPOINT_URL": s3_endpoint,
        **S3_ENV,
    }
    ops = tmp_path / "ops"
    ops.mkdir()
    op_env = {**env, "SHIPYARD_HOME": str(ops / "home")}
    assert shipyard("key", "create", cwd=ops, env=op_env).returncode == 0
    token = as_json(shipyard("token", "create", "--role", "admin", "--json", cwd=ops, env=op_env))
    shop = _repo(tmp_path, "shop", CANARY)
    books = _repo(tmp_path, "books", "recreate")
    hosts = {name: tmp_path / name for name in ("a", "b", "w1", "w2")}
    for home in hosts.values():
        home.mkdir()

    with ExitStack() as stack:
        a = stack.enter_context(
            running_server(
                hosts["a"],
                env={**env, "SHIPYARD_HOME": str(hosts["a"] / "h")},
                args=("--no-worker",),
            )
        )
        b = stack.enter_context(
            running_server(
                hosts["b"],
                env={**env, "SHIPYARD_HOME": str(hosts["b"] / "h")},
                args=("--no-worker",),
            )
        )
        via_a = {"SHIPYARD_SERVER": a, "SHIPYARD_TOKEN": token["token"]}
        via_b = {"SHIPYARD_SERVER": b, "SHIPYARD_TOKEN": token["token"]}
        api_a, api_b = Api(a, token["token"]), Api(b, token["token"])

        # Signing: one key, whichever replica answers.
        keys = {api.call("GET", "/api/v1/audit/public-key")["key_id"] for api in (api_a, api_b)}
        assert len(keys) == 1

        # Projects: each repository's shipyard.yaml sent to the server.
        for repo, via in ((shop, via_a), (books, via_b)):
            applied = shipyard("apply", "--json", cwd=repo, env=via)
            assert applied.returncode == 0, applied.stderr
            assert as_json(applied)["revision"] == 1

        # Artifacts: published through A, read and verified through B.
        for version in ("1.0.0", "1.1.0"):
            tgz = tarball(tmp_path / f"shop-{version}.tar.gz", APP)
            published = shipyard(
                "artifacts", "publish", "shop", str(tgz), "--version", version, cwd=shop, env=via_a
            )
            assert published.returncode == 0, published.stderr
        tgz = tarball(tmp_path / "books-1.0.0.tar.gz", APP)
        assert (
            shipyard(
                "artifacts",
                "publish",
                "books",
                str(tgz),
                "--version",
                "1.0.0",
                cwd=books,
                env=via_a,
            ).returncode
            == 0
        )
        out = tmp_path / "downloaded.tar.gz"
        got = shipyard("artifacts", "download", "shop@1.0.0", "-o", str(out), cwd=shop, env=via_b)
        assert got.returncode == 0, got.stderr
        assert out.read_bytes() == (tmp_path / "shop-1.0.0.tar.gz").read_bytes()
        verified = shipyard("artifacts", "verify", "shop@1.0.0", "--json", cwd=shop, env=via_b)
        assert verified.returncode == 0, verified.stdout + verified.stderr
        assert not (hosts["a"] / "h" / "cas").exists()  # the bytes are in the object store

        # Worker 1 alone: the first versions of both projects, recorded through A and B.
        w1 = stack.enter_context(_worker(env, hosts["w1"] / "h", hosts["w1"] / "log"))
        body = {"environment": "production", "version": "1.0.0"}
        api_a.call("POST", "/api/v1/deployments?project=shop", json=body)
        api_b.call("POST", "/api/v1/deployments?project=books", json=body)
        for project in ("shop", "books"):
            done = api_b.wait(project, _finished)
            assert done["status"] == "succeeded", done
        url = next(
            e["url"] for e in api_b.call("GET", "/api/v1/environments?project=shop")["environments"]
        )

        try:
            with Traffic(url) as load:
                # The canary, recorded through A, is driven by worker 1.
                body = {"environment": "production", "version": "1.1.0"}
                started = api_a.call("POST", "/api/v1/deployments?project=shop", json=body)
                first = api_a.wait(
                    "shop",
                    lambda s: s["id"] == started["id"] and (s["weights"] or {}).get("canary") == 25,
                )
                assert f":{w1.pid}:" in first["controller"]["owner"]
                w2 = stack.enter_context(_worker(env, hosts["w2"] / "h", hosts["w2"] / "log"))

                # Worker 1 hangs mid-canary; worker 2 takes over within one lease and a poll.
                os.kill(w1.pid, signal.SIGSTOP)
                hung = time.monotonic()
                taken = api_b.wait(
                    "shop",
                    lambda s: f":{w2.pid}:" in (s["controller"]["owner"] or ""),
                    timeout=TAKEOVER_S + 5,
                )
                took = time.monotonic() - hung
                assert took <= TAKEOVER_S, took
                assert taken["controller"]["token"] == first["controller"]["token"] + 1

                # Worker 1 wakes up: its next write is refused and it stops driving.
                os.kill(w1.pid, signal.SIGCONT)
                deadline = time.monotonic() + 15
                while b"lease lost" not in (hosts["w1"] / "log").read_bytes():
                    assert time.monotonic() < deadline, (hosts["w1"] / "log").read_text()
                    time.sleep(0.2)
                os.kill(w1.pid, signal.SIGKILL)

                done = api_b.wait("shop", _finished, timeout=120)
            assert done["status"] == "succeeded", done
            assert load.counts and set(load.counts) == {200}, load.counts
            assert sum(load.counts.values()) > 100

            # One controller at a time: worker 1's lines, then worker 2's, never interleaved.
            owners = [entry["owner"] for entry in done["log"] if entry["line"]]
            switch = next(i for i, o in enumerate(owners) if f":{w2.pid}:" in o)
            assert all(f":{w1.pid}:" in o for o in owners[:switch]), owners
            assert all(f":{w2.pid}:" in o for o in owners[switch:]), owners
            assert {e["fence"] for e in done["log"][switch:]} == {taken["controller"]["token"]}

            # Both projects live, side by side, read through either replica.
            for api in (api_a, api_b):
                live = {
                    p: api.call("GET", f"/api/v1/environments?project={p}")["environments"][0]
                    for p in ("shop", "books")
                }
                assert live["shop"]["version"] == "1.1.0" and live["books"]["version"] == "1.0.0"
            assert httpx.get(url + "/").text == "checkout 1.1.0"
            # The environments as a person reads them: supervised by a worker, not a local pid.
            listed = shipyard("env", cwd=shop, env=via_a)
            assert listed.returncode == 0, listed.stderr
            assert "worker " in listed.stdout, listed.stdout
        finally:
            for repo in (shop, books):
                shipyard("env", "stop", "production", cwd=repo, env=op_env)
