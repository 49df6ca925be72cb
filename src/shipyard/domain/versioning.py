"""Semantic versions from conventional commits, and the changelog that goes with them.

Pure: the caller hands in commit messages (and, for monorepos, the files each commit changed),
the last version, the branch and, for calendar versioning, today's date. Nothing here reads
git, the clock or the file system.

Precedence follows SemVer 2.0 section 11, not PEP 440: ``1.0.0-alpha.beta`` is a valid version
here, pre-release identifiers compare numerically or in ASCII order, and build metadata never
changes precedence. ``SemVer.to_pep440`` converts for Python packaging where that is needed.
"""

from __future__ import annotations

import enum
import fnmatch
import re
import textwrap
from collections.abc import Container, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import date
from typing import Literal

from shipyard.errors import Conflict, InputError, Refused

# --------------------------------------------------------------------------------------------
# Errors


class VersionInvalid(InputError):
    code = "version-invalid"
    default_hint = "use MAJOR.MINOR.PATCH with an optional -pre.release and +build, e.g. 1.4.0-rc.1"


class CalverFormatInvalid(InputError):
    code = "calver-invalid"
    default_hint = (
        "build the format from YYYY, YY, 0Y, MM, 0M, WW, 0W, DD, 0D and MICRO joined by dots, "
        "e.g. YYYY.MM.MICRO"
    )


class BranchInvalid(InputError):
    code = "branch-invalid"
    default_hint = "name maintenance branches after the line they maintain, e.g. release/1.4.x"


class BranchNotReleasable(Refused):
    code = "branch-not-releasable"
    default_hint = "release from a release, pre-release or maintenance branch, or add this one"


class MaintenanceBumpRefused(Refused):
    code = "maintenance-bump-refused"


class VersionOutOfRange(Refused):
    code = "version-out-of-range"


class VersionExists(Conflict):
    code = "version-exists"
    default_hint = "fetch the tags (`git fetch --tags`) so the last version is the newest one"


# --------------------------------------------------------------------------------------------
# SemVer 2.0

# The regular expression suggested by semver.org, with an optional leading "v" for tags.
_SEMVER_RE = re.compile(
    r"^v?(?P<major>0|[1-9]\d*)\.(?P<minor>0|[1-9]\d*)\.(?P<patch>0|[1-9]\d*)"
    r"(?:-(?P<pre>(?:0|[1-9]\d*|\d*[a-zA-Z-][0-9a-zA-Z-]*)"
    r"(?:\.(?:0|[1-9]\d*|\d*[a-zA-Z-][0-9a-zA-Z-]*))*))?"
    r"(?:\+(?P<build>[0-9a-zA-Z-]+(?:\.[0-9a-zA-Z-]+)*))?$"
)
_IDENT_RE = re.compile(r"^(?:0|[1-9]\d*|\d*[a-zA-Z-][0-9a-zA-Z-]*)$")
_BUILD_IDENT_RE = re.compile(r"^[0-9a-zA-Z-]+$")

# Numeric identifiers sort before alphanumeric ones (SemVer 11.4.3); the tuple's first item
# encodes that, the second carries the value compared within its kind.
_IdentKey = tuple[int, int, str]


def _ident_key(ident: str) -> _IdentKey:
    return (0, int(ident), "") if ident.isdigit() else (1, 0, ident)


@dataclass(frozen=True, slots=True)
class SemVer:
    """A SemVer 2.0 version. ``==`` compares every field; ``<`` and friends use precedence."""

    major: int
    minor: int
    patch: int
    prerelease: tuple[str, ...] = ()
    build: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if min(self.major, self.minor, self.patch) < 0:
            raise VersionInvalid(f"version numbers cannot be negative: {self.core}")
        for ident in self.prerelease:
            if not _IDENT_RE.match(ident):
                raise VersionInvalid(f"invalid pre-release identifier {ident!r}")
        for ident in self.build:
            if not _BUILD_IDENT_RE.match(ident):
                raise VersionInvalid(f"invalid build identifier {ident!r}")

    @classmethod
    def parse(cls, text: str) -> SemVer:
        """Parse ``1.2.3``, ``v1.2.3-rc.1`` or ``1.2.3+build.5``; raise ``version-invalid``."""
        m = _SEMVER_RE.match(text.strip())
        if m is None:
            raise VersionInvalid(f"{text!r} is not a semantic version")
        pre, build = m.group("pre"), m.group("build")
        return cls(
            int(m.group("major")),
            int(m.group("minor")),
            int(m.group("patch")),
            tuple(pre.split(".")) if pre else (),
            tuple(build.split(".")) if build else (),
        )

    def __str__(self) -> str:
        text = self.core
        if self.prerelease:
            text += "-" + ".".join(self.prerelease)
        if self.build:
            text += "+" + ".".join(self.build)
        return text

    @property
    def core(self) -> str:
        return f"{self.major}.{self.minor}.{self.patch}"

    @property
    def is_prerelease(self) -> bool:
        return bool(self.prerelease)

    def finalized(self) -> SemVer:
        """The release this version leads up to: no pre-release, no build."""
        return SemVer(self.major, self.minor, self.patch)

    def precedence_key(self) -> tuple[int, int, int, int, tuple[_IdentKey, ...]]:
        # A release sorts after all of its pre-releases (SemVer 11.3).
        return (
            self.major,
            self.minor,
            self.patch,
            0 if self.prerelease else 1,
            tuple(_ident_key(i) for i in self.prerelease),
        )

    def __lt__(self, other: SemVer) -> bool:
        return self.precedence_key() < other.precedence_key()

    def __le__(self, other: SemVer) -> bool:
        return self.precedence_key() <= other.precedence_key()

    def __gt__(self, other: SemVer) -> bool:
        return self.precedence_key() > other.precedence_key()

    def __ge__(self, other: SemVer) -> bool:
        return self.precedence_key() >= other.precedence_key()

    def bump(self, level: Bump) -> SemVer:
        """Increment like npm's ``semver.inc``: a pre-release of 1.4.0 bumps to 1.4.0 itself.

        So ``1.4.0-rc.2`` plus a fix or a feature releases ``1.4.0``, and only a change bigger
        than the one the pre-release already stands for moves past it.
        """
        pre = self.is_prerelease
        if level is Bump.MAJOR:
            if pre and self.minor == 0 and self.patch == 0:
                return self.finalized()
            return SemVer(self.major + 1, 0, 0)
        if level is Bump.MINOR:
            if pre and self.patch == 0:
                return self.finalized()
            return SemVer(self.major, self.minor + 1, 0)
        if level is Bump.PATCH:
            if pre:
                return self.finalized()
            return SemVer(self.major, self.minor, self.patch + 1)
        return self

    def to_pep440(self) -> str:
        """The PEP 440 spelling for Python packages: ``1.4.0-rc.1`` -> ``1.4.0rc1``."""
        if not self.prerelease:
            return self.core
        tags = {"alpha": "a", "a": "a", "beta": "b", "b": "b", "rc": "rc", "c": "rc"}
        tag = self.prerelease[0].lower()
        rest = self.prerelease[1:]
        number = rest[0] if rest and rest[0].isdigit() else "0"
        if tag in tags and len(rest) <= 1 and (not rest or rest[0].isdigit()):
            return f"{self.core}{tags[tag]}{int(number)}"
        if tag == "dev" and len(rest) <= 1 and (not rest or rest[0].isdigit()):
            return f"{self.core}.dev{int(number)}"
        raise VersionInvalid(
            f"{self} has no PEP 440 equivalent",
            "use a pre-release channel named alpha, beta, rc or dev for Python packages",
        )


