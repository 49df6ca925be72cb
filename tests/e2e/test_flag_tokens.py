"""Client tokens over a real `shipyard server`, on SQLite and PostgreSQL: listed with the API
tokens, revoked by `shipyard token revoke` or `DELETE /api/v1/tokens/ID`, expiring; a
revocation ends the streams opened with the token."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx

from tests.e2e.helpers import apply, as_json, database_env, running_server, shipyard


def _until(check: Callable[[], bool], timeout: float = 10.0) -> bool:
    """Wait for a condition that depends on another process (a deadline, not a measurement)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return True
        time.sleep(0.02)
    return False


class _Stream:
    """`/api/client/streaming` read on a thread: the events seen, and whether it ended."""

    def __init__(self, url: str, token: str) -> None:
        self.events: list[str] = []
        self.ended = threading.Event()
        self._thread = threading.Thread(target=self._read, args=(url, token), daemon=True)
        self._thread.start()

    def _read(self, url: str, token: str) -> None:
        try:
            with httpx.stream(
                "GET",
                url + "/api/client/streaming",
                headers={"Authorization": token},
                timeout=httpx.Timeout(5.0, read=60.0),
            ) as resp:
                for line in resp.iter_lines():
                    if line.startswith("event: "):
                        self.events.append(line[7:])
        except httpx.HTTPError:
            pass
        finally:
            self.ended.set()


def _repo(tmp_path: Path, database_url: str) -> tuple[Path, dict[str, str]]:
    repo = tmp_path / "repo"
    repo.mkdir()
    (repo / "shipyard.yaml").write_text("project: shop\nenvironments:\n  dev: {}\n")
    return repo, database_env(database_url, tmp_path)


def _json(*args: str, cwd: Path, env: dict[str, str]) -> Any:
    proc = shipyard(*args, "--json", cwd=cwd, env=env)
    assert proc.returncode == 0, proc.stderr
    return as_json(proc)


def test_revoking_a_client_token_ends_its_streams_and_requests(
    tmp_path: Path, database_url: str
) -> None:
    """`shipyard token list` shows a client token; `shipyard token revoke ID` revokes it: its
    open stream ends (it waited up to 300 s before) and its next request is refused, while a
    stream of another token keeps running."""
    repo, env = _repo(tmp_path, database_url)
    _json("flags", "create", "beta", "--env", "dev", cwd=repo, env=env)
    doomed = _json("flags", "token", "create", "--env", "dev", "--expires", "1h", cwd=repo, env=env)
    kept = _json("flags", "token", "create", "--env", "dev", cwd=repo, env=env)
    assert doomed["expires_at"] and kept["expires_at"] is None
    listed = {t["id"]: t for t in _json("token", "list", cwd=repo, env=env)["tokens"]}
    assert listed[doomed["id"]]["role"] == "flags-client"
    assert listed[doomed["id"]]["environment"] == "dev"
    assert "token" not in listed[doomed["id"]]
    with running_server(repo, env=env) as url:
        gone, stays = _Stream(url, doomed["token"]), _Stream(url, kept["token"])
        assert _until(lambda: "unleash-connected" in gone.events and len(stays.events) == 1)
        assert shipyard("token", "revoke", doomed["id"], cwd=repo, env=env).returncode == 0
        assert gone.ended.wait(10), "the revoked token's stream is still open"
        resp = httpx.get(url + "/api/client/features", headers={"Authorization": doomed["token"]})
        assert resp.status_code == 401 and resp.json()["code"] == "flag-token-invalid"
        assert not stays.ended.is_set()
        _json("flags", "enable", "beta", "--env", "dev", cwd=repo, env=env)
        assert _until(lambda: "unleash-updated" in stays.events)
    revoked = {t["id"]: t for t in _json("token", "list", cwd=repo, env=env)["tokens"]}
    assert revoked[doomed["id"]]["revoked_at"] and not revoked[kept["id"]]["revoked_at"]


