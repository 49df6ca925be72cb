"""CHANGELOG.md updates: newest section first, a retried version replaced, not duplicated."""

from __future__ import annotations

import pytest

from shipyard.services.releases.release import update_changelog

S1 = "## 0.1.0 (2026-01-01)\n\n### Features\n\n- one (aaaaaaa)\n"
S2 = "## 0.2.0 (2026-01-02)\n\n### Bug fixes\n\n- two (bbbbbbb)\n"
S2B = "## 0.2.0 (2026-01-03)\n\n### Bug fixes\n\n- two again (ccccccc)\n"


@pytest.mark.parametrize(
    ("existing", "section", "version", "expected"),
    [
        ("", S1, "0.1.0", "# Changelog\n\n" + S1),
        ("# Changelog\n\n" + S1, S2, "0.2.0", "# Changelog\n\n" + S2 + "\n" + S1),
        ("# Changelog\n\n" + S2 + "\n" + S1, S2B, "0.2.0", "# Changelog\n\n" + S2B + "\n" + S1),
        ("Old notes.\n", S1, "0.1.0", "# Changelog\n\n" + S1 + "\nOld notes.\n"),
    ],
)
def test_update_changelog(existing: str, section: str, version: str, expected: str) -> None:
    """The new section goes first under the title; an older copy of the same version goes."""
    assert update_changelog(existing, section, version) == expected
