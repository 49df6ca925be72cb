"""File names from elsewhere reduced to a safe base name."""

from __future__ import annotations

import pytest

from shipyard.domain.filenames import safe_basename

CASES = [
    ("app.whl", "app.whl"),
    ("../../etc/passwd", "passwd"),
    ("/abs/path/x.tar.gz", "x.tar.gz"),
    ("..\\..\\win.exe", "win.exe"),
    ("dir/", "fallback"),
    ("..", "fallback"),
    (".", "fallback"),
    ("", "fallback"),
    (None, "fallback"),
    ("a\x00b\nc", "abc"),
    ("é" * 200, "é" * 127),
]


@pytest.mark.parametrize(("untrusted", "expected"), CASES)
def test_only_a_base_name_is_kept(untrusted: str | None, expected: str) -> None:
    """Separators, dot names and control characters never survive; a long name is cut."""
    assert safe_basename(untrusted, "fallback") == expected
