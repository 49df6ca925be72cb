"""The git adapter against real repositories built in temporary folders."""

from __future__ import annotations

from pathlib import Path

import pytest

from shipyard.adapters.vcs import git as g
from tests import gitrepo


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    return gitrepo.init(tmp_path / "repo")


def test_commits_since_a_tag_carry_sha_message_author_time_and_files(repo: Path) -> None:
    """Commits after a tag come oldest first with their message, author, UTC times and files."""
    gitrepo.commit(repo, "feat: one", {"a.py": "1"})
    gitrepo.tag(repo, "v0.1.0")
    second = gitrepo.commit(repo, "fix(api): two\n\nbody text", {"api/x.py": "2", "b.py": "2"})
    third = gitrepo.commit(repo, "docs: three", {"README.md": "3"})
    r = g.GitRepo.open(repo)
    commits = r.commits(since="v0.1.0")
    assert [c.sha for c in commits] == [second, third]
    assert commits[0].message == "fix(api): two\n\nbody text"
    assert commits[0].files == ("api/x.py", "b.py")
    assert commits[0].author == "Test Author"
    assert commits[0].committed_at.endswith("Z") and commits[0].authored_at.endswith("Z")
    assert [c.sha for c in r.commits(since="v0.1.0", paths=("api",))] == [second]


def test_head_branch_and_tags(repo: Path) -> None:
    """HEAD, the branch, and annotated tags peeled to their commits, also filtered by reach."""
    first = gitrepo.commit(repo, "feat: one")
    r = g.GitRepo.open(repo)
    r.create_tag("v1.0.0", first, "Release v1.0.0\n\n## 1.0.0")
    gitrepo.git(repo, "checkout", "-q", "-b", "other")
    second = gitrepo.commit(repo, "feat: two")
    r.create_tag("v1.1.0", second, "Release v1.1.0")
    gitrepo.git(repo, "checkout", "-q", "main")
    assert r.head() == first and r.branch() == "main"
    assert {(t.name, t.commit) for t in r.tags()} == {("v1.0.0", first), ("v1.1.0", second)}
    assert [t.name for t in r.tags(merged_into="HEAD")] == ["v1.0.0"]
    assert "## 1.0.0" in gitrepo.git(repo, "tag", "-l", "-n9", "v1.0.0")


def test_an_existing_tag_is_refused(repo: Path) -> None:
    """Creating a tag that exists raises tag-exists and leaves the tag where it was."""
    first = gitrepo.commit(repo, "feat: one")
    gitrepo.tag(repo, "v1.0.0")
    second = gitrepo.commit(repo, "feat: two")
    r = g.GitRepo.open(repo)
    with pytest.raises(g.TagExists) as err:
        r.create_tag("v1.0.0", second, "again")
    assert err.value.code == "tag-exists"
    assert r.resolve("v1.0.0") == first


def test_not_a_git_repo(tmp_path: Path) -> None:
    """A folder outside any repository raises not-a-git-repo with a hint."""
    with pytest.raises(g.NotAGitRepo) as err:
        g.GitRepo.open(tmp_path)
    assert err.value.code == "not-a-git-repo" and err.value.hint


def test_unknown_ref(repo: Path) -> None:
    """A ref that names nothing raises git-ref-unknown."""
    gitrepo.commit(repo, "feat: one")
    with pytest.raises(g.RefUnknown):
        g.GitRepo.open(repo).commits(since="v9.9.9")


def test_empty_repository_has_no_head(repo: Path) -> None:
    """A repository without commits raises git-no-commits."""
    with pytest.raises(g.NoCommits):
        g.GitRepo.open(repo).head()


def test_detached_head_has_no_branch(repo: Path) -> None:
    """A detached HEAD raises git-detached-head, whose hint mentions --branch."""
    sha = gitrepo.commit(repo, "feat: one")
    gitrepo.git(repo, "checkout", "-q", sha)
    with pytest.raises(g.DetachedHead) as err:
        g.GitRepo.open(repo).branch()
    assert "--branch" in err.value.hint


def test_dirty_tree_is_refused_but_untracked_files_are_not(repo: Path) -> None:
    """A modified tracked file makes the tree dirty; an untracked one does not."""
    gitrepo.commit(repo, "feat: one", {"a.py": "1"})
    r = g.GitRepo.open(repo)
    (repo / "new.txt").write_text("untracked")
    r.require_clean()
    (repo / "a.py").write_text("changed")
    with pytest.raises(g.WorktreeDirty) as err:
        r.require_clean()
    assert err.value.details["files"] == ["a.py"]


def test_missing_identity_is_translated(repo: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Tagging without a configured identity raises git-identity-missing with a hint."""
    sha = gitrepo.commit(repo, "feat: one")
    gitrepo.git(repo, "config", "--unset", "user.name")
    gitrepo.git(repo, "config", "--unset", "user.email")
    for var in ("GIT_AUTHOR_NAME", "GIT_AUTHOR_EMAIL", "GIT_COMMITTER_NAME", "GIT_COMMITTER_EMAIL"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("HOME", str(repo))  # no global config
    monkeypatch.setenv("GIT_CONFIG_NOSYSTEM", "1")
    monkeypatch.setenv("EMAIL", "")
    with pytest.raises(g.IdentityMissing) as err:
        g.GitRepo.open(repo).create_tag("v1.0.0", sha, "msg")
    assert "git config user.name" in err.value.hint
