"""A deploy whose new version exits at once, and tar archives as artifacts, as a user meets them:
real processes behind the built-in router, driven through `shipyard` in a fresh git repository."""

from __future__ import annotations

import io
import subprocess
import tarfile
import time
from pathlib import Path

import httpx
import pytest

from tests.e2e.helpers import as_json, shipyard
from tests.integration.test_deploy import APP

SPEC = """
project: shop
secrets: {DB_PASSWORD: {env: SHOP_DB_PASSWORD}}
environments:
  dev:
    target:
      type: process
      command: "python app.py --port {port}"
      instances: 2
      readiness: {timeout: 120s}
      grace: 1s
    strategy: recreate
"""
PASSWORD = "s3cret-hunter2"
ENV = {"SHOP_DB_PASSWORD": PASSWORD}
CRASH = (
    "import os, sys\n"
    "print('starting checkout', flush=True)\n"
    "print('cannot reach the database with password', os.environ['DB_PASSWORD'], flush=True)\n"
    "sys.exit(3)\n"
)


def _tar(path: Path, files: dict[str, bytes], links: dict[str, str] | None = None) -> Path:
    """A gzip-compressed tar at ``path`` holding ``files`` and symbolic ``links``."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with tarfile.open(path, "w:gz") as tar:
        for name, data in files.items():
            info = tarfile.TarInfo(name)
            info.size, info.mode = len(data), 0o644
            tar.addfile(info, io.BytesIO(data))
        for name, target in (links or {}).items():
            info = tarfile.TarInfo(name)
            info.type, info.linkname = tarfile.SYMTYPE, target
            tar.addfile(info)
    return path


def _publish(repo: Path, archive: Path, version: str) -> None:
    done = shipyard("artifacts", "publish", "shop", str(archive), "--version", version, cwd=repo)
    assert done.returncode == 0, done.stderr


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    root = tmp_path / "repo"
    root.mkdir()
    subprocess.run(["git", "init", "-q", str(root)], check=True)
    (root / "shipyard.yaml").write_text(SPEC)
    return root


def test_an_instance_that_exits_fails_the_deploy_at_once_and_the_old_version_serves(
    repo: Path,
) -> None:
    """A new version whose process exits at once is rolled back with `target-exited`, its exit
    status and log's end (secret masked) long before the readiness deadline, and the version
    live before serves again; progress is plain lines in CI even with FORCE_COLOR set."""
    _publish(repo, _tar(repo / "dist" / "shop-1.0.0.tar.gz", {"app.py": APP.read_bytes()}), "1.0.0")
    _publish(repo, _tar(repo / "dist" / "shop-2.0.0.tgz", {"app.py": CRASH.encode()}), "2.0.0")
    try:
        ci = {**ENV, "CI": "true", "FORCE_COLOR": "1"}
        good = shipyard("deploy", "dev", "--version", "1.0.0", cwd=repo, env=ci)
        assert good.returncode == 0, good.stderr
        assert "\x1b" not in good.stdout  # no live display redrawn in a CI log
        progress = good.stdout.splitlines()
        assert progress[-1].startswith("-: deployment succeeded")
        assert any(line.startswith("Progressing [stable ") for line in progress)
        url = as_json(shipyard("--json", "env", cwd=repo))["environments"][0]["url"]
        assert httpx.get(url).text == "checkout 1.0.0"

        started = time.monotonic()
        bad = shipyard("deploy", "dev", "--version", "2.0.0", cwd=repo, env=ENV)
        elapsed = time.monotonic() - started
        assert bad.returncode == 1, bad.stderr
        assert elapsed < 60, f"waited {elapsed:.0f}s, as if for the 120s readiness deadline"
        assert bad.stderr.startswith("error[deployment-rolled-back]: ")
        message = bad.stderr.splitlines()[0]
        assert "target-exited: " in message and "(2.0.0) exited with status 3" in message
        assert "starting checkout | cannot reach the database with password ***" in message
        assert PASSWORD not in bad.stdout + bad.stderr
        assert "hint: dev is back to what it ran before" in bad.stderr

        status = as_json(shipyard("--json", "rollout", "status", "dev", cwd=repo))
        assert status["status"] == "rolled-back" and status["version"] == "2.0.0"
        dev = as_json(shipyard("--json", "env", cwd=repo))["environments"][0]
        assert dev["version"] == "1.0.0" and len(dev["instances"]) == 2
        assert {httpx.get(dev["url"]).text for _ in range(10)} == {"checkout 1.0.0"}
        events = as_json(shipyard("--json", "audit", "log", "--kind", "deployment.*", cwd=repo))
        finished = [e for e in events["events"] if e["kind"] == "deployment.finished"][-1]
        assert finished["payload"]["status"] == "rolled-back"
        assert "exited with status 3" in finished["payload"]["reason"]
        assert PASSWORD not in str(events)
    finally:
        shipyard("env", "stop", "dev", cwd=repo)


UNSAFE = [  # (version, files, links, the entry named in the refusal)
    ("1.0.1", {"app.py": b"", "../escaped.txt": b"pwned"}, {}, "../escaped.txt"),
    ("1.0.2", {"app.py": b""}, {"out": "../.."}, "out"),
    ("1.0.3", {"app.py": b""}, {"etc": "/etc"}, "etc"),
]


def test_a_tar_that_writes_outside_its_folder_is_refused(repo: Path) -> None:
    """An artifact archive with an entry or a link escaping its folder is refused with
    `artifact-unsafe` before anything is written or recorded."""
    for version, files, links, _entry in UNSAFE:
        _publish(repo, _tar(repo / "dist" / f"shop-{version}.tar.gz", files, links), version)
    for version, _files, _links, entry in UNSAFE:
        refused = shipyard("--json", "deploy", "dev", "--version", version, cwd=repo, env=ENV)
        assert refused.returncode == 5, refused.stderr
        error = as_json(refused)["error"]
        assert error["code"] == "artifact-unsafe" and repr(entry) in error["message"]
        assert error["hint"]
    assert not (repo.parent / "escaped.txt").exists()
    releases = repo / ".shipyard" / "deploy" / "releases"
    assert not releases.exists() or list(releases.iterdir()) == []
    dev = as_json(shipyard("--json", "env", cwd=repo))["environments"][0]
    assert dev["version"] is None and dev["instances"] == []
    log = as_json(shipyard("--json", "audit", "log", "--kind", "deployment.*", cwd=repo))
    assert log["events"] == []
