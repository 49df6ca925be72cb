"""Which `shipyard run` command lines the up-to-date check may answer."""

from __future__ import annotations

import pytest

from shipyard.services.uptodate import options


@pytest.mark.parametrize(
    ("argv", "expected"),
    [
        (["run"], (False, [])),
        (["run", "--json"], (True, [])),
        (["--json", "run"], (True, [])),
        (["run", "-j", "2", "--json"], (True, [])),
        (["run", "--jobs", "8", "--plain"], (False, [])),
        (["run", "-j4"], (False, [])),
        (["run", "--jobs=3"], (False, [])),
        (["run", "build", "test"], (False, ["build", "test"])),
        (["run", "-j", "x"], None),
        (["run", "-j"], None),
        (["run", "-j0"], None),
        (["run", "-j", "0"], None),
        (["run", "--rerun-failed", "3"], None),
        (["run", "-f", "other.yaml"], None),
        (["run", "--help"], None),
        (["runs"], None),
        (["--plain", "run"], None),
        ([], None),
    ],
)
def test_options(argv: list[str], expected: tuple[bool, list[str]] | None) -> None:
    assert options(argv) == expected