def parse_version(text: str) -> SemVer:
    return SemVer.parse(text)


def compare(a: SemVer | str, b: SemVer | str) -> int:
    """-1, 0 or 1 by SemVer precedence (build metadata ignored)."""
    ka, kb = _as_semver(a).precedence_key(), _as_semver(b).precedence_key()
    return (ka > kb) - (ka < kb)


def _as_semver(v: SemVer | str) -> SemVer:
    return v if isinstance(v, SemVer) else SemVer.parse(v)


# --------------------------------------------------------------------------------------------
# Conventional commits


class Bump(enum.IntEnum):
    NONE = 0
    PATCH = 1
    MINOR = 2
    MAJOR = 3

    @property
    def label(self) -> str:
        return self.name.lower()


@dataclass(frozen=True, slots=True)
class Commit:
    """A commit as the git adapter reads it: ``files`` are the paths it changed."""

    sha: str
    message: str
    files: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class Footer:
    token: str
    value: str


@dataclass(frozen=True, slots=True)
class ConventionalCommit:
    """One conventional change; a squash merge yields several sharing one ``sha``."""

    sha: str
    type: str
    scope: str | None
    subject: str
    body: str = ""
    footers: tuple[Footer, ...] = ()
    breaking: bool = False
    breaking_note: str | None = None
    files: tuple[str, ...] = ()
    squashed: bool = False  # a sub-commit listed in a squash merge's body
    reverts: str | None = None  # for a revert: the header of the change it reverts
    reverts_sha: str | None = None  # and the commit, from "This reverts commit <sha>."

    @property
    def short_sha(self) -> str:
        return self.sha[:7]

    @property
    def header(self) -> str:
        scope = f"({self.scope})" if self.scope else ""
        bang = "!" if self.breaking and self.breaking_note is None else ""
        return f"{self.type}{scope}{bang}: {self.subject}"


# Types a squash body's lines may start with to count as a commit of their own; a footer such
# as "Reviewed-by: x" or a git header such as "Date: ..." must not.
KNOWN_TYPES = (
    "feat",
    "fix",
    "perf",
    "refactor",
    "docs",
    "style",
    "test",
    "build",
    "ci",
    "chore",
    "revert",
)
BREAKING_TOKENS = ("BREAKING CHANGE", "BREAKING-CHANGE")

_HEADER_RE = re.compile(
    r"^(?P<type>[A-Za-z][A-Za-z0-9_-]*)(?:\((?P<scope>[^()\r\n]*)\))?(?P<bang>!)?:[ \t]+"
    r"(?P<subject>\S.*?)\s*$"
)
_FOOTER_RE = re.compile(
    r"^(?P<token>BREAKING CHANGE|BREAKING-CHANGE|[A-Za-z][A-Za-z0-9-]*)"
    r"(?::[ \t]+(?P<value>.*)|[ \t](?P<ref>#.*))$"
)
_BREAKING_LINE_RE = re.compile(r"^BREAKING[ -]CHANGE:[ \t]*(?P<value>.*)$")
# Lines git writes into "Squashed commit of the following:" messages around each commit.
_SQUASH_NOISE_RE = re.compile(
    r"^\s*(?:commit [0-9a-f]{7,64}|(?:Author|AuthorDate|Commit|CommitDate|Date|Merge):\s.*"
    r"|Squashed commit of the following:)\s*$"
)
_GIT_COMMIT_RE = re.compile(r"^commit [0-9a-f]{7,64}\s*$")
_GIT_META_RE = re.compile(r"^(?:Author|AuthorDate|Commit|CommitDate|Date|Merge):\s")
# A squash body lists its commits at the left margin, bare or as bullets; a line indented by
# four columns is a Markdown code block and a fenced block is an example, never a commit.
_BULLET_RE = re.compile(r"^ {0,3}(?:[*+-][ \t]+)?")
_FENCE_RE = re.compile(r"^ {0,3}(?:```|~~~)")
_PR_SUFFIX_RE = re.compile(r"\s*\((?:#|!)\d+\)$")
# git's own revert message; GitHub keeps it as the title of a revert pull request.
_REVERT_RE = re.compile(r'^Revert "(?P<header>.+)"$')
_REVERTS_SHA_RE = re.compile(r"This reverts commit (?P<sha>[0-9a-f]{7,64})")


@dataclass(frozen=True, slots=True)
class ParsedCommits:
    """What ``parse_commits`` understood, the commits it could not read (for warnings), and
    the changes dropped because a later commit of the same range reverted them."""

    commits: tuple[ConventionalCommit, ...]
    ignored: tuple[Commit, ...]
    reverted: tuple[ConventionalCommit, ...] = ()


def parse_message(
    message: str, sha: str = "", files: Sequence[str] = ()
) -> ConventionalCommit | None:
    """One message (header, body, footers) -> a conventional commit, or None if it is not one.

    git's ``Revert "feat: x"`` reads as a ``revert`` commit of ``feat: x``, as
    conventional-commits-parser's default ``revertPattern`` reads it.
    """
    lines = message.strip("\n").splitlines()
    if not lines:
        return None
    first = lines[0].strip()
    m = _HEADER_RE.match(first)
    rev = _REVERT_RE.match(_PR_SUFFIX_RE.sub("", first)) if m is None else None
    if (m is None and rev is None) or (m is not None and m.group("type") == "BREAKING-CHANGE"):
        return None
    rest = lines[1:]
    while rest and not rest[0].strip():
        rest = rest[1:]
    while rest and not rest[-1].strip():
        rest = rest[:-1]
    start = _footer_start(rest)
    body_lines, footer_lines = rest[:start], rest[start:]
    footers = _parse_footers(footer_lines)
    note = next((f.value for f in footers if f.token in BREAKING_TOKENS), None)
    if note is None:
        # A breaking note in the body, e.g. followed by more prose, still breaks the API.
        note = _breaking_in_body(body_lines)
    body = "\n".join(body_lines).strip()
    if m is not None:
        kind, scope, subject = m.group("type").lower(), m.group("scope"), m.group("subject")
        breaking = m.group("bang") is not None or note is not None
    else:
        assert rev is not None
        kind, scope, subject = "revert", None, rev.group("header")
        breaking = note is not None
    reverted_sha = _REVERTS_SHA_RE.search("\n".join(rest)) if kind == "revert" else None
    return ConventionalCommit(
        sha=sha,
        type=kind,
        scope=(scope.strip() or None) if scope is not None else None,
        subject=subject,
        body=body,
        footers=footers,
        breaking=breaking,
        breaking_note=note or None,
        files=tuple(files),
        reverts=subject if kind == "revert" else None,
        reverts_sha=reverted_sha.group("sha") if reverted_sha else None,
    )


