"""`release.version_files` and `release --push` through the CLI, against a local bare
repository as the remote: what lands there, and what is left when the push is refused."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests import gitrepo
from tests.e2e.helpers import as_json, shipyard

SPEC = (
    "project: shop\n"
    "release:\n"
    "  version_files: [pyproject.toml, web/package.json, crate/Cargo.toml, VERSION]\n"
)
PACKAGE_JSON = '{\n  "name": "shop-web",\n  "version": "1.4.2",\n  "private": true\n}\n'
FILES = {
    "shipyard.yaml": SPEC,
    ".gitignore": ".shipyard/\n",
    "pyproject.toml": '[project]\nname = "shop"\nversion = "1.4.2"  # released\n',
    "web/package.json": PACKAGE_JSON,
    "crate/Cargo.toml": '[package]\nname = "shop"\nversion = "1.4.2"\nedition = "2021"\n',
    "crate/Cargo.lock": 'version = 3\n\n[[package]]\nname = "shop"\nversion = "1.4.2"\n',
    "VERSION": "1.4.2\n",
}


def _bare(root: Path) -> Path:
    remote = root / "remote.git"
    subprocess.run(["git", "init", "-q", "--bare", "-b", "main", str(remote)], check=True)
    return remote


def _clone(remote: Path, where: Path) -> Path:
    subprocess.run(["git", "clone", "-q", str(remote), str(where)], check=True)
    gitrepo.init(where)  # identity and signing settings; keeps the clone's origin
    return where


@pytest.fixture
def pair(tmp_path: Path) -> tuple[Path, Path]:
    """A working repository whose origin is a bare repository, released once as v1.4.2."""
    remote = _bare(tmp_path)
    root = gitrepo.init(tmp_path / "shop")
    gitrepo.commit(root, "chore: start", FILES)
    gitrepo.tag(root, "v1.4.2")
    gitrepo.git(root, "remote", "add", "origin", str(remote))
    gitrepo.git(root, "push", "-q", "-u", "origin", "main", "--tags")
    return root, remote


def _remote(remote: Path, *args: str) -> str:
    return gitrepo.git(remote, *args)


def test_push_sends_the_release_commit_and_tag_with_the_version_files(
    pair: tuple[Path, Path],
) -> None:
    """`release --push` writes the version into each file, commits them with CHANGELOG.md as
    `chore(release): v1.5.0 [skip ci]`, and the remote's main and v1.5.0 tag both have them."""
    root, remote = pair
    gitrepo.commit(root, "feat: coupons")
    preview = shipyard("release", "--push", "--dry-run", cwd=root)
    assert "would write the version to web/package.json" in preview.stdout
    assert "would push the release commit and v1.5.0 to origin" in preview.stdout
    assert _remote(remote, "tag", "--list") == "v1.4.2"
    data = as_json(shipyard("release", "--push", "--json", cwd=root))
    assert data["pushed"] == "origin" and data["tag"] == "v1.5.0"
    assert sorted(data["version_files"]) == sorted(
        ["pyproject.toml", "web/package.json", "crate/Cargo.toml", "crate/Cargo.lock", "VERSION"]
    )
    assert _remote(remote, "log", "-1", "--format=%s", "main") == "chore(release): v1.5.0 [skip ci]"
    assert _remote(remote, "rev-parse", "main") == _remote(remote, "rev-parse", "v1.5.0^{commit}")
    show = lambda path: _remote(remote, "show", f"v1.5.0:{path}")  # noqa: E731
    assert show("pyproject.toml") == 'name = "shop"\nversion = "1.5.0"  # released'.join(
        ["[project]\n", ""]
    )
    assert json.loads(show("web/package.json"))["version"] == "1.5.0"
    assert 'version = "1.5.0"' in show("crate/Cargo.toml") and "1.5.0" in show("crate/Cargo.lock")
    assert show("VERSION") == "1.5.0" and "## 1.5.0" in show("CHANGELOG.md")
    assert gitrepo.git(root, "status", "--porcelain") == ""


def test_package_json_matches_npm_version(pair: tuple[Path, Path], tmp_path: Path) -> None:
    """The package.json a release writes is byte for byte what `npm version` writes."""
    root, _remote_path = pair
    peer = tmp_path / "peer"
    peer.mkdir()
    (peer / "package.json").write_text(PACKAGE_JSON)
    npm = shutil.which("npm")
    assert npm is not None, "npm is installed by .ci/run"
    subprocess.run(
        [npm, "version", "1.5.0", "--no-git-tag-version", "--ignore-scripts"],
        cwd=peer,
        check=True,
        capture_output=True,
    )
    gitrepo.commit(root, "feat: coupons")
    assert shipyard("release", cwd=root).returncode == 0
    assert (root / "web" / "package.json").read_text() == (peer / "package.json").read_text()