def test_client_tokens_are_revoked_over_the_api_and_expire(
    tmp_path: Path, database_url: str
) -> None:
    """`DELETE /api/v1/tokens/ID` revokes a client token (404 for an unknown id); the flags
    routes list and revoke them too; a token past its lifetime is refused as expired."""
    repo, env = _repo(tmp_path, database_url)
    admin = _json("token", "create", "--role", "admin", cwd=repo, env=env)["token"]
    developer = _json("token", "create", "--role", "developer", cwd=repo, env=env)["token"]
    with running_server(repo, env=env) as url:
        apply(repo, url, admin)
        bearer = {"Authorization": f"Bearer {developer}"}
        made = httpx.post(
            url + "/api/v1/flags/tokens",
            headers=bearer,
            json={"environment": "dev", "expires_in_seconds": 1},
        ).json()
        other = httpx.post(
            url + "/api/v1/flags/tokens", headers=bearer, json={"environment": "dev"}
        ).json()
        assert _until(
            lambda: (
                httpx.get(
                    url + "/api/client/features", headers={"Authorization": made["token"]}
                ).status_code
                == 401
            )
        )
        expired = httpx.get(url + "/api/client/features", headers={"Authorization": made["token"]})
        assert "expired" in expired.json()["message"]
        listed = httpx.get(url + "/api/v1/flags/tokens", headers=bearer).json()["tokens"]
        assert {t["id"] for t in listed} == {made["id"], other["id"]}
        assert all("token" not in t and "token_hash" not in t for t in listed)
        admin_h = {"Authorization": f"Bearer {admin}"}
        missing = httpx.delete(url + "/api/v1/tokens/0000000000000000", headers=admin_h)
        assert missing.status_code == 404 and missing.json()["code"] == "token-not-found"
        ok = httpx.delete(url + f"/api/v1/tokens/{other['id']}", headers=admin_h)
        assert ok.status_code == 200 and ok.json() == {"id": other["id"], "revoked": True}
        refused = httpx.get(url + "/api/client/features", headers={"Authorization": other["token"]})
        assert refused.status_code == 401
        again = httpx.delete(url + f"/api/v1/flags/tokens/{other['id']}", headers=bearer)
        assert again.status_code == 200


def test_sigterm_ends_open_streams_and_the_server_stops(tmp_path: Path) -> None:
    """Uvicorn stops by waiting for every response to finish, and a stream never does: a
    server with a flag SDK connected ignored SIGTERM until it was killed. It now ends its
    streams (the client sees the stream close, and reconnects elsewhere) and exits."""
    import signal
    import subprocess
    import sys

    from tests.e2e.helpers import free_port

    repo = tmp_path / "repo"
    repo.mkdir()
    (repo / "shipyard.yaml").write_text("project: shop\nenvironments:\n  dev: {}\n")
    assert shipyard("apply", cwd=repo).returncode == 0
    _json("flags", "create", "beta", "--env", "dev", cwd=repo, env={})
    token = _json("flags", "token", "create", "--env", "dev", cwd=repo, env={})["token"]
    port = free_port()
    server = subprocess.Popen(
        [sys.executable, "-m", "shipyard", "server", "--port", str(port)],
        cwd=repo,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        url = f"http://127.0.0.1:{port}"
        assert _until(lambda: _answers(url), 30)
        streams = [_Stream(url, token) for _ in range(3)]
        assert _until(lambda: all("unleash-connected" in s.events for s in streams))
        server.send_signal(signal.SIGTERM)
        # Uvicorn re-raises the signal once shut down: the status of a process it ended.
        assert server.wait(8) == -signal.SIGTERM  # it used to wait for the streams forever
        assert all(s.ended.wait(2) for s in streams)
    finally:
        if server.poll() is None:
            server.kill()
            server.wait(10)


def _answers(url: str) -> bool:
    try:
        return httpx.get(url + "/healthz", timeout=1).status_code == 200
    except httpx.HTTPError:
        return False