def _footer_start(lines: Sequence[str]) -> int:
    """Index of the first footer line: a token line after a blank line, such that every later
    paragraph starts with a token too (the spec lets a footer's value run over several lines).
    """
    for i, line in enumerate(lines):
        if (i == 0 or not lines[i - 1].strip()) and _FOOTER_RE.match(line):
            later = [
                lines[j]
                for j in range(i + 1, len(lines))
                if lines[j].strip() and not lines[j - 1].strip()
            ]
            if all(_FOOTER_RE.match(p) for p in later):
                return i
    return len(lines)


def _parse_footers(lines: Sequence[str]) -> tuple[Footer, ...]:
    footers: list[tuple[str, list[str]]] = []
    for line in lines:
        m = _FOOTER_RE.match(line)
        if m is not None:
            footers.append((m.group("token"), [m.group("value") or m.group("ref") or ""]))
        elif footers:
            footers[-1][1].append(line)
    return tuple(Footer(token, "\n".join(v).strip()) for token, v in footers)


def _indent(line: str) -> int:
    expanded = line.expandtabs(4)
    return len(expanded) - len(expanded.lstrip())


def _prose(lines: Sequence[str]) -> list[bool]:
    """For each line, whether it is prose: not in a fenced block, not indented as code."""
    out: list[bool] = []
    fenced = False
    for line in lines:
        if _FENCE_RE.match(line):
            fenced = not fenced
            out.append(False)
        else:
            out.append(not fenced and _indent(line) < 4)
    return out


def _breaking_in_body(lines: Sequence[str]) -> str | None:
    # An example quoted in a code block ("    BREAKING CHANGE: ...") breaks nothing.
    for i, (line, prose) in enumerate(zip(lines, _prose(lines), strict=True)):
        m = _BREAKING_LINE_RE.match(line.strip()) if prose else None
        if m is not None:
            paragraph = [m.group("value")]
            for more in lines[i + 1 :]:
                if not more.strip():
                    break
                paragraph.append(more.strip())
            return "\n".join(paragraph).strip()
    return None


def _is_change_header(text: str, types: Container[str]) -> bool:
    m = _HEADER_RE.match(text.strip())
    if m is not None:
        return m.group("type").lower() in types
    return "revert" in types and _REVERT_RE.match(_PR_SUFFIX_RE.sub("", text.strip())) is not None


def _squash_starts(lines: Sequence[str], types: Container[str]) -> list[int]:
    """The lines of a message body that start a squashed commit.

    In git's ``Squashed commit of the following:`` format each message follows its
    ``commit``/``Author``/``Date`` lines, indented by four spaces, as semantic-release's
    squash-merge parser reads it; elsewhere a commit header stands at the left margin, bare or
    as a ``*``/``-`` bullet (GitHub, Bitbucket). Unlike python-semantic-release, which also
    splits at indented lines, a header quoted as an example in a code block is left in the body.
    """
    starts: list[int] = []
    in_git_header = False
    for i, (line, prose) in enumerate(zip(lines, _prose(lines), strict=True)):
        if _GIT_COMMIT_RE.match(line):
            in_git_header = True
        elif in_git_header:
            if line.strip() and not _GIT_META_RE.match(line):
                in_git_header = False
                if _is_change_header(line, types):
                    starts.append(i)
        elif prose and _is_change_header(_BULLET_RE.sub("", line, count=1), types):
            starts.append(i)
    return starts


def parse_commit(
    commit: Commit, *, squash_types: Sequence[str] = KNOWN_TYPES
) -> list[ConventionalCommit]:
    """Parse one commit; a squash merge whose body lists several commit headers gives one each.

    Handles GitHub/Bitbucket squash bodies (``* feat: ...`` bullets) and git's own
    ``Squashed commit of the following:`` format. A sub-commit that repeats the merge title
    (same type, scope and subject, PR number aside) is listed once, as the title, which takes
    on the sub-commit's breaking change if only the sub-commit declares one. A sub-commit
    reverted by a later one of the same squash is dropped with its revert. Pass
    ``squash_types=()`` to read every message as a single commit.
    """
    return _parse_commit(commit, squash_types)[0]


def _parse_commit(
    commit: Commit, squash_types: Sequence[str]
) -> tuple[list[ConventionalCommit], list[ConventionalCommit]]:
    """The changes of one commit, and those of its squash body that it reverted itself."""
    lines = commit.message.strip("\n").splitlines()
    if not lines:
        return [], []
    types = {t.lower() for t in squash_types}
    rest = lines[1:]
    starts = _squash_starts(rest, types) if types else []
    if not starts:
        one = parse_message(commit.message, commit.sha, commit.files)
        return ([one] if one is not None else []), []

    def clean(block: Sequence[str]) -> list[str]:
        return [line for line in block if not _SQUASH_NOISE_RE.match(line)]

    head = parse_message("\n".join([lines[0], *clean(rest[: starts[0]])]), commit.sha, commit.files)
    parts: list[ConventionalCommit] = []
    for n, i in enumerate(starts):
        end = starts[n + 1] if n + 1 < len(starts) else len(rest)
        header = _BULLET_RE.sub("", rest[i], count=1).strip()
        body = textwrap.dedent("\n".join(clean(rest[i + 1 : end])))
        part = parse_message(header + "\n\n" + body, commit.sha, commit.files)
        if part is not None:
            parts.append(replace(part, squashed=True))
    parts, reverted = _cancel_reverts(parts)
    out: list[ConventionalCommit] = []
    for part in parts:
        if head is not None and _change_key(part)[:3] == _change_key(head)[:3]:
            if part.breaking and not head.breaking:
                head = replace(
                    head,
                    breaking=True,
                    breaking_note=part.breaking_note,
                    footers=(*head.footers, *part.footers),
                )
            continue
        out.append(part)
    return ([head, *out] if head is not None else out), reverted


def _normal_subject(subject: str) -> str:
    return " ".join(_PR_SUFFIX_RE.sub("", subject).split()).casefold()


