"""`shipyard version`, `release` and `artifacts` as a user runs them in a real git repository."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tests import gitrepo
from tests.e2e.helpers import as_json, shipyard

SPEC = (
    "project: shop\n"
    "pipeline:\n  jobs:\n    build:\n"
    "      run: mkdir -p dist && printf 'built bytes' > dist/shop.zip\n"
    "      outputs: ['dist/*.zip']\n"
    "      artifact: shop\n"
    "release:\n  prerelease_branches: {next: rc}\n"
)


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    root = gitrepo.init(tmp_path / "shop")
    gitrepo.commit(
        root, "feat: first", {"shipyard.yaml": SPEC, ".gitignore": ".shipyard/\ndist/\n"}
    )
    return root


def _dist(root: Path, text: str = "built bytes") -> None:
    (root / "dist").mkdir(exist_ok=True)
    (root / "dist" / "shop.zip").write_text(text)


def test_version_explains_and_changes_nothing(repo: Path) -> None:
    """`version` names the next version, the deciding commits and ignored messages, and no tag
    or file appears."""
    gitrepo.tag(repo, "v1.0.0")
    fix = gitrepo.commit(repo, "fix: a bug")
    feat = gitrepo.commit(repo, "feat(api): a thing")
    gitrepo.commit(repo, "update stuff")
    proc = shipyard("version", "--json", cwd=repo)
    data = as_json(proc)
    assert proc.returncode == 0 and data["version"] == "1.1.0" and data["previous"] == "1.0.0"
    assert [d["sha"] for d in data["deciding"]] == [feat] and fix not in str(data["deciding"])
    assert data["ignored"][0]["subject"] == "update stuff"
    human = shipyard("version", cwd=repo).stdout
    assert "1.0.0 -> 1.1.0" in human and "feat(api): a thing" in human and "ignored" in human
    assert gitrepo.git(repo, "tag", "--list") == "v1.0.0"
    assert not (repo / "CHANGELOG.md").exists()


def test_release_tags_writes_changelog_and_publishes(repo: Path, tmp_path: Path) -> None:
    """`release` writes CHANGELOG.md, tags it, publishes the dist/shop.zip the pipeline run it
    started built, which then lists,
    verifies and downloads; a second release has nothing to do: exit 5, or 0 with --allow-empty."""
    gitrepo.commit(repo, "fix: a bug")
    proc = shipyard("release", "--json", cwd=repo)
    data = as_json(proc)
    assert proc.returncode == 0, proc.stderr
    assert data["released"] is True and data["tag"] == "v0.1.0"
    assert gitrepo.git(repo, "describe", "--tags", "--exact-match") == "v0.1.0"
    changelog = (repo / "CHANGELOG.md").read_text()
    assert "## 0.1.0" in changelog and "### Features" in changelog and "### Bug fixes" in changelog
    assert gitrepo.git(repo, "cat-file", "-t", "v0.1.0") == "tag"  # annotated, not lightweight
    listed = as_json(shipyard("artifacts", "list", "--json", cwd=repo))["artifacts"]
    assert [(a["name"], a["version"]) for a in listed] == [("shop", "0.1.0")]
    verified = shipyard("artifacts", "verify", "shop@0.1.0", cwd=repo)
    assert verified.returncode == 0 and "verified shop@0.1.0" in verified.stdout
    out = tmp_path / "copy.zip"
    assert shipyard("artifacts", "download", "shop@0.1.0", "-o", str(out), cwd=repo).returncode == 0
    assert out.read_text() == "built bytes"
    again = shipyard("release", cwd=repo)
    assert again.returncode == 5 and "error[nothing-to-release]" in again.stderr
    assert "nothing to release since 0.1.0" in again.stderr
    allowed = shipyard("release", "--allow-empty", cwd=repo)
    assert allowed.returncode == 0 and "nothing to release since 0.1.0" in allowed.stdout
    events = as_json(shipyard("audit", "log", "--kind", "release.created", "--json", cwd=repo))
    assert events["events"][0]["payload"]["commits"][0]["time"].endswith("Z")


def test_dry_run_changes_nothing(repo: Path) -> None:
    """`release --dry-run` shows the changelog and leaves no tag, file or record."""
    proc = shipyard("release", "--dry-run", cwd=repo)
    assert proc.returncode == 0 and "would release v0.1.0" in proc.stdout
    assert gitrepo.git(repo, "tag", "--list") == "" and not (repo / "CHANGELOG.md").exists()


def test_tampered_artifact_exits_4(repo: Path) -> None:
    """A flipped byte in a published artifact makes `artifacts verify` exit 4."""
    assert shipyard("release", cwd=repo).returncode == 0
    show = as_json(shipyard("artifacts", "show", "shop@0.1.0", "--json", cwd=repo))
    blob = repo / ".shipyard" / "cas" / "blobs" / show["digest"][7:9] / show["digest"][7:]
    os.chmod(blob, 0o644)
    blob.write_bytes(b"X" + blob.read_bytes()[1:])
    proc = shipyard("artifacts", "verify", "shop@0.1.0", cwd=repo)
    assert proc.returncode == 4 and "error[artifact-tampered]" in proc.stderr


def test_not_a_git_repo(tmp_path: Path) -> None:
    """Outside a git repository `version` exits 2 with not-a-git-repo and a hint."""
    (tmp_path / "shipyard.yaml").write_text("project: shop\n")
    proc = shipyard("version", cwd=tmp_path)
    assert proc.returncode == 2 and "error[not-a-git-repo]" in proc.stderr
    assert "hint:" in proc.stderr


def test_dirty_tree_is_refused(repo: Path) -> None:
    """A modified tracked file stops `release` with worktree-dirty, exit 5, and no tag."""
    (repo / "shipyard.yaml").write_text(SPEC + "# edited\n")
    proc = shipyard("release", cwd=repo)
    assert proc.returncode == 5 and "error[worktree-dirty]" in proc.stderr
    assert gitrepo.git(repo, "tag", "--list") == ""


PUB = ("artifacts", "publish", "shop")


@pytest.mark.parametrize(
    ("args", "status", "code"),
    [
        (("artifacts", "show", "shop@9.9.9"), 6, "artifact-not-found"),
        (("artifacts", "verify", "shop-1.0.0"), 2, "artifact-ref-invalid"),
        ((*PUB, "missing.zip", "--version", "1.0.0"), 2, "artifact-file-missing"),
        ((*PUB, "shipyard.yaml", "--version", "not ok"), 2, "artifact-version-invalid"),
        (("release", "--artifact", "nofile"), 2, "artifact-arg-invalid"),
    ],
)
def test_bad_artifact_input(repo: Path, args: tuple[str, ...], status: int, code: str) -> None:
    """Unknown artifacts, malformed NAME@VERSION and bad publish input exit non-zero with a code."""
    proc = shipyard(*args, "--json", cwd=repo)
    assert proc.returncode == status and as_json(proc)["error"]["code"] == code


def test_publish_twice_and_other_bytes(repo: Path) -> None:
    """`artifacts publish` of the same bytes twice is a no-op; other bytes exit 7."""
    _dist(repo)
    args = ("artifacts", "publish", "shop", "dist/shop.zip", "--version", "2.0.0", "--json")
    assert as_json(shipyard(*args, cwd=repo))["published"] is True
    assert as_json(shipyard(*args, cwd=repo))["published"] is False
    _dist(repo, "other bytes")
    proc = shipyard(*args, cwd=repo)
    assert proc.returncode == 7 and as_json(proc)["error"]["code"] == "artifact-immutable"


def test_maintenance_branch_refuses_a_feature(repo: Path) -> None:
    """On release/1.4.x a feat commit is refused with maintenance-bump-refused; a fix is 1.4.1."""
    gitrepo.tag(repo, "v1.4.0")
    gitrepo.git(repo, "checkout", "-q", "-b", "release/1.4.x")
    gitrepo.commit(repo, "fix: patch it")
    assert as_json(shipyard("version", "--json", cwd=repo))["version"] == "1.4.1"
    gitrepo.commit(repo, "feat: not here")
    proc = shipyard("version", cwd=repo)
    assert proc.returncode == 5 and "error[maintenance-bump-refused]" in proc.stderr


def test_prerelease_branch_numbers_release_candidates(repo: Path) -> None:
    """On the `next` branch (rc channel) a feature after 1.0.0 releases 1.1.0-rc.1, then rc.2."""
    gitrepo.tag(repo, "v1.0.0")
    gitrepo.git(repo, "checkout", "-q", "-b", "next")
    gitrepo.commit(repo, "feat: new")
    first = as_json(shipyard("release", "--json", cwd=repo))
    assert first["version"] == "1.1.0-rc.1" and first["tag"] == "v1.1.0-rc.1"
    gitrepo.commit(repo, "fix: more")
    assert as_json(shipyard("version", "--json", cwd=repo))["version"] == "1.1.0-rc.2"


def test_monorepo_service_versions_its_own_paths(repo: Path) -> None:
    """`--service api` counts only commits under api/ and tags api@X.Y.Z."""
    gitrepo.commit(repo, "feat: web thing", {"web/x.py": "1"})
    gitrepo.commit(repo, "fix: api bug", {"api/x.py": "1"})
    data = as_json(shipyard("version", "--service", "api", "--json", cwd=repo))
    assert data["version"] == "0.1.0" and data["tag"] == "api@0.1.0"
    assert [d["header"] for d in data["deciding"]] == ["fix: api bug"]


def test_squash_merge_body_counts_each_commit(repo: Path) -> None:
    """A squash merge whose body lists a breaking change releases a major version."""
    gitrepo.tag(repo, "v1.2.0")
    gitrepo.commit(repo, "feat: bundle (#12)\n\n* fix: one\n\n* feat!: drop the old API\n")
    data = as_json(shipyard("version", "--json", cwd=repo))
    assert data["version"] == "2.0.0" and data["deciding"][0]["reason"] == "breaking"


def test_breaking_footer_is_a_major_release(repo: Path) -> None:
    """A BREAKING CHANGE footer bumps the major version and leads the changelog."""
    gitrepo.tag(repo, "v1.2.0")
    gitrepo.commit(repo, "refactor: config\n\nBREAKING CHANGE: settings moved to shop.toml")
    data = as_json(shipyard("release", "--json", cwd=repo))
    assert data["version"] == "2.0.0"
    text = (repo / "CHANGELOG.md").read_text()
    assert text.index("### Breaking changes") < text.index("settings moved")


def test_existing_tag_is_refused(repo: Path) -> None:
    """If the next version's tag exists elsewhere, release exits 7 and leaves it alone."""
    gitrepo.tag(repo, "v1.0.0")
    gitrepo.git(repo, "checkout", "-q", "-b", "side")
    gitrepo.commit(repo, "fix: side")
    gitrepo.tag(repo, "v1.0.1")
    gitrepo.git(repo, "checkout", "-q", "main")
    gitrepo.commit(repo, "fix: main")
    proc = shipyard("release", "--json", cwd=repo)
    assert proc.returncode == 7 and as_json(proc)["error"]["code"] == "version-exists"