def test_refused_push_leaves_nothing_behind(pair: tuple[Path, Path], tmp_path: Path) -> None:
    """When the remote moved on, the atomic push is refused (exit 7, push-rejected): no tag,
    the branch, files and store as before; after a pull the same release goes through."""
    root, remote = pair
    other = _clone(remote, tmp_path / "other")
    gitrepo.commit(other, "fix: pushed first", {"other.txt": "theirs"})
    gitrepo.git(other, "push", "-q", "origin", "main")
    gitrepo.commit(root, "feat: coupons")
    head = gitrepo.git(root, "rev-parse", "HEAD")
    proc = shipyard("release", "--push", "--json", cwd=root)
    assert proc.returncode == 7 and as_json(proc)["error"]["code"] == "push-rejected"
    assert "git pull --rebase" in as_json(proc)["error"]["hint"]
    assert gitrepo.git(root, "rev-parse", "HEAD") == head
    assert gitrepo.git(root, "tag", "--list") == "v1.4.2"
    assert gitrepo.git(root, "status", "--porcelain") == ""
    assert (root / "VERSION").read_text() == "1.4.2\n" and not (root / "CHANGELOG.md").exists()
    assert _remote(remote, "tag", "--list") == "v1.4.2"
    log = as_json(shipyard("audit", "log", "--kind", "release.created", "--json", cwd=root))
    assert log["events"] == []
    gitrepo.git(root, "pull", "-q", "--rebase", "origin", "main")
    data = as_json(shipyard("release", "--push", "--json", cwd=root))
    assert data["tag"] == "v1.5.0" and _remote(remote, "tag", "--list").split() == [
        "v1.4.2",
        "v1.5.0",
    ]


def test_two_clones_releasing_at_once_make_one_release(
    pair: tuple[Path, Path], tmp_path: Path
) -> None:
    """Two clones releasing the same history to one remote at the same moment: one pushes
    v1.5.0, the other is refused and left clean."""
    root, remote = pair
    gitrepo.commit(root, "feat: coupons")
    gitrepo.git(root, "push", "-q", "origin", "main")
    other = _clone(remote, tmp_path / "other")
    # Another runner: another identity, so its release commit differs from this one's.
    gitrepo.git(other, "config", "user.name", "Other Runner")
    env = {k: v for k, v in os.environ.items() if k != "SHIPYARD_SERVER"}
    procs = [
        subprocess.Popen(
            [sys.executable, "-m", "shipyard", "release", "--push", "--json"],
            cwd=cwd,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=env,
        )
        for cwd in (root, other)
    ]
    results = [(p.wait(120), p.stdout.read() if p.stdout else "") for p in procs]
    codes = sorted(code for code, _ in results)
    assert codes == [0, 7], results
    assert _remote(remote, "tag", "--list").split() == ["v1.4.2", "v1.5.0"]
    loser = next(cwd for cwd, (code, _) in zip((root, other), results, strict=True) if code == 7)
    assert gitrepo.git(loser, "tag", "--list") == "v1.4.2"
    assert gitrepo.git(loser, "status", "--porcelain") == ""


def test_push_without_a_remote_changes_nothing(tmp_path: Path) -> None:
    """`--push` in a repository without a remote exits 2 with remote-missing before tagging."""
    root = gitrepo.init(tmp_path / "solo")
    gitrepo.commit(
        root, "feat: a", {"shipyard.yaml": "project: solo\n", ".gitignore": ".shipyard/\n"}
    )
    proc = shipyard("release", "--push", "--json", cwd=root)
    assert proc.returncode == 2 and as_json(proc)["error"]["code"] == "remote-missing"
    assert gitrepo.git(root, "tag", "--list") == "" and not (root / "CHANGELOG.md").exists()


def test_missing_or_unknown_version_file_is_refused_before_anything(tmp_path: Path) -> None:
    """A listed version file that does not exist, or whose format is unknown, stops the release
    with its own code and leaves no tag or changelog."""
    root = gitrepo.init(tmp_path / "shop")
    spec = "project: shop\nrelease:\n  version_files: [pyproject.toml]\n"
    gitrepo.commit(root, "feat: a", {"shipyard.yaml": spec, ".gitignore": ".shipyard/\n"})
    proc = shipyard("release", "--json", cwd=root)
    assert proc.returncode == 2 and as_json(proc)["error"]["code"] == "version-file-missing"
    gitrepo.commit(root, "chore: x", {"shipyard.yaml": spec.replace("pyproject.toml", "setup.py")})
    proc = shipyard("release", "--json", cwd=root)
    assert proc.returncode == 2 and as_json(proc)["error"]["code"] == "version-file-unsupported"
    assert gitrepo.git(root, "tag", "--list") == "" and not (root / "CHANGELOG.md").exists()