def _change_key(c: ConventionalCommit) -> tuple[str, str | None, str, bool]:
    """What makes two commits the same change: type, scope, subject (PR number, spacing and
    case aside) and whether it breaks."""
    return (c.type, c.scope, _normal_subject(c.subject), c.breaking)


def _cancel_reverts(
    commits: Sequence[ConventionalCommit],
) -> tuple[list[ConventionalCommit], list[ConventionalCommit]]:
    """Drop each revert together with the change it reverts when both are in ``commits``
    (oldest first): the kept ones, and the dropped changes, oldest first.

    As semantic-release's commit-analyzer does with conventional-commits-filter's
    ``filterRevertedCommitsSync``. The reverted commit is found by the sha in "This reverts
    commit <sha>." (every change of a squash commit, when that sha names one), else by its
    header, the latest such change before the revert. A revert of something outside the range
    stays, as a ``revert`` commit.
    """
    kept: list[ConventionalCommit | None] = list(commits)
    dropped: list[ConventionalCommit] = []
    # Newest first, so a revert of a revert cancels that revert and the change stays.
    for i in range(len(commits) - 1, -1, -1):
        c = commits[i]
        if c.type != "revert" or kept[i] is None:
            continue
        earlier = [(j, o) for j in range(i) if (o := kept[j]) is not None]
        hits = [j for j, o in earlier if c.reverts_sha and o.sha.startswith(c.reverts_sha)]
        if not hits and c.reverts:
            target = parse_message(c.reverts)
            if target is not None:
                key = _change_key(target)[:3]
                hits = [j for j, o in earlier if _change_key(o)[:3] == key][-1:]
        if hits:
            for j in hits:
                o = kept[j]
                if o is not None and o.type != "revert":
                    dropped.append(o)
                kept[j] = None
            kept[i] = None
    order = {id(c): n for n, c in enumerate(commits)}
    return [c for c in kept if c is not None], sorted(dropped, key=lambda c: order[id(c)])


def _drop_repeated(commits: Sequence[ConventionalCommit]) -> list[ConventionalCommit]:
    """Squashed sub-commits that repeat a change already in the range, e.g. the commits of a
    stacked pull request squashed again into the next one, count and are listed once."""
    whole = {_change_key(c) for c in commits if not c.squashed}
    seen: set[tuple[str, str | None, str, bool]] = set()
    out: list[ConventionalCommit] = []
    for c in commits:
        key = _change_key(c)
        if c.squashed and (key in whole or key in seen):
            continue
        seen.add(key)
        out.append(c)
    return out


def parse_commits(
    commits: Iterable[Commit], *, squash_types: Sequence[str] = KNOWN_TYPES
) -> ParsedCommits:
    """Parse a range of commits, oldest first; reverted changes leave it with their reverts."""
    parsed: list[ConventionalCommit] = []
    ignored: list[Commit] = []
    reverted: list[ConventionalCommit] = []
    for commit in commits:
        parts, undone = _parse_commit(commit, squash_types)
        reverted.extend(undone)
        if parts:
            parsed.extend(parts)
        elif not undone:
            ignored.append(commit)
    kept, later = _cancel_reverts(parsed)
    reverted.extend(later)
    return ParsedCommits(tuple(_drop_repeated(kept)), tuple(ignored), tuple(reverted))


# --------------------------------------------------------------------------------------------
# Deciding the next version


DEFAULT_COMMIT_TYPES: Mapping[str, Bump] = {
    "feat": Bump.MINOR,
    "fix": Bump.PATCH,
    "perf": Bump.PATCH,
}
_TYPE_KEY_RE = re.compile(r"^(?P<type>[A-Za-z][A-Za-z0-9_-]*)(?:\((?P<scope>[^()\s]+)\))?$")
BUMP_NAMES = ("major", "minor", "patch", "none")


class CommitTypeInvalid(InputError):
    code = "commit-type-invalid"
    default_hint = "name a type or type(scope), e.g. deps: patch or docs(api): patch"


class BumpInvalid(InputError):
    code = "bump-invalid"
    default_hint = "use major, minor, patch or none"


def parse_bump(name: str) -> Bump:
    """``major``/``minor``/``patch``/``none`` -> the bump; anything else is ``bump-invalid``."""
    if name.lower() not in BUMP_NAMES:
        raise BumpInvalid(f"{name!r} is not a bump")
    return Bump[name.upper()]


def commit_types(overrides: Mapping[str, str | Bump]) -> dict[str, Bump]:
    """The defaults (feat minor; fix and perf patch) with ``overrides`` laid over them.

    Modelled on semantic-release's ``releaseRules``: a key is a type (``deps: patch``) or a
    type with a scope glob (``docs(api*): patch``), ``none`` takes a default away. A scoped key
    wins over its type's key for the commits it matches; a breaking change is always major
    (minor on 0.x without ``major_on_zero``), as in semantic-release's default rules.
    """
    table = dict(DEFAULT_COMMIT_TYPES)
    for key, bump in overrides.items():
        if _TYPE_KEY_RE.match(key) is None or key.startswith(("BREAKING",)):
            raise CommitTypeInvalid(f"{key!r} is not a commit type")
        table[key.lower() if "(" not in key else key] = (
            bump if isinstance(bump, Bump) else parse_bump(bump)
        )
    return table


def type_names(table: Mapping[str, Bump]) -> tuple[str, ...]:
    """The commit types a table names (for squash splitting and changelog sections)."""
    found = (m.group("type").lower() for k in table if (m := _TYPE_KEY_RE.match(k)) is not None)
    return tuple(dict.fromkeys(found))


@dataclass(frozen=True, slots=True)
class VersioningConfig:
    """How commits and branches map to versions; the ``release.versioning`` part of the spec.

    Branch patterns are shell globs (``*`` also crosses ``/``). ``prerelease_branches`` maps a
    pattern to its channel token (``{"next": "rc", "beta/*": "beta"}``); a maintenance
    branch's name carries its line (``release/1.4.x`` takes 1.4.z, ``release/1.x`` takes
    1.y.z but no breaking change).
    """

    major_on_zero: bool = True
    # Which bump each type (or ``type(scope-glob)``) asks for; see ``commit_types``.
    commit_types: Mapping[str, Bump] = field(default_factory=lambda: dict(DEFAULT_COMMIT_TYPES))
    release_branches: tuple[str, ...] = ("main", "master", "trunk")
    prerelease_branches: Mapping[str, str] = field(default_factory=dict)
    maintenance_branches: tuple[str, ...] = ("*.x",)
    # ``hotfix/1.4.2`` maintains the 1.4 line from the 1.4.2 tag: patch versions only.
    hotfix_branches: tuple[str, ...] = ("hotfix/*",)
    initial_version: str = "0.1.0"
    tag_format: str = "v{version}"
    scheme: Literal["semver", "calver"] = "semver"
    calver_format: str = "YYYY.MM.MICRO"
    squash_types: tuple[str, ...] = KNOWN_TYPES


