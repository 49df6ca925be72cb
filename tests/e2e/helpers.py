"""Running the real `shipyard` command in a subprocess."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any


def shipyard(
    *args: str, cwd: Path, env: dict[str, str] | None = None, timeout: float = 120
) -> subprocess.CompletedProcess[str]:
    full_env = {**os.environ, "COLUMNS": "200", **(env or {})}
    full_env.pop("SHIPYARD_SERVER", None) if env is None or "SHIPYARD_SERVER" not in env else None
    return subprocess.run(
        [sys.executable, "-m", "shipyard", *args],
        cwd=cwd,
        env=full_env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def as_json(proc: subprocess.CompletedProcess[str]) -> Any:
    return json.loads(proc.stdout)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextmanager
def running_server(
    cwd: Path,
    timeout: float = 30,
    env: dict[str, str] | None = None,
    args: tuple[str, ...] = (),
) -> Iterator[str]:
    """`shipyard server` on a free port in ``cwd`` (with ``env`` added to the environment and
    ``args`` to its command line); yields its URL once /healthz answers."""
    env = {**{k: v for k, v in os.environ.items() if k != "SHIPYARD_SERVER"}, **(env or {})}
    port = free_port()
    # A file, not a pipe: a chatty server must never block on a pipe nobody reads.
    with tempfile.TemporaryFile() as log:
        proc = subprocess.Popen(
            [sys.executable, "-m", "shipyard", "server", "--port", str(port), *args],
            cwd=cwd,
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=log,
        )
        url = f"http://127.0.0.1:{port}"
        try:
            deadline = time.monotonic() + timeout
            while not _healthy(url):
                if proc.poll() is not None or time.monotonic() > deadline:
                    proc.kill()
                    log.seek(0)
                    err = log.read().decode(errors="replace")
                    raise RuntimeError(f"shipyard server did not start: {err[-2000:]}")
                time.sleep(0.1)
            yield url
        finally:
            proc.terminate()
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                proc.kill()  # a server stuck in a request never leaks past its test
                proc.wait(10)


def _healthy(url: str) -> bool:
    import httpx

    try:
        return httpx.get(url + "/healthz").status_code == 200
    except httpx.HTTPError:
        return False


def database_env(database_url: str, folder: Path) -> dict[str, str]:
    """The environment for commands and a server on ``database_url``: on PostgreSQL a server
    signs with a configured key (docs/server.md), so a key file is written into ``folder``."""
    env = {"SHIPYARD_DATABASE_URL": database_url}
    if database_url.startswith("postgresql"):
        import secrets

        from shipyard.store.seal import new_key_pem

        key = folder / "signing.pem"
        key.write_bytes(new_key_pem(secrets.token_bytes(32)))
        key.chmod(0o600)
        env["SHIPYARD_SIGNING_KEY_FILE"] = str(key)
    return env


def apply(cwd: Path, url: str, token: str) -> None:
    """`shipyard apply` of ``cwd``'s shipyard.yaml to the server at ``url``, as a user does:
    a server reads no project from its own folder."""
    done = shipyard("apply", cwd=cwd, env={"SHIPYARD_SERVER": url, "SHIPYARD_TOKEN": token})
    assert done.returncode == 0, done.stderr + done.stdout


def tarball(path: Path, app: Path) -> Path:
    """A service as a release artifact: a tar.gz holding ``app`` as app.py."""
    import tarfile

    with tarfile.open(path, "w:gz") as tar:
        tar.add(app, arcname="app.py")
    return path


def configure_repository(url: str, token: str, project: str, remote: Path) -> None:
    """`PUT /api/v1/projects/{project}/repository` as an admin sets it: the remote the server
    clones for the project's git work (and queued runs fetch from)."""
    import httpx

    done = httpx.put(
        f"{url}/api/v1/projects/{project}/repository",
        json={"name": f"acme/{project}", "remote": str(remote), "secret": "s" * 20},
        headers={"Authorization": f"Bearer {token}"},
    )
    assert done.status_code == 200, done.text
