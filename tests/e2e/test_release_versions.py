"""Versions on real histories, through the CLI in fresh git repositories: tag formats,
pre-release-only histories, squash bullets, nothing to release, the source URI of provenance."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from tests import gitrepo
from tests.e2e.helpers import as_json, shipyard

DOCS = Path(__file__).resolve().parents[2] / "docs"


def _repo(tmp_path: Path, release: str = "") -> Path:
    root = gitrepo.init(tmp_path / "shop")
    spec = "project: shop\n" + (f"release:\n{release}" if release else "")
    gitrepo.commit(root, "chore: start", {"shipyard.yaml": spec, ".gitignore": ".shipyard/\n"})
    return root


def _set_release(root: Path, release: str) -> None:
    gitrepo.commit(
        root, "chore: configure", {"shipyard.yaml": f"project: shop\nrelease:\n{release}"}
    )


def test_tags_of_another_format_are_named_and_a_fresh_start_is_refused(tmp_path: Path) -> None:
    """With only `release-2.3.0` tags, `version` says they follow another format and `release`
    refuses with tag-format-mismatch instead of tagging v0.1.0; once
    `release.tag_format: release-{version}` is set the next release is release-2.4.0."""
    root = _repo(tmp_path)
    gitrepo.tag(root, "release-2.2.0")
    gitrepo.commit(root, "fix: a")
    gitrepo.tag(root, "release-2.3.0")
    gitrepo.commit(root, "feat: b")
    shown = as_json(shipyard("version", "--json", cwd=root))
    assert any("release-2.3.0" in w and "release-{version}" in w for w in shown["warnings"])
    assert "release-2.3.0" in shipyard("version", cwd=root).stdout
    refused = shipyard("release", "--json", cwd=root)
    error = as_json(refused)["error"]
    assert refused.returncode == 5 and error["code"] == "tag-format-mismatch"
    assert "tag_format: 'release-{version}'" in error["hint"]
    assert gitrepo.git(root, "tag", "--list", "v*") == ""
    _set_release(root, "  tag_format: release-{version}\n")
    done = as_json(shipyard("release", "--json", cwd=root))
    assert (done["previous"], done["version"], done["tag"]) == ("2.3.0", "2.4.0", "release-2.4.0")
    assert done["warnings"] == []
    assert gitrepo.git(root, "describe", "--tags", "--exact-match") == "release-2.4.0"


def test_unprefixed_tags_are_read_and_written_unprefixed(tmp_path: Path) -> None:
    """With `tag_format: "{version}"` a bare 1.2.3 tag is the last release and 1.2.4 is tagged
    bare; with the default format a bare tag is reported, not silently continued as v1.2.4."""
    root = _repo(tmp_path)
    gitrepo.tag(root, "1.2.3")
    gitrepo.commit(root, "fix: a")
    default = shipyard("release", "--json", cwd=root)
    assert default.returncode == 5 and as_json(default)["error"]["code"] == "tag-format-mismatch"
    _set_release(root, '  tag_format: "{version}"\n')
    done = as_json(shipyard("release", "--json", cwd=root))
    assert (done["previous"], done["tag"]) == ("1.2.3", "1.2.4")
    assert sorted(gitrepo.git(root, "tag", "--list").split()) == ["1.2.3", "1.2.4"]


def test_invalid_tag_format_names_the_line(tmp_path: Path) -> None:
    """A tag format without {version} is a shipyard.yaml error with its position."""
    root = _repo(tmp_path, "  tag_format: release\n")
    proc = shipyard("version", cwd=root)
    assert proc.returncode == 2 and "error[spec-type]" in proc.stderr
    assert "shipyard.yaml:3:15: release.tag_format" in proc.stderr and "{version}" in proc.stderr


def test_prereleases_only_then_main_releases_the_final_version(tmp_path: Path) -> None:
    """With only 1.0.0-rc.1 and rc.2 tagged on `next`, merging into main releases 1.0.0, not
    0.1.0, as semantic-release would (its first release is 1.0.0)."""
    root = _repo(tmp_path, "  prerelease_branches: {next: rc}\n")
    gitrepo.git(root, "checkout", "-q", "-b", "next")
    gitrepo.commit(root, "feat: first public API")
    gitrepo.tag(root, "v1.0.0-rc.1")
    gitrepo.commit(root, "fix: rough edge")
    assert as_json(shipyard("release", "--json", cwd=root))["tag"] == "v1.0.0-rc.2"
    gitrepo.git(root, "checkout", "-q", "main")
    gitrepo.git(root, "merge", "-q", "--no-ff", "-m", "Merge branch 'next'", "next")
    planned = as_json(shipyard("version", "--json", cwd=root))
    assert (planned["previous"], planned["version"]) == ("1.0.0-rc.2", "1.0.0")
    done = as_json(shipyard("release", "--json", cwd=root))
    assert done["tag"] == "v1.0.0"
    gitrepo.commit(root, "fix: after")
    assert as_json(shipyard("version", "--json", cwd=root))["version"] == "1.0.1"


def test_squash_bullets_setting(tmp_path: Path) -> None:
    """`release.squash_bullets: false` counts a squash merge by its title alone."""
    root = _repo(tmp_path)
    gitrepo.tag(root, "v1.0.0")
    gitrepo.commit(root, "fix: deps (#5)\n\n* feat!: drop node 14\n\n* fix: lockfile")
    assert as_json(shipyard("version", "--json", cwd=root))["version"] == "2.0.0"
    _set_release(root, "  squash_bullets: false\n")
    assert as_json(shipyard("version", "--json", cwd=root))["version"] == "1.0.1"


def test_reverted_breaking_change_in_a_squash_is_not_a_major(tmp_path: Path) -> None:
    """A `* feat!:` bullet that the same pull request reverted does not make a major release,
    and `version` says it was reverted."""
    root = _repo(tmp_path)
    gitrepo.tag(root, "v1.0.0")
    gitrepo.commit(
        root,
        "feat: new api (#7)\n\n* feat!: drop the v1 endpoints\n\n"
        '* Revert "feat!: drop the v1 endpoints"\n\n  This reverts commit '
        "0a1b2c3d4e5f60718293a4b5c6d7e8f901234567.\n",
    )
    data = as_json(shipyard("version", "--json", cwd=root))
    assert data["version"] == "1.1.0"
    assert any("reverted" in line for line in data["explain"])


def test_nothing_to_release_exit_status_matches_the_docs(tmp_path: Path) -> None:
    """`release` with nothing to release exits with the status docs/artifacts.md gives for
    nothing-to-release, and 0 with --allow-empty as documented."""
    root = _repo(tmp_path)
    gitrepo.tag(root, "v1.0.0")
    gitrepo.commit(root, "docs: readme")
    proc = shipyard("release", cwd=root)
    assert "error[nothing-to-release]" in proc.stderr
    docs = (DOCS / "artifacts.md").read_text()
    row = next(line for line in docs.splitlines() if "`nothing-to-release`" in line)
    assert row.startswith("|") and int(row.split("|")[2]) == proc.returncode == 5
    assert re.search(r"exits 5\b", docs) and not re.search(
        r"nothing to release.{0,80}exits 0", docs
    )
    assert shipyard("release", "--allow-empty", cwd=root).returncode == 0


@pytest.mark.parametrize(
    ("remote", "uri"),
    [
        (None, None),
        (
            "https://ci-bot:s3cr3t-token@git.example.com/acme/shop.git",
            "git+https://git.example.com/acme/shop.git",
        ),
        ("git@git.example.com:acme/shop.git", "git+ssh://git@git.example.com/acme/shop.git"),
    ],
)
def test_provenance_source_is_a_uri(tmp_path: Path, remote: str | None, uri: str | None) -> None:
    """The released artifact's provenance names its source as a git+ URI: the remote's URL
    without credentials, or git+file:// and the absolute path without a remote."""
    root = _repo(tmp_path)
    if remote:
        gitrepo.git(root, "remote", "add", "origin", remote)
    build = (
        "project: shop\npipeline:\n  jobs:\n    build:\n      run: printf bytes > shop.zip\n"
        "      outputs: [shop.zip]\n      artifact: shop\n"
    )
    gitrepo.commit(root, "fix: a", {"shipyard.yaml": build, ".gitignore": ".shipyard/\nshop.zip\n"})
    proc = shipyard("release", "--json", cwd=root)
    assert proc.returncode == 0, proc.stderr
    shown = shipyard("artifacts", "show", "shop@0.1.0", "--json", cwd=root)
    source = as_json(shown)["provenance"]["buildDefinition"]["resolvedDependencies"][0]
    assert source["uri"] == (uri or f"git+file://{root.resolve()}")
    assert "s3cr3t" not in shown.stdout + proc.stdout