DEFAULT_CONFIG = VersioningConfig()

Channel = Literal["release", "prerelease", "maintenance"]


@dataclass(frozen=True, slots=True)
class BranchPolicy:
    """What a branch may release: its kind, pre-release token, and maintenance line."""

    branch: str
    kind: Channel
    token: str | None = None
    line: tuple[int, int | None] | None = None  # (major, minor or None for "1.x")

    @property
    def max_bump(self) -> Bump:
        if self.kind != "maintenance" or self.line is None:
            return Bump.MAJOR
        return Bump.PATCH if self.line[1] is not None else Bump.MINOR

    @property
    def line_label(self) -> str:
        if self.line is None:
            return ""
        major, minor = self.line
        return f"{major}.x" if minor is None else f"{major}.{minor}.x"


_LINE_RE = re.compile(r"(?:^|[/_-])v?(?P<major>\d+)\.(?:(?P<minor>\d+)\.)?x$")
_HOTFIX_RE = re.compile(r"(?:^|/)v?(\d+)\.(\d+)\.(\d+)$")
_TOKEN_RE = re.compile(r"^[0-9A-Za-z-]+$")


def branch_policy(branch: str, config: VersioningConfig = DEFAULT_CONFIG) -> BranchPolicy:
    """Classify a branch; explicit pre-release patterns win over maintenance and release."""
    for pattern, token in config.prerelease_branches.items():
        if fnmatch.fnmatchcase(branch, pattern):
            if not _TOKEN_RE.match(token) or token.isdigit():
                raise VersionInvalid(
                    f"pre-release token {token!r} for branch pattern {pattern!r} is not valid",
                    "use letters, digits and hyphens, e.g. rc or beta",
                )
            return BranchPolicy(branch, "prerelease", token=token)
    if any(fnmatch.fnmatchcase(branch, p) for p in config.hotfix_branches):
        h = _HOTFIX_RE.search(branch)
        if h is None:
            raise BranchInvalid(
                f"hotfix branch {branch!r} does not name the version it fixes",
                "name it after the release it fixes, e.g. hotfix/1.4.2",
            )
        return BranchPolicy(branch, "maintenance", line=(int(h.group(1)), int(h.group(2))))
    if any(fnmatch.fnmatchcase(branch, p) for p in config.maintenance_branches):
        m = _LINE_RE.search(branch)
        if m is None:
            raise BranchInvalid(f"maintenance branch {branch!r} does not name a version line")
        minor = m.group("minor")
        return BranchPolicy(
            branch, "maintenance", line=(int(m.group("major")), int(minor) if minor else None)
        )
    if any(fnmatch.fnmatchcase(branch, p) for p in config.release_branches):
        return BranchPolicy(branch, "release")
    patterns = [
        *config.release_branches,
        *config.prerelease_branches,
        *config.maintenance_branches,
        *config.hotfix_branches,
    ]
    raise BranchNotReleasable(
        f"branch {branch!r} is not a release branch (releases come from {', '.join(patterns)})"
    )


def commit_bump(
    commit: ConventionalCommit, config: VersioningConfig = DEFAULT_CONFIG, *, zero: bool = False
) -> Bump:
    """The bump one commit asks for; ``zero`` is true while the major version is 0."""
    if commit.breaking:
        return Bump.MINOR if zero and not config.major_on_zero else Bump.MAJOR
    return type_bump(commit.type, commit.scope, config.commit_types)


def type_bump(type_: str, scope: str | None, table: Mapping[str, Bump]) -> Bump:
    """The bump a non-breaking commit of this type and scope asks for under ``table``."""
    if scope is not None:
        scoped = [
            bump
            for key, bump in table.items()
            if (m := _TYPE_KEY_RE.match(key)) is not None
            and m.group("scope") is not None
            and m.group("type").lower() == type_
            and fnmatch.fnmatchcase(scope, m.group("scope"))
        ]
        if scoped:
            return max(scoped)
    return table.get(type_, Bump.NONE)


@dataclass(frozen=True, slots=True)
class VersionDecision:
    """The next version and why: ``deciding`` are the commits that set the bump."""

    branch: str
    kind: Channel
    previous: str | None
    version: str | None  # None: nothing to release
    bump: Bump
    deciding: tuple[ConventionalCommit, ...]
    commits: tuple[ConventionalCommit, ...]
    ignored: tuple[Commit, ...] = ()
    channel: str | None = None
    service: str | None = None
    scheme: Literal["semver", "calver"] = "semver"
    reverted: tuple[ConventionalCommit, ...] = ()
    computed: Bump | None = None  # set when ``bump`` was overridden: what the commits asked for

    @property
    def releasable(self) -> bool:
        return self.version is not None

    def explain(self) -> list[str]:
        """Lines for ``shipyard version``: the outcome, then each deciding commit."""
        who = f"{self.service}: " if self.service else ""
        if self.version is None:
            lines = [f"{who}nothing to release since {self.previous or 'the start'}"]
        else:
            what = f"{self.bump.label} bump" if self.scheme == "semver" else "calendar release"
            if self.computed is not None:
                what += f" set by --bump; the commits ask for {self.computed.label}"
            lines = [
                f"{who}{self.previous or '(none)'} -> {self.version} "
                f"({what} on {self.kind} branch {self.branch})"
            ]
        for c in self.deciding:
            why = "breaking change" if c.breaking else c.type
            lines.append(f"  {c.short_sha} {c.header}  [{why}]")
        for c in self.reverted:
            lines.append(f"  {c.short_sha} {c.header}  [reverted in the same range, not counted]")
        for raw in self.ignored:
            first = raw.message.strip().splitlines()[0] if raw.message.strip() else ""
            lines.append(f"  {raw.sha[:7]} ignored, not a conventional commit: {first}")
        return lines


def decide_bump(
    commits: Sequence[ConventionalCommit],
    config: VersioningConfig = DEFAULT_CONFIG,
    *,
    zero: bool = False,
) -> tuple[Bump, tuple[ConventionalCommit, ...]]:
    """The largest bump any commit asks for, and the commits that ask for it."""
    bumps = [commit_bump(c, config, zero=zero) for c in commits]
    top = max(bumps, default=Bump.NONE)
    if top is Bump.NONE:
        return top, ()
    return top, tuple(c for c, b in zip(commits, bumps, strict=True) if b is top)


