"""Which bump each commit type makes, configured in shipyard.yaml, and `release --bump`
overriding it with a reason recorded in the release event; through the CLI in a fresh repo."""

from __future__ import annotations

from pathlib import Path

from tests import gitrepo
from tests.e2e.helpers import as_json, shipyard


def _repo(tmp_path: Path, release: str = "") -> Path:
    root = gitrepo.init(tmp_path / "shop")
    spec = "project: shop\n" + (f"release:\n{release}" if release else "")
    gitrepo.commit(root, "chore: start", {"shipyard.yaml": spec, ".gitignore": ".shipyard/\n"})
    gitrepo.tag(root, "v1.4.2")
    return root


def test_configured_commit_types_decide_the_bump(tmp_path: Path) -> None:
    """`commit_types` adds a type (deps: patch), a scoped rule (docs(api): patch) and takes a
    default away (perf: none); the changelog gets a section for the new type."""
    root = _repo(tmp_path, "  commit_types: {deps: patch, docs(api): patch, perf: none}\n")
    gitrepo.commit(root, "perf: faster")
    gitrepo.commit(root, "docs(ui): screenshots")
    assert "nothing to release" in as_json(shipyard("version", "--json", cwd=root))["explain"][0]
    gitrepo.commit(root, "deps: bump httpx")
    gitrepo.commit(root, "docs(api): document /orders")
    data = as_json(shipyard("release", "--json", cwd=root))
    assert (data["version"], data["bump"]) == ("1.4.3", "patch")
    assert [d["header"] for d in data["deciding"]] == [
        "deps: bump httpx",
        "docs(api): document /orders",
    ]
    assert "### Deps" in (root / "CHANGELOG.md").read_text()


def test_bad_commit_types_name_the_line(tmp_path: Path) -> None:
    """A bump that is not major/minor/patch/none is a shipyard.yaml error at its position."""
    root = _repo(tmp_path, "  commit_types:\n    deps: huge\n")
    proc = shipyard("version", cwd=root)
    assert proc.returncode == 2 and "shipyard.yaml:4:" in proc.stderr and "huge" in proc.stderr


def test_bump_override_is_recorded_with_its_reason(tmp_path: Path) -> None:
    """`release --bump major --reason ...` releases 2.0.0 after a fix and records the override,
    what the commits asked for and the reason in release.created."""
    root = _repo(tmp_path)
    gitrepo.commit(root, "fix: the API change nobody marked")
    preview = shipyard("release", "--dry-run", "--bump", "major", "--reason", "unmarked", cwd=root)
    assert preview.returncode == 0 and "would release v2.0.0" in preview.stdout
    assert "set by --bump; the commits ask for patch" in preview.stdout
    reason = "the response format changed in #42 without a breaking marker"
    data = as_json(shipyard("release", "--bump", "major", "--reason", reason, "--json", cwd=root))
    assert (data["version"], data["bump"]) == ("2.0.0", "major")
    assert data["override"] == {"bump": "major", "computed": "patch", "reason": reason}
    log = as_json(shipyard("audit", "log", "--kind", "release.created", "--json", cwd=root))
    payload = log["events"][0]["payload"]
    assert payload["bump"] == "major" and payload["override"]["reason"] == reason
    assert payload["override"]["computed"] == "patch"


def test_bump_forces_a_release_with_nothing_releasable(tmp_path: Path) -> None:
    """`--bump patch` releases even when the commits ask for nothing."""
    root = _repo(tmp_path)
    gitrepo.commit(root, "docs: readme")
    data = as_json(
        shipyard("release", "--bump", "patch", "--reason", "rebuild", "--json", cwd=root)
    )
    assert data["tag"] == "v1.4.3" and data["override"]["computed"] == "none"


def test_bad_bump_input(tmp_path: Path) -> None:
    """An unknown level exits 2 with bump-invalid; --bump without --reason exits 2 with
    reason-missing; neither tags anything."""
    root = _repo(tmp_path)
    gitrepo.commit(root, "fix: a")
    bad = shipyard("release", "--bump", "huge", "--reason", "x", "--json", cwd=root)
    assert bad.returncode == 2 and as_json(bad)["error"]["code"] == "bump-invalid"
    bare = shipyard("release", "--bump", "major", "--json", cwd=root)
    assert bare.returncode == 2 and as_json(bare)["error"]["code"] == "reason-missing"
    assert gitrepo.git(root, "tag", "--list") == "v1.4.2"
