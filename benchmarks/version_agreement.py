"""How often `shipyard version` agrees with the versions projects actually released.

For each git repository given, every pair of consecutive releases (tags ``vX.Y.Z`` without a
pre-release, the older an ancestor of the newer) is replayed: the next version is decided from
the older tag and the commits between the two (merges and the projects' own release commits
left out, as ``shipyard release`` leaves out its own), and compared with the newer tag. The
peer is each project's release history itself (standard-version, python-semantic-release,
commitizen, release-please, ...); many disagreements are the projects' own choices.

    python benchmarks/version_agreement.py GIT_DIR... [--no-squash-bullets]

The last line is the share of pairs that agree.
"""

from __future__ import annotations

import argparse
import re
import subprocess
from collections import Counter
from itertools import pairwise

from shipyard.domain import versioning as v
from shipyard.errors import ShipyardError

_RS, _FS = "\x1e", "\x1f"
# The release commits these tools make; Shipyard's own is `chore(release): vX.Y.Z`.
_RELEASE = re.compile(
    r"^(?:chore\((?:release|main|master)\)|bump:|chore: release|release:|v?\d+\.\d+\.\d+$)", re.I
)


def _git(git_dir: str, *args: str) -> str:
    return subprocess.run(
        ["git", "--git-dir", git_dir, *args], capture_output=True, text=True, errors="replace"
    ).stdout


def _commits(git_dir: str, since: str, until: str) -> list[v.Commit]:
    out = _git(
        git_dir, "log", "--no-merges", "--reverse", f"--format={_RS}%H{_FS}%B", since + ".." + until
    )
    found = []
    for record in out.split(_RS)[1:]:
        sha, message = record.split(_FS, 1)
        message = message.strip("\n")
        if not _RELEASE.match(message):
            found.append(v.Commit(sha, message))
    return found


def _releases(git_dir: str) -> list[tuple[v.SemVer, str]]:
    tags = []
    for tag in _git(git_dir, "tag").split():
        version = v.version_from_tag(tag)
        if version is not None and not version.is_prerelease:
            tags.append((version, tag))
    return sorted(tags, key=lambda t: t[0].precedence_key())


def agreement(git_dir: str, config: v.VersioningConfig) -> Counter[str]:
    counts: Counter[str] = Counter()
    releases = _releases(git_dir)
    for (last, last_tag), (actual, tag) in pairwise(releases):
        ancestor = subprocess.run(
            ["git", "--git-dir", git_dir, "merge-base", "--is-ancestor", last_tag, tag]
        )
        if ancestor.returncode != 0:
            continue
        try:
            decided = v.next_version(last, _commits(git_dir, last_tag, tag), config=config).version
        except ShipyardError:  # e.g. a version that already exists: counts as a disagreement
            decided = None
        counts["pairs"] += 1
        counts["agree"] += decided == str(actual)
    return counts


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("git_dirs", nargs="+")
    parser.add_argument("--no-squash-bullets", action="store_true")
    args = parser.parse_args()
    config = v.VersioningConfig(squash_types=() if args.no_squash_bullets else v.KNOWN_TYPES)
    total: Counter[str] = Counter()
    for git_dir in args.git_dirs:
        counts = agreement(git_dir, config)
        total.update(counts)
        share = counts["agree"] / counts["pairs"] if counts["pairs"] else 0.0
        print(f"{git_dir}: {counts['agree']}/{counts['pairs']} pairs agree ({share:.1%})")
    share = total["agree"] / total["pairs"] if total["pairs"] else 0.0
    print(f"agreement {total['agree']}/{total['pairs']} = {share:.4f}")


if __name__ == "__main__":
    main()
