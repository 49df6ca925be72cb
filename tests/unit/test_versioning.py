"""Versioning: SemVer precedence, conventional commits, next-version decisions, changelog."""

from __future__ import annotations

from datetime import date

import pytest

from shipyard.domain.versioning import (
    KNOWN_TYPES,
    BranchInvalid,
    BranchNotReleasable,
    Bump,
    BumpInvalid,
    CalverFormatInvalid,
    Commit,
    CommitTypeInvalid,
    ConventionalCommit,
    MaintenanceBumpRefused,
    SemVer,
    TagFormatInvalid,
    VersionExists,
    VersioningConfig,
    VersionInvalid,
    VersionOutOfRange,
    branch_policy,
    build_changelog,
    check_tag_format,
    commit_types,
    compare,
    decide_bump,
    next_calver,
    next_version,
    next_versions,
    other_tag_formats,
    parse_commit,
    parse_commits,
    parse_message,
    render_markdown,
    tag_name,
    touches,
    type_names,
    version_from_tag,
)
from shipyard.errors import InputError, Refused


def commits(*messages: str) -> list[Commit]:
    return [Commit(f"{i + 1:x}" * 40, m) for i, m in enumerate(messages)]


# --- SemVer ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "fields"),
    [
        ("1.2.3", (1, 2, 3, (), ())),
        ("v1.2.3", (1, 2, 3, (), ())),
        ("0.0.0", (0, 0, 0, (), ())),
        ("1.4.0-rc.1", (1, 4, 0, ("rc", "1"), ())),
        ("1.0.0-alpha.beta", (1, 0, 0, ("alpha", "beta"), ())),
        ("1.0.0-0.3.7", (1, 0, 0, ("0", "3", "7"), ())),
        ("1.0.0-x-y-z.--", (1, 0, 0, ("x-y-z", "--"), ())),
        ("1.0.0+20130313144700", (1, 0, 0, (), ("20130313144700",))),
        ("1.0.0-beta+exp.sha.5114f85", (1, 0, 0, ("beta",), ("exp", "sha", "5114f85"))),
        ("10.20.30", (10, 20, 30, (), ())),
    ],
)
def test_parse_valid(text: str, fields: tuple[object, ...]) -> None:
    """Valid SemVer 2.0 strings parse into their parts and format back unchanged."""
    v = SemVer.parse(text)
    assert (v.major, v.minor, v.patch, v.prerelease, v.build) == fields
    assert str(v) == text.removeprefix("v")


@pytest.mark.parametrize(
    "text",
    [
        "1.2",
        "1.2.3.4",
        "01.2.3",
        "1.02.3",
        "1.2.3-01",
        "1.2.3-",
        "1.2.3+",
        "1.2.3-a..b",
        "a.b.c",
        "",
    ],
)
def test_parse_invalid(text: str) -> None:
    """Strings that break the SemVer grammar raise version-invalid with a hint."""
    with pytest.raises(VersionInvalid) as info:
        SemVer.parse(text)
    assert info.value.code == "version-invalid"
    assert info.value.hint


def test_precedence_follows_semver_spec_example() -> None:
    """The ordering example of SemVer section 11 sorts exactly as the spec lists it."""
    ordered = [
        "1.0.0-alpha",
        "1.0.0-alpha.1",
        "1.0.0-alpha.beta",
        "1.0.0-beta",
        "1.0.0-beta.2",
        "1.0.0-beta.11",
        "1.0.0-rc.1",
        "1.0.0",
        "2.0.0",
        "2.1.0",
        "2.1.1",
    ]
    shuffled = [ordered[i] for i in (7, 3, 10, 0, 5, 2, 8, 1, 6, 9, 4)]
    assert [str(v) for v in sorted(SemVer.parse(s) for s in shuffled)] == ordered


@pytest.mark.parametrize(
    ("a", "b", "expected"),
    [
        ("1.0.0-rc.10", "1.0.0-rc.9", 1),  # numeric identifiers compare as numbers
        ("1.0.0-rc.1", "1.0.0-rc.a", -1),  # numeric sorts before alphanumeric
        ("1.0.0-Beta", "1.0.0-alpha", -1),  # ASCII order: upper case first
        ("1.0.0+build.1", "1.0.0+build.2", 0),  # build metadata does not count
        ("1.0.0-dev", "1.0.0", -1),  # PEP 440 would agree here...
        ("1.0.0-post", "1.0.0", -1),  # ...but not here: SemVer has no post-releases
        ("1.0.0-alpha.1", "1.0.0-alpha", 1),  # a longer identifier list wins
    ],
)
def test_compare(a: str, b: str, expected: int) -> None:
    """compare() follows SemVer precedence, not PEP 440."""
    assert compare(a, b) == expected


def test_equality_keeps_build_but_ordering_ignores_it() -> None:
    """Two builds of one version are different values that neither sorts before the other."""
    a, b = SemVer.parse("1.0.0+a"), SemVer.parse("1.0.0+b")
    assert a != b
    assert not a < b and not b < a and a <= b and a >= b


@pytest.mark.parametrize(
    ("version", "level", "expected"),
    [
        ("1.2.3", Bump.PATCH, "1.2.4"),
        ("1.2.3", Bump.MINOR, "1.3.0"),
        ("1.2.3", Bump.MAJOR, "2.0.0"),
        ("1.2.3", Bump.NONE, "1.2.3"),
        ("1.4.0-rc.2", Bump.PATCH, "1.4.0"),
        ("1.4.0-rc.2", Bump.MINOR, "1.4.0"),
        ("1.4.0-rc.2", Bump.MAJOR, "2.0.0"),
        ("2.0.0-rc.1", Bump.MAJOR, "2.0.0"),
        ("1.4.1-rc.1", Bump.MINOR, "1.5.0"),
    ],
)
def test_bump(version: str, level: Bump, expected: str) -> None:
    """Bumping a pre-release finalises it unless the change is bigger than it stands for."""
    assert str(SemVer.parse(version).bump(level)) == expected