@dataclass(frozen=True)
class _Decider:
    """A decision before its version is known: the commits, the branch's policy, the bump the
    commits ask for (``computed``, set by ``deciding``) and the ``override`` of it."""

    parsed: ParsedCommits
    policy: BranchPolicy
    service: str | None
    computed: Bump
    deciding: tuple[ConventionalCommit, ...]
    override: Bump | None

    @property
    def bump(self) -> Bump:
        return self.computed if self.override is None else self.override

    def decide(
        self,
        *,
        branch: str,
        previous: str | None,
        version: str | None,
        scheme: Literal["semver", "calver"] = "semver",
    ) -> VersionDecision:
        return VersionDecision(
            branch=branch,
            kind=self.policy.kind,
            previous=previous,
            version=version,
            bump=self.bump,
            deciding=self.deciding,
            commits=self.parsed.commits,
            ignored=self.parsed.ignored,
            channel=self.policy.token,
            service=self.service,
            scheme=scheme,
            reverted=self.parsed.reverted,
            computed=self.computed if self.override is not None else None,
        )


def _decider(
    parsed: ParsedCommits,
    policy: BranchPolicy,
    config: VersioningConfig,
    service: str | None,
    override: Bump | None,
    *,
    zero: bool,
) -> _Decider:
    computed, deciding = decide_bump(parsed.commits, config, zero=zero)
    return _Decider(parsed, policy, service, computed, deciding, override)


def next_version(
    last: SemVer | str | None,
    commits: Sequence[Commit],
    *,
    branch: str = "main",
    config: VersioningConfig = DEFAULT_CONFIG,
    released: Iterable[SemVer | str] = (),
    today: date | None = None,
    service: str | None = None,
    pending: SemVer | str | None = None,
    override: Bump | None = None,
) -> VersionDecision:
    """Decide the next version from the last one and the commits since it.

    ``last`` is the newest version reachable from the branch (None before the first release).
    ``released`` lists every version already tagged on any branch: it numbers pre-releases
    (``rc.1``, ``rc.2``) and keeps a maintenance branch clear of versions taken elsewhere.
    ``today`` is required for calendar versioning.

    ``pending`` is the newest pre-release reachable from a release branch. While nothing has
    been released yet, the release finishes it the way npm's ``semver.inc`` does: after
    ``1.0.0-rc.1`` comes 1.0.0, not the initial 0.1.0 below it. semantic-release reaches 1.0.0
    there too, but only because its first release is always 1.0.0 (``FIRST_RELEASE`` in
    ``get-next-version.js``; ``get-last-release.js`` skips pre-releases on release branches):
    a ``0.3.0-beta.2`` here finishes as 0.3.0.

    ``override`` sets the bump whatever the commits ask for (``release --bump``, like
    python-semantic-release's ``--major``/``--minor``/``--patch`` and commitizen's
    ``--increment``); the decision keeps what they asked for in ``computed``.
    """
    parsed = parse_commits(commits, squash_types=config.squash_types)
    policy = branch_policy(branch, config)
    if config.scheme == "calver":
        return _next_calver(last, parsed, policy, config, today, service, override)

    prev = _as_semver(last) if last is not None else None
    if prev is None and pending is not None and policy.kind == "release":
        prev = _as_semver(pending)
    taken = [_as_semver(v) for v in released]
    zero = prev is None or prev.major == 0
    decider = _decider(parsed, policy, config, service, override, zero=zero)
    bump, deciding = decider.bump, decider.deciding

    def decision(version: SemVer | None) -> VersionDecision:
        return decider.decide(
            branch=branch,
            previous=str(prev) if prev is not None else None,
            version=str(version) if version is not None else None,
        )

    if bump is Bump.NONE:
        return decision(None)
    if policy.kind == "maintenance":
        asking = deciding if override is None else ()
        return decision(_next_maintenance(prev, bump, asking, policy, taken))

    initial = SemVer.parse(config.initial_version).finalized()
    target = initial if prev is None else prev.bump(bump)
    if any(t.precedence_key() == target.precedence_key() for t in taken):
        raise VersionExists(
            f"version {target} already exists", details={"branch": branch, "version": str(target)}
        )
    if policy.kind == "prerelease" and policy.token is not None:
        known = [*taken, *([prev] if prev is not None else [])]
        target = _next_prerelease(target.finalized(), policy.token, known)
    return decision(target)


def _next_prerelease(core: SemVer, token: str, known: Sequence[SemVer]) -> SemVer:
    """``core-token.N`` with N one past the highest already released for that core."""
    numbers = [
        int(v.prerelease[1])
        for v in known
        if v.finalized() == core
        and len(v.prerelease) == 2
        and v.prerelease[0] == token
        and v.prerelease[1].isdigit()
    ]
    return SemVer(core.major, core.minor, core.patch, (token, str(max(numbers, default=0) + 1)))


def _next_maintenance(
    prev: SemVer | None,
    bump: Bump,
    deciding: Sequence[ConventionalCommit],
    policy: BranchPolicy,
    taken: Sequence[SemVer],
) -> SemVer:
    # The range comes from the branch name alone, never from what other branches have
    # released, so a line cut from the newest release can still ship its patches
    # (semantic-release#1487 refuses exactly that).
    assert policy.line is not None
    major, minor = policy.line

    def in_line(v: SemVer) -> bool:
        return v.major == major and (minor is None or v.minor == minor)

    if bump > policy.max_bump:
        allowed = "patch" if policy.max_bump is Bump.PATCH else "minor and patch"
        listed = ", ".join(f"{c.short_sha} {c.header!r}" for c in deciding) or "--bump"
        raise MaintenanceBumpRefused(
            f"maintenance branch {policy.branch} takes only {allowed} changes to "
            f"{policy.line_label}, but {listed} asks for a {bump.label} release",
            f"revert these commits on {policy.branch} (`git revert`) and land them on the main "
            "branch instead, where they release a new minor or major version",
            details={
                "branch": policy.branch,
                "line": policy.line_label,
                "bump": bump.label,
                "commits": [c.sha for c in deciding],
            },
        )
    if prev is not None and not in_line(prev):
        raise VersionOutOfRange(
            f"last version {prev} on {policy.branch} is outside its line {policy.line_label}",
            f"cut {policy.branch} from a {policy.line_label} release tag",
            details={"branch": policy.branch, "version": str(prev)},
        )
    same_line = [v.finalized() for v in taken if in_line(v) and not v.is_prerelease]
    candidates = [v for v in [prev.finalized() if prev else None, *same_line] if v is not None]
    if not candidates:
        raise VersionOutOfRange(
            f"nothing has been released on {policy.line_label} yet, so {policy.branch} has "
            "no version to patch",
            f"release {policy.line_label.replace('x', '0')} first, or cut {policy.branch} "
            "from a release tag of that line",
            details={"branch": policy.branch},
        )
    # Versions on the line released elsewhere (e.g. a hotfix tagged from another branch) are
    # skipped rather than collided with.
    return max(candidates).bump(bump)


