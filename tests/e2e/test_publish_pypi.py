"""Publishing a released wheel to a PyPI index through the legacy upload API (twine's
protocol), against a real `pypiserver` with password-protected uploads; the upload is checked
with pip itself."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.e2e.helpers import as_json, free_port, shipyard
from tests.e2e.publish_helpers import assert_secret_nowhere, process, wheel_project

TOKEN = "pypi-s3cret-upload-token"


@pytest.fixture(scope="module")
def index(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """pypiserver on a free port; uploads need user `ci` with password TOKEN."""
    from passlib.apache import HtpasswdFile

    folder = tmp_path_factory.mktemp("pypiserver")
    (folder / "packages").mkdir()
    passwords = HtpasswdFile(str(folder / "htpasswd"), new=True)
    passwords.set_password("ci", TOKEN)
    passwords.save()
    port = free_port()
    args = [sys.executable, "-m", "pypiserver", "run", "-p", str(port), "-i", "127.0.0.1"]
    args += ["-a", "update", "-P", str(folder / "htpasswd"), str(folder / "packages")]
    url = f"http://127.0.0.1:{port}/"
    with process(args, url):
        yield url


def _target(url: str, extra: str = "") -> str:
    return f"- {{type: pypi, url: '{url}', username: ci, token_env: PYPI_TOKEN{extra}}}"


def _pip_download(index_url: str, spec: str, dest: Path) -> Path:
    proc = subprocess.run(
        [sys.executable, "-m", "pip", "download", "--no-deps", "--no-cache-dir", "-q"]
        + ["--index-url", index_url + "simple/", "-d", str(dest), spec],
        capture_output=True,
        text=True,
    )
    assert proc.returncode == 0, proc.stderr
    (found,) = dest.glob("*.whl")
    return found


def test_release_uploads_the_wheel_and_pip_downloads_the_same_bytes(
    index: str, tmp_path: Path
) -> None:
    """`release` uploads the recorded wheel to the index, records `artifact.pushed` with the
    target and digest, and `pip download` from the index gets exactly the registry's bytes;
    the token appears in no output and no event."""
    root = wheel_project(tmp_path / "shop", _target(index), code="first")
    env = {"PYPI_TOKEN": TOKEN}
    out = shipyard("release", "--json", cwd=root, env=env)
    assert out.returncode == 0, out.stdout + out.stderr
    data = as_json(out)
    (pushed,) = data["publications"]
    assert pushed["target"] == "pypi" and pushed["artifact"] == "shop@0.1.0"
    assert pushed["already"] is False and pushed["location"] == index + "simple/shop/"
    digest = data["published"][0]["digest"]
    assert pushed["digest"] == digest
    got = _pip_download(index, "shop==0.1.0", tmp_path / "pip")
    ours = tmp_path / "ours.whl"
    shipyard("artifacts", "download", "shop@0.1.0", "-o", str(ours), cwd=root, env=env)
    assert got.name == "shop-0.1.0-py3-none-any.whl"
    assert got.read_bytes() == ours.read_bytes()
    events = as_json(
        shipyard("audit", "log", "--kind", "artifact.pushed", "--json", cwd=root, env=env)
    )["events"]
    assert [(e["subject"], e["payload"]["target"], e["payload"]["digest"]) for e in events] == [
        ("artifact:shop@0.1.0", "pypi", digest)
    ]
    assert_secret_nowhere(root, env, TOKEN, out.stdout, out.stderr)

    again = shipyard("artifacts", "push", "shop@0.1.0", "--to", "pypi", "--json", cwd=root, env=env)
    assert again.returncode == 0, again.stdout + again.stderr
    (same,) = as_json(again)["pushed"]
    assert same["already"] is True and same["recorded"] is False
    events = shipyard("audit", "log", "--kind", "artifact.pushed", "--json", cwd=root, env=env)
    assert len(as_json(events)["events"]) == 1


def test_other_bytes_under_a_published_version_are_a_conflict(index: str, tmp_path: Path) -> None:
    """A second project releasing other bytes as clash 0.1.0 gets `publish-conflict` (exit 7)
    naming the target; its release stays recorded and the index keeps the first wheel."""
    first = wheel_project(tmp_path / "first", _target(index, ", name: idx"), package="clash")
    env = {"PYPI_TOKEN": TOKEN}
    assert shipyard("release", cwd=first, env=env).returncode == 0
    # A wheel of another content under the same name and version, released elsewhere.
    other = wheel_project(
        tmp_path / "other", _target(index, ", name: idx"), package="clash", code="two"
    )
    out = shipyard("release", "--json", cwd=other, env=env)
    assert out.returncode == 7, out.stdout + out.stderr
    error = as_json(out)["error"]
    assert error["code"] == "publish-conflict" and "idx" in error["message"]
    assert "shipyard artifacts push clash@0.1.0 --to idx" in error["hint"]
    assert error["details"]["release"]["released"] is True
    shown = shipyard("artifacts", "show", "clash@0.1.0", "--json", cwd=other, env=env)
    assert shown.returncode == 0
    assert (
        "v0.1.0" in subprocess.run(["git", "tag"], cwd=other, capture_output=True, text=True).stdout
    )
    got = _pip_download(index, "clash==0.1.0", tmp_path / "pip")
    ours = tmp_path / "first.whl"
    shipyard("artifacts", "download", "clash@0.1.0", "-o", str(ours), cwd=first, env=env)
    assert got.read_bytes() == ours.read_bytes()


def test_wrong_token_fails_naming_the_target_and_a_retry_pushes(index: str, tmp_path: Path) -> None:
    """With a wrong token the upload is refused (`publish-unauthorized`, exit 5) without the
    token in any output; the release is recorded, and `artifacts push` with the right token
    uploads it and pip installs it from the index."""
    root = wheel_project(tmp_path / "retry", _target(index), package="retry")
    wrong = "pypi-wrong-token-value"
    out = shipyard("release", cwd=root, env={"PYPI_TOKEN": wrong})
    assert out.returncode == 5, out.stdout + out.stderr
    assert "error[publish-unauthorized]" in out.stderr and "pypi (" in out.stderr
    assert "released v0.1.0" in out.stdout  # the release itself is recorded
    assert "shipyard artifacts push retry@0.1.0 --to pypi" in out.stderr
    assert_secret_nowhere(root, {}, wrong, out.stdout, out.stderr)
    listed = as_json(shipyard("artifacts", "list", "--json", cwd=root))["artifacts"]
    assert [a["version"] for a in listed] == ["0.1.0"]
    retried = shipyard("artifacts", "push", "retry@0.1.0", cwd=root, env={"PYPI_TOKEN": TOKEN})
    assert retried.returncode == 0, retried.stderr
    assert "pushed: retry@0.1.0 -> pypi" in retried.stdout
    target = tmp_path / "site"
    installed = subprocess.run(
        [sys.executable, "-m", "pip", "install", "--no-deps", "--no-cache-dir", "-q"]
        + ["--index-url", index + "simple/", "--target", str(target), "retry==0.1.0"],
        capture_output=True,
        text=True,
    )
    assert installed.returncode == 0, installed.stderr
    assert (target / "retry" / "__init__.py").read_text().startswith("__version__ = '0.1.0'")


def test_wrong_version_and_missing_credentials_are_refused(index: str, tmp_path: Path) -> None:
    """A wheel whose own version is not the release's is refused before any upload
    (`publish-version-mismatch`); a token variable that is not set is
    `publish-credentials-missing` naming the variable."""
    root = wheel_project(tmp_path / "odd", _target(index), package="odd")
    out = shipyard("release", "--no-publish", cwd=root)
    assert out.returncode == 0, out.stderr
    missing = shipyard("artifacts", "push", "odd@0.1.0", "--json", cwd=root)
    assert missing.returncode == 2
    assert as_json(missing)["error"]["code"] == "publish-credentials-missing"
    assert "$PYPI_TOKEN" in as_json(missing)["error"]["message"]
    # A version that the wheel does not carry: the release is 0.2.0, the wheel still 0.1.0.
    (root / "shop.py").write_text("PRICE = 2\n")
    subprocess.run(["git", "commit", "-qam", "feat: price"], cwd=root, check=True)
    mismatch = shipyard("release", "--json", cwd=root, env={"PYPI_TOKEN": TOKEN})
    assert mismatch.returncode == 2, mismatch.stdout
    assert as_json(mismatch)["error"]["code"] == "publish-version-mismatch"