@pytest.mark.parametrize(
    ("version", "expected"),
    [
        ("1.4.0", "1.4.0"),
        ("1.4.0-rc.1", "1.4.0rc1"),
        ("1.4.0-beta.2", "1.4.0b2"),
        ("1.4.0-alpha", "1.4.0a0"),
        ("1.4.0-dev.3", "1.4.0.dev3"),
    ],
)
def test_to_pep440(version: str, expected: str) -> None:
    """Pre-release channels with a PEP 440 counterpart convert for Python packages."""
    assert SemVer.parse(version).to_pep440() == expected


def test_to_pep440_refuses_unmappable() -> None:
    """A channel PEP 440 has no word for is refused rather than silently mangled."""
    with pytest.raises(VersionInvalid):
        SemVer.parse("1.4.0-canary.1").to_pep440()


# --- conventional commits ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("message", "type_", "scope", "subject", "breaking"),
    [
        ("feat: add retries", "feat", None, "add retries", False),
        ("fix(api): handle timeout", "fix", "api", "handle timeout", False),
        ("feat(api)!: drop v1", "feat", "api", "drop v1", True),
        ("refactor!: rename config", "refactor", None, "rename config", True),
        ("Feat(UI): Capitalised type", "feat", "UI", "Capitalised type", False),
        ("perf(db):   trim spaces  ", "perf", "db", "trim spaces", False),
        ("chore(): empty scope", "chore", None, "empty scope", False),
    ],
)
def test_parse_header(
    message: str, type_: str, scope: str | None, subject: str, breaking: bool
) -> None:
    """Headers split into type, scope, subject and the ! marker."""
    c = parse_message(message)
    assert c is not None
    assert (c.type, c.scope, c.subject, c.breaking) == (type_, scope, subject, breaking)


@pytest.mark.parametrize(
    "message",
    [
        "Merge branch 'main' into feature",
        "fixed the thing",
        "feat add retries",
        "feat:no space",
        "",
    ],
)
def test_parse_not_conventional(message: str) -> None:
    """Messages without a type, colon and space are not conventional commits."""
    assert parse_message(message) is None


@pytest.mark.parametrize(
    ("footer", "note"),
    [
        ("BREAKING CHANGE: the config key moved", "the config key moved"),
        ("BREAKING-CHANGE: the config key moved", "the config key moved"),
    ],
)
def test_breaking_footer(footer: str, note: str) -> None:
    """Both spellings of the breaking-change footer mark the commit breaking with its note."""
    c = parse_message(f"feat: new config\n\nSome body.\n\n{footer}")
    assert c is not None and c.breaking and c.breaking_note == note
    assert c.body == "Some body."


def test_footers_and_multiline_values() -> None:
    """Footers after the body parse as tokens; a value may continue on following lines."""
    c = parse_message(
        "fix(api): x\n\nFirst paragraph.\n\nSecond paragraph.\n\n"
        "Refs: #12\nBREAKING CHANGE: gone\ncontinues here\nCloses #5\n"
        "Reviewed-by: Ada"
    )
    assert c is not None
    assert c.body == "First paragraph.\n\nSecond paragraph."
    assert [(f.token, f.value) for f in c.footers] == [
        ("Refs", "#12"),
        ("BREAKING CHANGE", "gone\ncontinues here"),
        ("Closes", "#5"),
        ("Reviewed-by", "Ada"),
    ]
    assert c.breaking_note == "gone\ncontinues here"


def test_breaking_note_inside_body_still_counts() -> None:
    """A BREAKING CHANGE paragraph followed by more prose still marks the commit breaking."""
    c = parse_message("feat: x\n\nBREAKING CHANGE: renamed\n\nMore prose after it.")
    assert c is not None and c.breaking and c.breaking_note == "renamed"


def test_lowercase_breaking_change_is_not_a_breaking_footer() -> None:
    """The spec requires BREAKING CHANGE in upper case; lower case is an ordinary footer."""
    c = parse_message("feat: x\n\nbreaking-change: maybe")
    assert c is not None and not c.breaking


GITHUB_SQUASH = """\
Merged in DCE-2419-move-email (pull request #183)

* fix: removed emails from this application

* feat(api): add retries

  Retries use a budget.

* feat!: drop python 3.10

Co-authored-by: Ada <ada@example.com>
"""

GIT_SQUASH = """\
Squashed commit of the following:

commit 74e6b0087331e5947fd8ba388e75d4d1900dfd44
Author: Jason Walton <dev@example.com>
Date:   Thu May 17 11:21:50 2018 -0400

    fix: More fixes

commit b894885ae467975226e81080a35625d247796960
Author: Jason Walton <dev@example.com>
Date:   Thu May 17 11:13:25 2018 -0400

    feat(cli): new flag

    BREAKING CHANGE: --old is gone
"""


def test_squash_merge_body_parsed_one_by_one() -> None:
    """A squash body of bullet commits yields each commit, as python-semantic-release#1025 asks."""
    parts = parse_commit(Commit("a" * 40, GITHUB_SQUASH, ("src/x.py",)))
    assert [(p.type, p.scope, p.subject, p.breaking) for p in parts] == [
        ("fix", None, "removed emails from this application", False),
        ("feat", "api", "add retries", False),
        ("feat", None, "drop python 3.10", True),
    ]
    assert parts[1].body == "Retries use a budget."
    assert all(p.sha == "a" * 40 and p.files == ("src/x.py",) for p in parts)


