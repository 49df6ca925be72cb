"""Which artifact names are tar archives, and which archive entries would escape their folder."""

from __future__ import annotations

import pytest

from shipyard.domain.archives import entry_escapes, is_tar_name


@pytest.mark.parametrize(
    ("filename", "expected"),
    [
        ("app-1.0.0.tar.gz", True),
        ("app.tgz", True),
        ("APP.TGZ", True),
        ("app.tar", True),
        ("app.tar.xz", True),
        ("app.tar.bz2", True),
        ("app.zip", False),
        ("app.whl", False),
        ("app.gz", False),
        ("tar.gz.txt", False),
    ],
)
def test_tar_archives_are_known_by_name(filename: str, expected: bool) -> None:
    """Tar archives, compressed or not, are recognised by their suffix, case aside."""
    assert is_tar_name(filename) is expected


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("app.py", False),
        ("pkg/app.py", False),
        ("./pkg/app.py", False),
        ("pkg/../app.py", False),
        ("pkg/", False),
        ("..", True),
        ("../app.py", True),
        ("pkg/../../app.py", True),
        ("/etc/passwd", True),
        ("\\windows\\x", True),
        ("..\\x", True),
        ("C:/x", True),
        ("c:x", True),
    ],
)
def test_entries_that_escape_the_folder_are_spotted(name: str, expected: bool) -> None:
    """Absolute names and names that climb above the folder escape; `..` that stays inside
    does not."""
    assert entry_escapes(name) is expected
