"""Git through the plain `git` command: history, branch, head, tags. Never touches the network.

Every failure of `git` is translated into a ``shipyard.errors`` error with a code and a hint.
"""

from __future__ import annotations

import os
import re
import subprocess
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from shipyard.errors import Conflict, InputError, NotFound, Refused, ShipyardError

# Field and record separators that cannot appear in a commit message typed by a person.
_FS, _RS = "\x1f", "\x1e"


class NotAGitRepo(InputError):
    code = "not-a-git-repo"
    default_hint = "run this inside a git repository (`git init`), or pass --dir"


class GitMissing(ShipyardError):
    code = "git-missing"
    default_hint = "install git and make sure it is on PATH"


class GitFailed(ShipyardError):
    code = "git-failed"


class RefUnknown(NotFound):
    code = "git-ref-unknown"
    default_hint = "check the name with `git tag --list` or `git branch --all`"


class NoCommits(InputError):
    code = "git-no-commits"
    default_hint = "commit something first; a release names a commit"


class DetachedHead(InputError):
    code = "git-detached-head"
    default_hint = "check out a branch, or pass --branch to say which branch this commit is on"


class WorktreeDirty(Refused):
    code = "worktree-dirty"
    default_hint = "commit or stash your changes (`git stash`), then release again"


class TagExists(Conflict):
    code = "tag-exists"
    default_hint = "fetch the tags (`git fetch --tags`) so the last version is the newest one"


class IdentityMissing(InputError):
    code = "git-identity-missing"
    default_hint = (
        "set who you are: `git config user.name 'Your Name'` and "
        "`git config user.email you@example.com`"
    )


class RemoteMissing(InputError):
    code = "remote-missing"
    default_hint = "add one (`git remote add origin URL`), or pass --remote NAME"


class PushRejected(Conflict):
    code = "push-rejected"
    default_hint = (
        "the remote moved on: `git pull --rebase` (and `git fetch --tags`), then release again"
    )


class PushFailed(ShipyardError):
    code = "push-failed"
    default_hint = "check the remote's URL and your access to it (`git push --dry-run`)"


# user:password@ (or a token) in a URL git echoes back; never shown.
_CREDENTIALS_RE = re.compile(r"(\b[a-zA-Z][a-zA-Z0-9+.-]*://)[^/\s@]+@")


def redact(text: str) -> str:
    return _CREDENTIALS_RE.sub(r"\1", text)


@dataclass(frozen=True)
class GitCommit:
    sha: str
    message: str
    author: str
    author_email: str
    authored_at: str  # ISO 8601 UTC
    committed_at: str  # ISO 8601 UTC
    files: tuple[str, ...]


@dataclass(frozen=True)
class Tag:
    name: str
    commit: str  # the commit the tag points at (peeled for annotated tags)


def _utc(iso: str) -> str:
    return datetime.fromisoformat(iso).astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