def test_git_squash_format_drops_commit_author_date_lines() -> None:
    """git's own squash message splits per commit and its metadata lines are not bodies."""
    parts = parse_commit(Commit("b" * 40, GIT_SQUASH))
    assert [(p.type, p.scope, p.subject) for p in parts] == [
        ("fix", None, "More fixes"),
        ("feat", "cli", "new flag"),
    ]
    assert parts[0].body == ""
    assert parts[1].breaking_note == "--old is gone"


def test_squash_title_not_repeated() -> None:
    """A conventional merge title that repeats one of its bullets is listed once."""
    message = "feat(api): add retries (#42)\n\n* feat(api): add retries\n\n* fix(api): timeout"
    parts = parse_commit(Commit("c" * 40, message))
    assert [p.header for p in parts] == ["feat(api): add retries (#42)", "fix(api): timeout"]


def test_footer_tokens_do_not_split_a_commit() -> None:
    """Trailers such as Reviewed-by or Refs are footers, not squashed commits."""
    parts = parse_commit(Commit("d" * 40, "fix: x\n\nReviewed-by: Ada\nRefs: #3"))
    assert len(parts) == 1 and len(parts[0].footers) == 2


def test_squash_splitting_can_be_turned_off() -> None:
    """With no squash types, a body line that looks like a header stays in the body."""
    parts = parse_commit(Commit("e" * 40, "chore: merge\n\n* feat: x"), squash_types=())
    assert [p.type for p in parts] == ["chore"]


def test_parse_commits_lists_ignored() -> None:
    """Messages that are not conventional are returned so the CLI can warn about them."""
    result = parse_commits(commits("feat: a", "wip", "fix: b"))
    assert [c.type for c in result.commits] == ["feat", "fix"]
    assert [c.message for c in result.ignored] == ["wip"]


# --- bump decisions -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("messages", "zero", "major_on_zero", "expected"),
    [
        (["chore: a", "docs: b"], False, True, Bump.NONE),
        (["fix: a"], False, True, Bump.PATCH),
        (["perf: a"], False, True, Bump.PATCH),
        (["fix: a", "feat: b"], False, True, Bump.MINOR),
        (["feat: a", "fix!: b"], False, True, Bump.MAJOR),
        (["feat: a\n\nBREAKING CHANGE: x"], False, True, Bump.MAJOR),
        (["feat!: a"], True, True, Bump.MAJOR),
        (["feat!: a"], True, False, Bump.MINOR),
        (["feat!: a"], False, False, Bump.MAJOR),
    ],
)
def test_decide_bump(messages: list[str], zero: bool, major_on_zero: bool, expected: Bump) -> None:
    """feat is minor, fix/perf patch, breaking major (minor on 0.x without major_on_zero)."""
    parsed = parse_commits(commits(*messages)).commits
    bump, _ = decide_bump(parsed, VersioningConfig(major_on_zero=major_on_zero), zero=zero)
    assert bump is expected


def test_decision_names_the_deciding_commits() -> None:
    """The decision lists the commits that set the bump and explains itself line by line."""
    d = next_version("1.3.2", commits("fix: a", "feat(api): b", "feat: c", "chore: d", "wip"))
    assert d.version == "1.4.0" and d.bump is Bump.MINOR
    assert [c.header for c in d.deciding] == ["feat(api): b", "feat: c"]
    lines = d.explain()
    assert lines[0] == "1.3.2 -> 1.4.0 (minor bump on release branch main)"
    assert any("feat(api): b" in line for line in lines)
    assert any("ignored" in line and "wip" in line for line in lines)


@pytest.mark.parametrize(
    ("last", "messages", "expected"),
    [
        ("1.3.2", ["fix: a"], "1.3.3"),
        ("1.3.2", ["feat: a"], "1.4.0"),
        ("1.3.2", ["feat!: a"], "2.0.0"),
        ("0.3.1", ["feat!: a"], "1.0.0"),
        (None, ["fix: a"], "0.1.0"),
        ("v1.3.2", ["perf: a"], "1.3.3"),
        ("1.4.0-rc.2", ["fix: a"], "1.4.0"),
    ],
)
def test_next_version_on_main(last: str | None, messages: list[str], expected: str) -> None:
    """On a release branch the next version applies the biggest bump to the last one."""
    assert next_version(last, commits(*messages)).version == expected


def test_nothing_to_release() -> None:
    """Commits that ask for no bump give no version, and say so."""
    d = next_version("1.3.2", commits("docs: a", "chore: b"))
    assert d.version is None and not d.releasable
    assert d.explain()[0] == "nothing to release since 1.3.2"


def test_existing_version_is_a_conflict() -> None:
    """A next version that is already tagged raises version-exists instead of retagging."""
    with pytest.raises(VersionExists) as info:
        next_version("1.3.2", commits("fix: a"), released=["1.3.3"])
    assert info.value.code == "version-exists"


RC = VersioningConfig(prerelease_branches={"next": "rc", "beta/*": "beta"})


