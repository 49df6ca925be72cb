"""The actor's git user.email read from git's config files without starting git: the same
answer as `git config user.email` for each layout of config files."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from shipyard import identity

CASES = [
    ("global only", "[user]\n\temail = g@example.com\n", None, "g@example.com"),
    (
        "local wins",
        "[user]\n\temail = g@example.com\n",
        "[user]\n  email = l@example.com\n",
        "l@example.com",
    ),
    (
        "last one wins",
        None,
        "[user]\nemail = a@x\n[core]\n\tbare = false\n[User]\nEmail=b@x\n",
        "b@x",
    ),
    ("subsection ignored", '[user "work"]\n\temail = w@x\n', None, ""),
    ("no email", "[core]\n\tautocrlf = false\n", None, ""),
    ("header and key on one line", "[user] email = one@x\n", None, "one@x"),
    ("quoted", '[user]\n\temail = "q@x" # a comment\n', None, "q@x"),
]


@pytest.mark.parametrize(("name", "global_text", "local_text", "expected"), CASES)
def test_email_as_git_reads_it(
    name: str,
    global_text: str | None,
    local_text: str | None,
    expected: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """For each layout, the actor's email is what `git config user.email` prints."""
    home = tmp_path / "home"
    home.mkdir()
    repo = tmp_path / "repo"
    subprocess.run(["git", "init", "-q", str(repo)], check=True)
    for var in (
        "GIT_DIR",
        "GIT_CONFIG",
        "GIT_CONFIG_COUNT",
        "GIT_CONFIG_GLOBAL",
        "XDG_CONFIG_HOME",
    ):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.setenv("GIT_CONFIG_NOSYSTEM", "1")
    if global_text is not None:
        (home / ".gitconfig").write_text(global_text)
    if local_text is not None:
        with open(repo / ".git" / "config", "a") as fh:
            fh.write(local_text)
    git = subprocess.run(
        ["git", "config", "user.email"], cwd=repo, capture_output=True, text=True
    ).stdout.strip()
    assert git == expected
    assert identity._git_email(repo) == expected