class GitRepo:
    """One work tree; ``root`` is its top folder."""

    def __init__(self, root: Path) -> None:
        self.root = root

    @classmethod
    def open(cls, path: Path) -> GitRepo:
        if not path.is_dir():
            raise NotAGitRepo(f"{path} is not a folder")
        proc = _run(["rev-parse", "--show-toplevel"], path)
        if proc.returncode != 0:
            raise NotAGitRepo(f"{path} is not inside a git repository")
        return cls(Path(proc.stdout.strip()))

    def git(self, *args: str) -> str:
        proc = _run(list(args), self.root)
        if proc.returncode != 0:
            raise _translate(args, proc.stderr)
        return proc.stdout

    # -- where we are ---------------------------------------------------------------------

    def head(self) -> str:
        proc = _run(["rev-parse", "--verify", "-q", "HEAD^{commit}"], self.root)
        if proc.returncode != 0:
            raise NoCommits(f"the repository at {self.root} has no commits yet")
        return proc.stdout.strip()

    def branch(self) -> str:
        proc = _run(["symbolic-ref", "--short", "-q", "HEAD"], self.root)
        if proc.returncode != 0:
            raise DetachedHead(f"HEAD in {self.root} is not on a branch")
        return proc.stdout.strip()

    def resolve(self, ref: str) -> str:
        proc = _run(["rev-parse", "--verify", "-q", f"{ref}^{{commit}}"], self.root)
        if proc.returncode != 0:
            raise RefUnknown(f"'{ref}' names no commit in {self.root}")
        return proc.stdout.strip()

    def remote(self) -> str | None:
        """The remote the checked-out branch tracks, else ``origin`` if there is one."""
        proc = _run(["symbolic-ref", "--short", "-q", "HEAD"], self.root)
        branch = proc.stdout.strip() if proc.returncode == 0 else ""
        if branch:
            tracked = _run(["config", "--get", f"branch.{branch}.remote"], self.root)
            name = tracked.stdout.strip()
            if tracked.returncode == 0 and name and name != ".":
                return name
        names = self.git("remote").split()
        return "origin" if "origin" in names else None

    def remote_url(self, name: str | None = None) -> str | None:
        """The URL ``git fetch`` uses for the remote (``insteadOf`` applied), None without one."""
        name = name or self.remote()
        if name is None:
            return None
        proc = _run(["remote", "get-url", name], self.root)
        return proc.stdout.strip() if proc.returncode == 0 else None

    def push(self, remote: str, refspecs: list[str]) -> None:
        """Push all of ``refspecs`` or none (``--atomic``), never forcing."""
        proc = _run(["push", "--atomic", "--porcelain", remote, *refspecs], self.root)
        if proc.returncode == 0:
            return
        said = redact((proc.stderr + "\n" + proc.stdout).strip())
        lines = [line.strip() for line in said.splitlines() if line.strip()]
        rejected = [line for line in lines if line.startswith("!") or "[rejected]" in line]
        if rejected:
            raise PushRejected(
                f"{remote} refused the push: {'; '.join(rejected)}",
                details={"remote": remote, "refs": refspecs},
            )
        reason = lines[-1] if lines else "no message"
        raise PushFailed(f"pushing to {remote} failed: {reason}", details={"remote": remote})

    def dirty_files(self) -> list[str]:
        """Tracked files changed but not committed; untracked files do not count."""
        out = self.git("status", "--porcelain", "--untracked-files=no", "-z")
        return [entry[3:] for entry in out.split("\0") if entry]

    def require_clean(self) -> None:
        dirty = self.dirty_files()
        if dirty:
            shown = ", ".join(dirty[:5]) + (" …" if len(dirty) > 5 else "")
            raise WorktreeDirty(
                f"the work tree has uncommitted changes: {shown}", details={"files": dirty}
            )

    # -- history --------------------------------------------------------------------------

    def commits(
        self, since: str | None = None, until: str = "HEAD", paths: tuple[str, ...] = ()
    ) -> list[GitCommit]:
        """Commits reachable from ``until`` but not from ``since``, oldest first, merges left out.

        Merge commits carry no change of their own here; the commits they bring in are listed.
        """
        until_sha = self.resolve(until)
        span = f"{self.resolve(since)}..{until_sha}" if since else until_sha
        fmt = _RS + _FS.join(["%H", "%an", "%ae", "%aI", "%cI", "%B"]) + _FS
        out = self.git(
            "-c", "core.quotepath=off", "log", "--no-merges", "--reverse", "-z", "--name-only",
            f"--format={fmt}", span, "--", *paths,
        )  # fmt: skip
        commits = []
        for record in out.split(_RS)[1:]:
            sha, author, email, authored, committed, message, rest = record.split(_FS, 6)
            files = tuple(f.strip("\n") for f in rest.split("\0") if f.strip("\n"))
            commits.append(
                GitCommit(
                    sha, message.strip("\n"), author, email, _utc(authored), _utc(committed), files
                )
            )
        return commits

    # -- tags -----------------------------------------------------------------------------

    def tags(self, merged_into: str | None = None) -> list[Tag]:
        """Every tag, or only those whose commit is reachable from ``merged_into``."""
        args = ["for-each-ref", "--format=%(refname:short)%00%(objectname)%00%(*objectname)"]
        if merged_into is not None:
            args.append(f"--merged={self.resolve(merged_into)}")
        out = self.git(*args, "refs/tags")
        tags = []
        for line in out.splitlines():
            name, obj, peeled = line.split("\0")
            tags.append(Tag(name, peeled or obj))
        return tags

    def tag_exists(self, name: str) -> bool:
        return _run(["rev-parse", "--verify", "-q", f"refs/tags/{name}"], self.root).returncode == 0

    def create_tag(self, name: str, commit: str, message: str) -> None:
        """An annotated tag; refuses to move a tag that exists."""
        if self.tag_exists(name):
            raise TagExists(f"tag {name} already exists", details={"tag": name})
        # verbatim: the message holds markdown headings, which git would strip as comments.
        self.git("tag", "-a", "--cleanup=verbatim", name, "-m", message, commit)

    def delete_tag(self, name: str) -> None:
        self.git("tag", "-d", name)

    def commit_paths(self, paths: list[str], message: str) -> str:
        """Commit exactly these paths (nothing else that is staged) and return the new sha."""
        self.git("add", "--", *paths)
        self.git("commit", "-q", "-m", message, "--only", "--", *paths)
        return self.head()


def commit_trees(git_root: Path, commits: list[str]) -> dict[str, str]:
    """Commit -> tree, in one `git cat-file --batch-check`; unknown commits are left out."""
    if not commits:
        return {}
    proc = subprocess.run(
        ["git", "cat-file", "--batch-check=%(objectname) %(objecttype)"],
        cwd=git_root,
        input="".join(f"{c}^{{tree}}\n" for c in commits),
        capture_output=True,
        text=True,
        check=False,
    )
    out: dict[str, str] = {}
    for commit, line in zip(commits, proc.stdout.splitlines(), strict=False):
        sha, _, kind = line.partition(" ")
        if kind == "tree":
            out[commit] = sha
    return out


def _run(args: list[str], cwd: Path) -> subprocess.CompletedProcess[str]:
    # A fixed locale so messages can be matched; no prompts, no pager, no system hooks on tags.
    env = {**os.environ, "LC_ALL": "C", "GIT_TERMINAL_PROMPT": "0", "GIT_PAGER": "cat"}
    try:
        return subprocess.run(
            ["git", *args], cwd=cwd, env=env, capture_output=True, text=True, check=False
        )
    except FileNotFoundError as exc:
        raise GitMissing("the `git` command was not found") from exc


def _translate(args: tuple[str, ...], stderr: str) -> ShipyardError:
    reason = stderr.strip().splitlines()[-1] if stderr.strip() else "no message"
    if "not a git repository" in stderr:
        return NotAGitRepo(reason)
    if "Please tell me who you are" in stderr or "empty ident" in stderr:
        return IdentityMissing("git does not know who is committing or tagging")
    if "unknown revision" in stderr or "bad revision" in stderr or "not a valid" in stderr:
        return RefUnknown(reason)
    if "already exists" in stderr:
        return TagExists(reason)
    return GitFailed(f"`git {' '.join(args[:2])}` failed: {reason}", "run it by hand to see why")