@pytest.mark.parametrize(
    ("branch", "last", "messages", "released", "expected"),
    [
        ("next", "1.3.2", ["feat: a"], [], "1.4.0-rc.1"),
        ("next", "1.3.2", ["feat: a"], ["1.4.0-rc.1"], "1.4.0-rc.2"),
        ("next", "1.4.0-rc.2", ["fix: a"], ["1.4.0-rc.1", "1.4.0-rc.2"], "1.4.0-rc.3"),
        ("next", "1.4.0-rc.2", ["feat!: a"], [], "2.0.0-rc.1"),
        ("next", "1.3.2", ["fix: a"], ["1.3.3-beta.4"], "1.3.3-rc.1"),
        ("beta/checkout", "1.3.2", ["feat: a"], ["1.4.0-beta.1"], "1.4.0-beta.2"),
        ("next", None, ["feat: a"], [], "0.1.0-rc.1"),
    ],
)
def test_prerelease_channels(
    branch: str, last: str | None, messages: list[str], released: list[str], expected: str
) -> None:
    """A pre-release branch numbers its channel after the ones already released."""
    d = next_version(last, commits(*messages), branch=branch, config=RC, released=released)
    assert d.version == expected and d.kind == "prerelease"


def test_prerelease_of_a_released_version_conflicts() -> None:
    """A channel cannot pre-release a version that is already out."""
    with pytest.raises(VersionExists):
        next_version("1.3.2", commits("feat: a"), branch="next", config=RC, released=["1.4.0"])


@pytest.mark.parametrize(
    ("branch", "kind", "token", "line"),
    [
        ("main", "release", None, None),
        ("master", "release", None, None),
        ("release/1.4.x", "maintenance", None, (1, 4)),
        ("1.4.x", "maintenance", None, (1, 4)),
        ("release/v2.x", "maintenance", None, (2, None)),
        ("next", "prerelease", "rc", None),
        ("beta/checkout", "prerelease", "beta", None),
    ],
)
def test_branch_policy(
    branch: str, kind: str, token: str | None, line: tuple[int, int | None] | None
) -> None:
    """Branch names map to release, pre-release or maintenance with their line."""
    policy = branch_policy(branch, RC)
    assert (policy.kind, policy.token, policy.line) == (kind, token, line)


def test_unknown_branch_refused() -> None:
    """A branch that matches no rule cannot release, and the error lists the rules."""
    with pytest.raises(BranchNotReleasable) as info:
        next_version("1.0.0", commits("fix: a"), branch="feature/login")
    assert "main" in info.value.message and info.value.code == "branch-not-releasable"


def test_maintenance_branch_without_line_invalid() -> None:
    """A maintenance pattern match without N.M.x in the name is a naming error."""
    cfg = VersioningConfig(maintenance_branches=("maint/*",))
    with pytest.raises(BranchInvalid):
        branch_policy("maint/old", cfg)


def test_invalid_prerelease_token() -> None:
    """A channel token that cannot be a SemVer identifier is rejected."""
    with pytest.raises(VersionInvalid):
        branch_policy("next", VersioningConfig(prerelease_branches={"next": "r.c"}))


@pytest.mark.parametrize(
    ("branch", "last", "messages", "released", "expected"),
    [
        # Cut from the newest release with nothing newer on main: semantic-release#1487.
        ("release/1.4.x", "1.4.0", ["fix: a"], ["1.4.0"], "1.4.1"),
        ("release/1.4.x", "1.4.0", ["fix: a"], ["1.4.0", "1.5.0", "2.0.0"], "1.4.1"),
        ("release/1.4.x", "1.4.2", ["perf: a", "chore: b"], [], "1.4.3"),
        # 1.4.1 was tagged from elsewhere: skip it rather than collide (semantic-release#3445).
        ("release/1.4.x", "1.4.0", ["fix: a"], ["1.4.1"], "1.4.2"),
        ("release/1.x", "1.4.2", ["feat: a"], [], "1.5.0"),
        ("release/1.4.x", None, ["fix: a"], ["1.4.3", "1.5.0"], "1.4.4"),
    ],
)
def test_maintenance_patch_versions(
    branch: str, last: str | None, messages: list[str], released: list[str], expected: str
) -> None:
    """A maintenance branch releases within its line whatever other branches released."""
    d = next_version(last, commits(*messages), branch=branch, released=released)
    assert d.version == expected and d.kind == "maintenance"


@pytest.mark.parametrize(
    ("branch", "messages", "bump"),
    [
        ("release/1.4.x", ["fix: a", "feat(api): b"], "minor"),
        ("release/1.4.x", ["fix!: a"], "major"),
        ("release/1.x", ["feat: a\n\nBREAKING CHANGE: b"], "major"),
    ],
)
def test_maintenance_refuses_features_and_breaking(
    branch: str, messages: list[str], bump: str
) -> None:
    """A feature or breaking change on a maintenance line is refused, naming the commits."""
    with pytest.raises(MaintenanceBumpRefused) as info:
        next_version("1.4.0", commits(*messages), branch=branch)
    err = info.value
    assert err.code == "maintenance-bump-refused" and isinstance(err, Refused)
    assert err.details["bump"] == bump and err.details["commits"]
    assert "revert" in err.hint
    assert err.details["commits"][0][:7] in err.message


def test_maintenance_last_version_outside_line() -> None:
    """A maintenance branch whose last version belongs to another line is out of range."""
    with pytest.raises(VersionOutOfRange):
        next_version("1.5.0", commits("fix: a"), branch="release/1.4.x")


def test_maintenance_line_never_released() -> None:
    """A line with no release to patch is out of range with a hint how to start it."""
    with pytest.raises(VersionOutOfRange) as info:
        next_version(None, commits("fix: a"), branch="release/1.4.x")
    assert "1.4.0" in info.value.hint