def next_versions(
    last: Mapping[str, SemVer | str | None],
    commits: Sequence[Commit],
    services: Mapping[str, Sequence[str]],
    *,
    branch: str = "main",
    config: VersioningConfig = DEFAULT_CONFIG,
    released: Mapping[str, Iterable[SemVer | str]] | None = None,
    today: date | None = None,
) -> dict[str, VersionDecision]:
    """One decision per monorepo service, each over the commits that touched its paths.

    ``services`` maps a service to path patterns (``services/api/**`` or a plain folder
    ``services/api``); ``last`` and ``released`` are keyed by service. A commit with no
    recorded files belongs to no service.
    """
    out: dict[str, VersionDecision] = {}
    for name, patterns in services.items():
        mine = [c for c in commits if touches(c.files, patterns)]
        out[name] = next_version(
            last.get(name),
            mine,
            branch=branch,
            config=config,
            released=(released or {}).get(name, ()),
            today=today,
            service=name,
        )
    return out


def touches(files: Iterable[str], patterns: Sequence[str]) -> bool:
    """True if any file matches any pattern; a pattern without wildcards is a folder or file."""
    regexes = [_glob_regex(p) for p in patterns]
    return any(r.match(f.removeprefix("./")) for f in files for r in regexes)


def _glob_regex(pattern: str) -> re.Pattern[str]:
    pattern = pattern.removeprefix("./")
    if not any(ch in pattern for ch in "*?["):
        base = re.escape(pattern.rstrip("/"))
        return re.compile(rf"^{base}(?:/.*)?$")
    out = []
    i = 0
    while i < len(pattern):
        if pattern.startswith("**/", i):
            out.append("(?:.*/)?")
            i += 3
        elif pattern.startswith("**", i):
            out.append(".*")
            i += 2
        elif pattern[i] == "*":
            out.append("[^/]*")
            i += 1
        elif pattern[i] == "?":
            out.append("[^/]")
            i += 1
        else:
            out.append(re.escape(pattern[i]))
            i += 1
    return re.compile("^" + "".join(out) + "$")


# --------------------------------------------------------------------------------------------
# Tags


DEFAULT_TAG_FORMAT = "v{version}"
SERVICE_TAG_FORMAT = "{service}@{version}"
# What git refuses in a ref name (git-check-ref-format), plus the braces of unknown fields.
_REF_FORBIDDEN_RE = re.compile(r"[\x00-\x20\x7f~^:?*\[\\{}]|\.\.|@\{|//|\.lock(?:/|$)|^[-/.]|[/.]$")


class TagFormatInvalid(InputError):
    code = "tag-format-invalid"
    default_hint = (
        "write the tag around {version} once, e.g. v{version}, release-{version} or "
        "{service}-v{version} for monorepo services"
    )


def check_tag_format(fmt: str) -> str:
    """``fmt`` if it makes valid git tag names holding ``{version}`` once, else an error.

    The placeholders are ``{version}`` and, for monorepo services, ``{service}``; they play
    the part of semantic-release's ``tagFormat: v${version}`` and commitizen's
    ``tag_format: v$version``.
    """
    if fmt.count("{version}") != 1:
        raise TagFormatInvalid(f"tag format {fmt!r} must contain {{version}} exactly once")
    if fmt.count("{service}") > 1:
        raise TagFormatInvalid(f"tag format {fmt!r} contains {{service}} more than once")
    sample = fmt.replace("{version}", "1.0.0").replace("{service}", "api")
    if _REF_FORBIDDEN_RE.search(sample):
        raise TagFormatInvalid(f"tag format {fmt!r} does not make a valid git tag name")
    return fmt


def _format_for(fmt: str, service: str | None) -> str:
    if service is None:
        if "{service}" in fmt:
            raise TagFormatInvalid(
                f"tag format {fmt!r} names a service, but no service is being released",
                "pass --service, or drop {service} from release.tag_format",
            )
        return fmt
    return fmt if "{service}" in fmt else SERVICE_TAG_FORMAT


def tag_name(
    version: str | SemVer, service: str | None = None, fmt: str = DEFAULT_TAG_FORMAT
) -> str:
    """``v1.4.0`` (or the configured format), ``api@1.4.0`` for a monorepo service unless the
    format places ``{service}`` itself."""
    return (
        _format_for(fmt, service)
        .replace("{service}", service or "")
        .replace("{version}", str(version))
    )


def version_from_tag(
    tag: str, service: str | None = None, fmt: str = DEFAULT_TAG_FORMAT
) -> SemVer | None:
    """The version a tag names in this format for this service, None for any other tag.

    Only the configured format is read: with ``v{version}`` a bare ``1.2.3`` tag is someone
    else's, and with ``{version}`` so is ``v1.2.3``, so what is read is what would be written.
    """
    pattern = re.escape(_format_for(fmt, service)).replace(r"\{version\}", "(?P<v>.+)")
    pattern = pattern.replace(r"\{service\}", re.escape(service or ""))
    m = re.fullmatch(pattern, tag)
    if m is None or m.group("v").startswith("v"):
        return None
    try:
        return SemVer.parse(m.group("v"))
    except VersionInvalid:
        return None


_ANY_VERSION_RE = re.compile(
    r"v?(?:0|[1-9]\d*)\.(?:0|[1-9]\d*)\.(?:0|[1-9]\d*)(?:-[0-9A-Za-z.-]+)?"
)


def other_tag_formats(
    tags: Iterable[str], fmt: str = DEFAULT_TAG_FORMAT, service: str | None = None
) -> dict[str, list[str]]:
    """Formats of the version tags that ``fmt`` does not read, with their tags, newest first.

    ``release-2.3.0`` gives ``release-{version}``; a leading ``v`` belongs to the format. Tags
    of monorepo services (``web@1.0.0``) and tags without a version are left out.
    """
    found: dict[str, list[tuple[SemVer, str]]] = {}
    for tag in tags:
        if "@" in tag or version_from_tag(tag, service, fmt) is not None:
            continue
        matches = list(_ANY_VERSION_RE.finditer(tag))
        if len(matches) != 1:
            continue
        m = matches[0]
        text = m.group(0)
        prefix_v = text.startswith("v")
        try:
            ver = SemVer.parse(text)
        except VersionInvalid:
            continue
        other = tag[: m.start()] + ("v" if prefix_v else "") + "{version}" + tag[m.end() :]
        found.setdefault(other, []).append((ver, tag))
    return {
        other: [t for _v, t in sorted(pairs, key=lambda p: p[0].precedence_key(), reverse=True)]
        for other, pairs in sorted(found.items(), key=lambda kv: -len(kv[1]))
    }


# --------------------------------------------------------------------------------------------
# Calendar versioning