# --- monorepo -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("files", "patterns", "expected"),
    [
        (["services/api/main.py"], ["services/api"], True),
        (["services/api/main.py"], ["services/api/"], True),
        (["services/apix/main.py"], ["services/api"], False),
        (["services/api/sub/x.py"], ["services/api/*.py"], False),
        (["services/api/sub/x.py"], ["services/api/**"], True),
        (["libs/a/b/c.py"], ["libs/**/c.py"], True),
        (["libs/c.py"], ["libs/**/c.py"], True),
        (["./README.md"], ["README.md"], True),
        ([], ["**"], False),
    ],
)
def test_touches(files: list[str], patterns: list[str], expected: bool) -> None:
    """Service paths match as folders, single-segment globs or ** globs."""
    assert touches(files, patterns) is expected


def test_monorepo_version_per_service() -> None:
    """Each service gets its own version from the commits that changed its paths."""
    history = [
        Commit("1" * 40, "feat(api): retries", ("services/api/client.py",)),
        Commit("2" * 40, "fix(web): layout", ("services/web/app.css",)),
        Commit("3" * 40, "fix: shared logging", ("libs/log.py", "services/api/log.py")),
        Commit("4" * 40, "docs: readme", ("README.md",)),
    ]
    services = {
        "api": ["services/api/**", "libs"],
        "web": ["services/web"],
        "docs": ["docs"],
    }
    out = next_versions(
        {"api": "1.2.0", "web": "0.9.1", "docs": None},
        history,
        services,
        released={"api": ["1.2.0"]},
    )
    assert {k: d.version for k, d in out.items()} == {"api": "1.3.0", "web": "0.9.2", "docs": None}
    assert out["api"].service == "api"
    assert [c.sha[0] for c in out["api"].commits] == ["1", "3"]
    assert out["api"].explain()[0].startswith("api: 1.2.0 -> 1.3.0")


@pytest.mark.parametrize(
    ("version", "service", "tag"),
    [("1.4.0", None, "v1.4.0"), ("1.4.0", "api", "api@1.4.0")],
)
def test_tag_round_trip(version: str, service: str | None, tag: str) -> None:
    """Tags name versions as v1.4.0 or service@1.4.0 and read back the same."""
    assert tag_name(version, service) == tag
    assert str(version_from_tag(tag, service)) == version


@pytest.mark.parametrize(
    ("tag", "service"),
    [("web@1.0.0", "api"), ("api@1.0.0", None), ("v1.0", None), ("release-1.0.0", None)],
)
def test_foreign_tags_ignored(tag: str, service: str | None) -> None:
    """Tags of another service or not naming a version give None."""
    assert version_from_tag(tag, service) is None


# --- calendar versioning -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("last", "today", "fmt", "expected"),
    [
        (None, date(2026, 3, 5), "YYYY.MM.MICRO", "2026.3.0"),
        ("2026.3.0", date(2026, 3, 9), "YYYY.MM.MICRO", "2026.3.1"),
        ("2026.3.7", date(2026, 4, 1), "YYYY.MM.MICRO", "2026.4.0"),
        ("26.03.1", date(2026, 3, 9), "YY.0M.MICRO", "26.03.2"),
        (None, date(2026, 3, 9), "YYYY.0M.0D", "2026.03.09"),
        (None, date(2026, 3, 9), "YYYY.WW.MICRO", "2026.11.0"),
        (None, date(2027, 1, 1), "YYYY.0W.MICRO", "2027.00.0"),
    ],
)
def test_next_calver(last: str | None, today: date, fmt: str, expected: str) -> None:
    """MICRO counts releases within a period and restarts when the date part changes."""
    assert next_calver(last, today, fmt) == expected


@pytest.mark.parametrize("fmt", ["YYYY.MICRO.MM", "MICRO", "YYYY.QQ", "YYYY.MICRO.MICRO"])
def test_calver_format_invalid(fmt: str) -> None:
    """Unknown tokens or a misplaced MICRO raise calver-invalid."""
    with pytest.raises(CalverFormatInvalid):
        next_calver(None, date(2026, 1, 1), fmt)


def test_calver_without_micro_twice_a_day_conflicts() -> None:
    """A date-only format cannot release twice in one period."""
    with pytest.raises(VersionExists):
        next_calver("2026.03.09", date(2026, 3, 9), "YYYY.0M.0D")


def test_next_version_calver() -> None:
    """With scheme calver, any releasable commit gives the next calendar version."""
    cfg = VersioningConfig(scheme="calver")
    d = next_version("2026.3.1", commits("fix: a"), config=cfg, today=date(2026, 3, 20))
    assert d.version == "2026.3.2" and d.scheme == "calver"
    assert "calendar release" in d.explain()[0]
    assert (
        next_version("2026.3.1", commits("docs: a"), config=cfg, today=date(2026, 3, 20)).version
        is None
    )


def test_calver_needs_today() -> None:
    """Calendar versioning without a date is an input error, not a clock read."""
    with pytest.raises(InputError) as info:
        next_version(None, commits("fix: a"), config=VersioningConfig(scheme="calver"))
    assert info.value.code == "calver-date-missing"


# --- changelog ------------------------------------------------------------------------------


def _changelog_commits() -> list[ConventionalCommit]:
    return list(
        parse_commits(
            [
                Commit("0123456789abcdef", "docs: readme"),
                Commit("1111111aaaa", "fix(ui): button color"),
                Commit(
                    "2222222bbbb", "feat(api)!: drop v1\n\nBREAKING CHANGE: v1 endpoints are gone"
                ),
                Commit("3333333cccc", "perf: cache lookups"),
                Commit("4444444dddd", "feat: dark mode"),
                Commit("5555555eeee", "ops: rotate keys"),
                Commit("6666666ffff", "fix!: strict parsing"),
            ]
        ).commits
    )


def test_changelog_sections_in_order() -> None:
    """Breaking changes come first, then features, fixes, performance and the other types."""
    log = build_changelog("2.0.0", _changelog_commits())
    assert [s.title for s in log.sections] == [
        "Breaking changes",
        "Features",
        "Bug fixes",
        "Performance",
        "Documentation",
        "Ops",
    ]
    assert [e.subject for e in log.sections[0].entries] == ["drop v1", "strict parsing"]


def test_changelog_type_filter() -> None:
    """Limiting the types keeps breaking changes and drops the rest."""
    log = build_changelog("2.0.0", _changelog_commits(), types=["feat", "fix"])
    assert [s.title for s in log.sections] == ["Breaking changes", "Features", "Bug fixes"]


def test_changelog_markdown() -> None:
    """Markdown has a dated heading, short linked shas, bold scopes and breaking notes."""
    log = build_changelog("2.0.0", _changelog_commits(), on=date(2026, 3, 5))
    text = render_markdown(log, repo_url="https://git.example.com/acme/checkout/")
    assert text.startswith("## 2.0.0 (2026-03-05)\n\n### Breaking changes\n\n")
    assert (
        "- **api:** drop v1 ([2222222](https://git.example.com/acme/checkout/commit/2222222bbbb))\n"
        "\n  v1 endpoints are gone\n" in text
    )
    assert "- **ui:** button color ([1111111](" in text
    assert text.endswith("\n") and not text.endswith("\n\n")


def test_changelog_markdown_without_links_or_changes() -> None:
    """Without a repository URL shas are plain; an empty release says so."""
    log = build_changelog("1.0.1", _changelog_commits()[:2])
    text = render_markdown(log, level=1)
    assert "# 1.0.1\n" in text and "- **ui:** button color (1111111)" in text
    assert "No notable changes." in render_markdown(build_changelog("1.0.2", []))


def test_changelog_lists_a_squashed_change_once() -> None:
    """The same parsed change passed twice appears once."""
    parts = parse_commit(Commit("9" * 40, GITHUB_SQUASH))
    log = build_changelog("1.0.0", [*parts, *parts])
    assert sum(len(s.entries) for s in log.sections) == 3


# --- regressions found on real histories (issue 20) -----------------------------------------


def test_git_revert_message_reads_as_a_revert() -> None:
    """git's `Revert "feat: x"` is a revert commit of `feat: x`, carrying the reverted sha."""
    c = parse_message('Revert "feat: add retries"\n\nThis reverts commit ' + "ab12" * 10 + ".")
    assert c is not None and (c.type, c.subject, c.breaking) == (
        "revert",
        "feat: add retries",
        False,
    )
    assert (c.reverts, c.reverts_sha) == ("feat: add retries", "ab12" * 10)


# The PR title repeats a sub-commit that alone carries the BREAKING CHANGE footer.
SQUASH_TITLE_REPEATED_BREAKING = """\
feat(api): new auth (#42)

* feat(api): new auth

  BREAKING CHANGE: tokens issued by v1 are refused

* fix(api): typo in the error message
"""


@pytest.mark.parametrize(
    ("message", "expected"),
    [
        (SQUASH_TITLE_REPEATED_BREAKING, "2.0.0"),
        ("feat(api): new auth (#42)\n\n* feat(api)!: new auth\n\n* docs: readme", "2.0.0"),
        ("feat(api): new auth (#42)\n\n* feat(api): new auth\n\n* docs: readme", "1.5.0"),
        ("fix: crash (#7)\n\n* fix: crash\n\n  BREAKING-CHANGE: exits 3 now", "2.0.0"),
    ],
)
def test_squash_title_repeat_keeps_the_breaking_change(message: str, expected: str) -> None:
    """A sub-commit that repeats the PR title is listed once, but its breaking change counts."""
    d = next_version("1.4.0", [Commit("a" * 40, message)])
    assert d.version == expected
    titles = [c for c in d.commits if c.subject.startswith(("new auth", "crash"))]
    assert len(titles) == 1


def test_squash_title_repeat_carries_the_note_into_the_changelog() -> None:
    """The merged title is listed under breaking changes with the sub-commit's note."""
    parts = parse_commit(Commit("a" * 40, SQUASH_TITLE_REPEATED_BREAKING))
    assert [(p.header, p.breaking) for p in parts] == [
        ("feat(api): new auth (#42)", True),
        ("fix(api): typo in the error message", False),
    ]
    log = build_changelog("2.0.0", parts)
    assert log.sections[0].entries[0].note == "tokens issued by v1 are refused"


@pytest.mark.parametrize(
    ("message", "expected"),
    [
        # An example indented as a Markdown code block is not a squashed commit.
        (
            "docs: explain the bump rules\n\nFor example:\n\n    chore(deps)!: drop node 14\n\n"
            "makes a major release.",
            None,
        ),
        ("fix: parser\n\nA header such as\n\n\tfeat!: x\n\nis an example.", "1.0.1"),
        ("fix: parser\n\n```\nfeat!: drop the old flag\n```\n", "1.0.1"),
        ("fix: parser\n\n~~~text\n* feat!: quoted\n~~~\n", "1.0.1"),
        # A breaking note quoted as an example does not break anything either.
        ("fix: docs of footers\n\nWrite it as:\n\n    BREAKING CHANGE: what broke", "1.0.1"),
        ("fix: docs\n\n```\nBREAKING CHANGE: what broke\n```", "1.0.1"),
        # Bullets and git's own squash format still split.
        ("chore: merge (#3)\n\n* feat!: drop v1", "2.0.0"),
        ("chore: merge (#3)\n\n  - feat: nested bullet", "1.1.0"),
        (GIT_SQUASH, "2.0.0"),
    ],
)
def test_indented_examples_are_not_commits(message: str, expected: str | None) -> None:
    """Headers and breaking notes in code blocks stay in the body; real squash lists split."""
    assert next_version("1.0.0", [Commit("b" * 40, message)]).version == expected