_CALVER_TOKENS = ("YYYY", "YY", "0Y", "MM", "0M", "WW", "0W", "DD", "0D", "MICRO")


def _calver_parts(fmt: str) -> list[str]:
    parts = fmt.split(".")
    if not parts or any(p not in _CALVER_TOKENS for p in parts):
        raise CalverFormatInvalid(f"calendar version format {fmt!r} is not valid")
    if (
        parts.count("MICRO") > 1
        or ("MICRO" in parts and parts[-1] != "MICRO")
        or all(p == "MICRO" for p in parts)
    ):
        raise CalverFormatInvalid(
            f"calendar version format {fmt!r} needs date parts and at most one MICRO, last"
        )
    return parts


def _calver_date_part(token: str, today: date) -> str:
    year, week, _ = today.isocalendar()
    values = {
        "YYYY": str(today.year),
        "YY": str(today.year % 100),
        "0Y": f"{today.year % 100:02d}",
        "MM": str(today.month),
        "0M": f"{today.month:02d}",
        # Weeks follow ISO 8601; the ISO year is not needed unless the format uses weeks.
        "WW": str(week),
        "0W": f"{week:02d}",
        "DD": str(today.day),
        "0D": f"{today.day:02d}",
    }
    if token in ("WW", "0W") and year != today.year:
        # Early-January days in week 52/53 of the previous ISO year keep the calendar year,
        # which would collide; count them as week 0 of this year instead.
        return "0" if token == "WW" else "00"
    return values[token]


def next_calver(last: str | None, today: date, fmt: str = "YYYY.MM.MICRO") -> str:
    """The next calendar version: MICRO counts up within a period and restarts at 0."""
    parts = _calver_parts(fmt)
    date_parts = [_calver_date_part(p, today) for p in parts if p != "MICRO"]
    if "MICRO" not in parts:
        version = ".".join(date_parts)
        if last is not None and last == version:
            raise VersionExists(
                f"version {version} already exists",
                "add MICRO to the calendar version format to release more than once a period",
            )
        return version
    micro = 0
    if last is not None:
        last_parts = last.split(".")
        if len(last_parts) == len(parts) and last_parts[:-1] == date_parts:
            if not last_parts[-1].isdigit():
                raise VersionInvalid(f"{last!r} does not follow the format {fmt}")
            micro = int(last_parts[-1]) + 1
    return ".".join([*date_parts, str(micro)])


def _next_calver(
    last: SemVer | str | None,
    parsed: ParsedCommits,
    policy: BranchPolicy,
    config: VersioningConfig,
    today: date | None,
    service: str | None,
    override: Bump | None = None,
) -> VersionDecision:
    if today is None:
        raise InputError(
            "calendar versioning needs today's date",
            "pass today's date from the caller",
            code="calver-date-missing",
        )
    decider = _decider(parsed, policy, config, service, override, zero=False)
    previous = str(last) if last is not None else None
    bumped = decider.bump is not Bump.NONE
    version = next_calver(previous, today, config.calver_format) if bumped else None
    return decider.decide(branch=policy.branch, previous=previous, version=version, scheme="calver")


# --------------------------------------------------------------------------------------------
# Changelog

BREAKING_TITLE = "Breaking changes"
SECTION_TITLES: dict[str, str] = {
    "feat": "Features",
    "fix": "Bug fixes",
    "perf": "Performance",
    "revert": "Reverts",
    "refactor": "Refactoring",
    "docs": "Documentation",
    "build": "Build",
    "ci": "Continuous integration",
    "test": "Tests",
    "style": "Style",
    "chore": "Chores",
}


@dataclass(frozen=True, slots=True)
class ChangelogEntry:
    type: str
    scope: str | None
    subject: str
    sha: str
    breaking: bool = False
    note: str | None = None

    @property
    def short_sha(self) -> str:
        return self.sha[:7]


@dataclass(frozen=True, slots=True)
class ChangelogSection:
    title: str
    entries: tuple[ChangelogEntry, ...]


@dataclass(frozen=True, slots=True)
class Changelog:
    version: str
    sections: tuple[ChangelogSection, ...]
    date: date | None = None
    previous: str | None = None


def build_changelog(
    version: str | SemVer,
    commits: Iterable[ConventionalCommit],
    *,
    on: date | None = None,
    previous: str | SemVer | None = None,
    types: Iterable[str] | None = None,
) -> Changelog:
    """Group commits by type: breaking changes first, then features, fixes, performance, rest.

    A breaking commit is listed once, under breaking changes, with its note. ``types`` limits
    which non-breaking types appear (all by default).
    """
    wanted = set(types) if types is not None else None
    breaking: list[ChangelogEntry] = []
    by_type: dict[str, list[ChangelogEntry]] = {}
    seen: set[tuple[str, str, str | None, str]] = set()
    for c in commits:
        key = (c.sha, c.type, c.scope, c.subject)
        if key in seen:
            continue
        seen.add(key)
        entry = ChangelogEntry(c.type, c.scope, c.subject, c.sha, c.breaking, c.breaking_note)
        if c.breaking:
            breaking.append(entry)
        elif wanted is None or c.type in wanted:
            by_type.setdefault(c.type, []).append(entry)
    order = [t for t in SECTION_TITLES if t in by_type]
    order += sorted(t for t in by_type if t not in SECTION_TITLES)
    sections = [ChangelogSection(BREAKING_TITLE, tuple(breaking))] if breaking else []
    sections += [
        ChangelogSection(SECTION_TITLES.get(t, t.capitalize()), tuple(by_type[t])) for t in order
    ]
    return Changelog(
        version=str(version),
        sections=tuple(sections),
        date=on,
        previous=str(previous) if previous is not None else None,
    )


def render_markdown(changelog: Changelog, *, repo_url: str | None = None, level: int = 2) -> str:
    """Markdown for CHANGELOG.md and release notes; links shas when ``repo_url`` is given."""
    hashes = "#" * level
    title = f"{hashes} {changelog.version}"
    if changelog.date is not None:
        title += f" ({changelog.date.isoformat()})"
    out = [title, ""]
    if not changelog.sections:
        out += ["No notable changes.", ""]
    for section in changelog.sections:
        out += [f"{hashes}# {section.title}", ""]
        for e in section.entries:
            sha = e.short_sha
            ref = f"[{sha}]({repo_url.rstrip('/')}/commit/{e.sha})" if repo_url else sha
            scope = f"**{e.scope}:** " if e.scope else ""
            out.append(f"- {scope}{e.subject} ({ref})")
            if e.breaking and e.note and e.note != e.subject:
                # A blank line, then the indented note: a paragraph inside the list item.
                out += ["", *("  " + line if line else "" for line in e.note.splitlines())]
        out.append("")
    return "\n".join(out).rstrip("\n") + "\n"