REVERTED_IN_SQUASH = """\
feat: new api (#7)

* feat!: drop the v1 endpoints

* Revert "feat!: drop the v1 endpoints"

  This reverts commit 0a1b2c3d4e5f60718293a4b5c6d7e8f901234567.

* fix: typo
"""


@pytest.mark.parametrize(
    ("messages", "expected"),
    [
        ([REVERTED_IN_SQUASH], "1.1.0"),
        (["feat: new api (#7)\n\n* feat!: drop v1\n\n* revert: feat!: drop v1"], "1.1.0"),
        (['chore: sync (#8)\n\n* feat!: drop v1\n\n* Revert "feat!: drop v1"'], None),
        # Across commits of the range, by header or by the sha git writes.
        (["feat!: drop v1", 'Revert "feat!: drop v1"'], None),
        (["feat!: drop v1", "fix: a", 'Revert "feat!: drop v1" (#9)'], "1.0.1"),
        (["feat: x", 'Revert "feat: x"', 'Revert "Revert "feat: x""'], "1.1.0"),
        # A revert of something released before stays, and only the reverted change goes.
        (['Revert "feat!: shipped in 1.0.0"', "fix: a"], "1.0.1"),
        (["feat!: a", "feat!: b", 'Revert "feat!: b"'], "2.0.0"),
    ],
)
def test_reverted_changes_do_not_count(messages: list[str], expected: str | None) -> None:
    """A change reverted in the same range, in the same squash or later, counts for nothing,
    as semantic-release's commit-analyzer filters reverted commits."""
    assert next_version("1.0.0", commits(*messages)).version == expected


def test_revert_found_by_sha_drops_every_change_of_that_commit() -> None:
    """`This reverts commit <sha>` reverts all the changes of a squash commit, and is explained."""
    squash = Commit("c" * 40, "feat: a (#1)\n\n* feat!: b\n\n* fix: c")
    revert = Commit("d" * 40, 'Revert "feat: a (#1)"\n\nThis reverts commit ' + "c" * 40 + ".")
    d = next_version("1.0.0", [squash, revert])
    assert d.version is None and {c.subject for c in d.reverted} == {"a (#1)", "b", "c"}
    assert any("reverted" in line and "feat!: b" in line for line in d.explain())


def test_squash_bullets_can_be_left_uncounted() -> None:
    """With squash splitting off (release.squash_bullets: false) only the title counts."""
    message = "chore: dependencies (#12)\n\n* feat!: drop node 14\n\n* fix: x"
    off = VersioningConfig(squash_types=())
    assert next_version("1.0.0", [Commit("e" * 40, message)], config=off).version is None
    assert next_version("1.0.0", [Commit("e" * 40, message)]).version == "2.0.0"


def test_a_change_squashed_again_is_listed_once() -> None:
    """A sub-commit that repeats a change already in the range (a stacked pull request
    squashed twice) appears once in the decision and the changelog."""
    history = [
        Commit("1" * 40, "fix(cart): handle an empty cart (#4)"),
        Commit(
            "2" * 40, "feat: checkout v2 (#5)\n\n* fix(cart): handle an empty cart\n\n* feat: v2"
        ),
    ]
    d = next_version("1.0.0", history)
    log = build_changelog(d.version or "", d.commits)
    subjects = [e.subject for s in log.sections for e in s.entries]
    assert sorted(subjects) == ["checkout v2 (#5)", "handle an empty cart (#4)", "v2"]


@pytest.mark.parametrize(
    ("version", "service", "fmt", "tag"),
    [
        ("1.4.0", None, "v{version}", "v1.4.0"),
        ("1.4.0", None, "{version}", "1.4.0"),
        ("1.4.0-rc.1", None, "release-{version}", "release-1.4.0-rc.1"),
        ("1.4.0", "api", "v{version}", "api@1.4.0"),
        ("1.4.0", "api", "{service}-v{version}", "api-v1.4.0"),
        ("2.0.0", None, "checkout/v{version}", "checkout/v2.0.0"),
    ],
)
def test_tag_format_round_trip(version: str, service: str | None, fmt: str, tag: str) -> None:
    """A tag format writes the tag and reads back the same version."""
    assert tag_name(version, service, fmt) == tag
    assert str(version_from_tag(tag, service, fmt)) == version


@pytest.mark.parametrize(
    ("tag", "fmt"),
    [
        ("1.2.3", "v{version}"),  # read before but never written: now neither
        ("v1.2.3", "{version}"),
        ("release-2.3.0", "v{version}"),
        ("v2.3.0", "release-{version}"),
        ("release-v2.3.0", "release-{version}"),
        ("api-v1.0.0", "{service}-v{version}"),
    ],
)
def test_tags_of_another_format_are_not_read(tag: str, fmt: str) -> None:
    """Only tags in the configured format name versions, so reading matches writing."""
    service = "web" if "{service}" in fmt else None
    assert version_from_tag(tag, service, fmt) is None


@pytest.mark.parametrize(
    "fmt",
    ["v", "{version}-{version}", "v {version}", "{name}-{version}", "-{version}", "v{version}."],
)
def test_tag_format_invalid(fmt: str) -> None:
    """A format without {version} once, or that git could not use as a tag, is refused."""
    with pytest.raises(TagFormatInvalid):
        check_tag_format(fmt)


@pytest.mark.parametrize(
    ("tags", "fmt", "expected"),
    [
        (
            ["release-2.2.0", "release-2.3.0", "notes", "web@1.0.0"],
            "v{version}",
            {"release-{version}": ["release-2.3.0", "release-2.2.0"]},
        ),
        (["1.2.3", "v1.0.0"], "v{version}", {"{version}": ["1.2.3"]}),
        (["v1.2.3"], "{version}", {"v{version}": ["v1.2.3"]}),
        (["v1.2.3", "v1.2.4"], "v{version}", {}),
    ],
)
def test_other_tag_formats_are_named(
    tags: list[str], fmt: str, expected: dict[str, list[str]]
) -> None:
    """Version tags the format does not read are grouped by the format they follow."""
    assert other_tag_formats(tags, fmt) == expected


@pytest.mark.parametrize(
    ("pending", "messages", "expected", "previous"),
    [
        ("1.0.0-rc.1", ["feat: a"], "1.0.0", "1.0.0-rc.1"),
        ("1.0.0-rc.3", ["fix: a"], "1.0.0", "1.0.0-rc.3"),
        ("0.3.0-beta.2", ["feat: a"], "0.3.0", "0.3.0-beta.2"),
        ("2.0.0-rc.1", ["feat!: a"], "2.0.0", "2.0.0-rc.1"),
        (None, ["feat: a"], "0.1.0", None),
    ],
)
def test_only_prereleases_finish_the_newest(
    pending: str | None, messages: list[str], expected: str, previous: str | None
) -> None:
    """On main with only pre-releases so far, the release finishes the newest one instead of
    starting below it at 0.1.0."""
    d = next_version(None, commits(*messages), pending=pending, released=[pending or "9.9.9"])
    assert (d.version, d.previous) == (expected, previous)


# --- configurable commit types and the --bump override --------------------------------------


@pytest.mark.parametrize(
    ("overrides", "message", "expected"),
    [
        ({}, "feat: a", Bump.MINOR),
        ({}, "docs: a", Bump.NONE),
        ({"deps": "patch"}, "deps: bump x", Bump.PATCH),
        ({"perf": "none"}, "perf: faster", Bump.NONE),
        ({"feat": "major"}, "feat: a", Bump.MAJOR),
        ({"docs(api)": "patch"}, "docs(api): endpoints", Bump.PATCH),
        ({"docs(api)": "patch"}, "docs(ui): screenshots", Bump.NONE),
        ({"docs(api)": "patch"}, "docs: readme", Bump.NONE),
        ({"fix(deps*)": "none"}, "fix(deps-dev): pytest", Bump.NONE),
        ({"fix(deps*)": "none"}, "fix(core): crash", Bump.PATCH),
        ({"chore(release)": "minor", "chore": "patch"}, "chore(release): x", Bump.MINOR),
        ({"docs": "none"}, "docs!: removed the guide", Bump.MAJOR),
        ({"Deps": "patch"}, "deps: bump x", Bump.PATCH),
    ],
)
def test_commit_types_table(overrides: dict[str, str], message: str, expected: Bump) -> None:
    """Configured types and type(scope-glob) rules set the bump; breaking is always major."""
    config = VersioningConfig(commit_types=commit_types(overrides))
    parsed = parse_commits(commits(message)).commits
    assert decide_bump(parsed, config)[0] is expected


@pytest.mark.parametrize(
    ("overrides", "error"),
    [
        ({"feat": "huge"}, BumpInvalid),
        ({"feat fix": "patch"}, CommitTypeInvalid),
        ({"docs()": "patch"}, CommitTypeInvalid),
        ({"BREAKING-CHANGE": "major"}, CommitTypeInvalid),
    ],
)
def test_commit_types_invalid(overrides: dict[str, str], error: type[Exception]) -> None:
    """Unknown bump names and malformed type keys are refused with their own codes."""
    with pytest.raises(error):
        commit_types(overrides)


def test_custom_types_split_squash_bodies() -> None:
    """A configured type is a squash sub-commit too, when passed as a squash type."""
    table = commit_types({"deps": "patch"})
    types = (*KNOWN_TYPES, *type_names(table))
    config = VersioningConfig(commit_types=table, squash_types=types)
    d = next_version("1.0.0", commits("chore: weekly (#3)\n\n* deps: bump x"), config=config)
    assert d.version == "1.0.1"


@pytest.mark.parametrize(
    ("last", "messages", "override", "expected", "computed"),
    [
        ("1.4.2", ["fix: a"], Bump.MAJOR, "2.0.0", Bump.PATCH),
        ("1.4.2", ["feat!: a"], Bump.MINOR, "1.5.0", Bump.MAJOR),
        ("1.4.2", ["docs: a"], Bump.PATCH, "1.4.3", Bump.NONE),
        ("0.4.2", ["fix: a"], Bump.MAJOR, "1.0.0", Bump.PATCH),
        ("1.4.2", ["fix: a"], None, "1.4.3", None),
    ],
)
def test_bump_override(
    last: str, messages: list[str], override: Bump | None, expected: str, computed: Bump | None
) -> None:
    """--bump sets the level whatever the commits ask for, and keeps what they asked for."""
    d = next_version(last, commits(*messages), override=override)
    assert (d.version, d.computed) == (expected, computed)
    if override is not None:
        assert "set by --bump" in d.explain()[0]


def test_bump_override_respects_maintenance_lines() -> None:
    """A maintenance branch refuses a --bump beyond its line, naming --bump as the cause."""
    with pytest.raises(MaintenanceBumpRefused, match="--bump asks for a minor"):
        next_version("1.4.2", commits("fix: a"), branch="release/1.4.x", override=Bump.MINOR)
