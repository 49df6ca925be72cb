"""The remote cache's decisions: addresses, eviction, and what an action entry may hold."""

from __future__ import annotations

import pytest

from shipyard.domain import remote_cache as rc

HEX = "ab" * 32


@pytest.mark.parametrize(
    ("path", "expected"),
    [
        (f"ac/{HEX}", rc.Address("ac", HEX)),
        (f"cas/{HEX}", rc.Address("cas", HEX)),
        (
            "0123456789abcdef0123456789abcdef",
            rc.Address("gradle", "0123456789abcdef0123456789abcdef"),
        ),
        (f"ac/{HEX.upper()}", None),
        (f"ac/{HEX[:-1]}", None),
        (f"xx/{HEX}", None),
        (f"ac/{HEX}/more", None),
        ("", None),
        ("short", None),
        ("../../etc/passwd", None),
    ],
)
def test_address_of_a_cache_path(path: str, expected: rc.Address | None) -> None:
    """Only ac/<sha256 hex>, cas/<sha256 hex> and a Gradle hex key name entries."""
    assert rc.address(path) == expected


@pytest.mark.parametrize(
    ("sizes", "total", "limit", "evicted"),
    [
        ([("a", 5), ("b", 5)], 10, 10, []),  # within the limit: nothing
        ([("a", 5), ("b", 5), ("c", 5)], 15, 10, ["a", "b"]),  # down to 90% of the limit
        ([("a", 1), ("b", 20)], 21, 20, ["a", "b"]),
        ([("a", 3)], 100, 10, ["a"]),  # fewer candidates than needed: all of them
    ],
)
def test_eviction_drops_least_recently_used_down_to_the_low_mark(
    sizes: list[tuple[str, int]], total: int, limit: int, evicted: list[str]
) -> None:
    """Eviction takes the oldest entries first until the cache is at 90% of its limit."""
    entries = [rc.Stored("cas", k, n, f"2026-01-0{i + 1}") for i, (k, n) in enumerate(sizes)]
    assert [e.key for e in rc.to_evict(reversed(entries), total, limit)] == evicted


@pytest.mark.parametrize(
    ("path", "safe"),
    [
        ("out/a.txt", True),
        ("a", True),
        ("/etc/passwd", False),
        ("../x", False),
        ("out/../../x", False),
        ("out//x", False),
        ("./x", False),
        ("out\\x", False),
        ("", False),
    ],
)
def test_safe_relpath(path: str, safe: bool) -> None:
    """A restored path never leaves the workspace."""
    assert rc.safe_relpath(path) is safe


LOG = "sha256:" + "0" * 64


def test_action_entry_round_trip() -> None:
    """An entry written by action_bytes reads back the same, with the blobs it carries."""
    data = rc.action_bytes({"out/a": LOG}, {"v": "1"}, LOG, 1.5, {LOG: b"\x00bytes"})
    assert rc.action_entry(data) == {
        "files": {"out/a": LOG},
        "outputs": {"v": "1"},
        "log_digest": LOG,
        "duration": 1.5,
        "inline": {LOG: b"\x00bytes"},
    }
    assert rc.action_entry(rc.action_bytes({}, {}, LOG, 0))["inline"] == {}  # type: ignore[index]


def _d(c: str) -> str:
    return "sha256:" + c * 64


@pytest.mark.parametrize(
    ("sizes", "carried"),
    [
        ({}, set()),
        ({_d("a"): 0, _d("b"): 4096}, {_d("a"), _d("b")}),
        ({_d("a"): 16 * 1024, _d("b"): 16 * 1024 + 1}, {_d("a")}),  # one blob's limit
        # the entry's limit: the smallest first, until the next does not fit
        ({_d(c): 16 * 1024 for c in "abcde"}, {_d("a"), _d("b"), _d("c"), _d("d")}),
        ({_d("a"): 60 * 1024, _d("b"): 10}, {_d("b")}),
    ],
)
def test_to_inline_carries_small_blobs_within_the_entry_limit(
    sizes: dict[str, int], carried: set[str]
) -> None:
    assert rc.to_inline(sizes) == carried


@pytest.mark.parametrize(
    "data",
    [
        b"\x0a\x20binary protobuf of bazel",
        b"[]",
        b'{"files": {}, "outputs": {}, "log_digest": "%s", "duration": 1}' % LOG.encode(),
        b'{"shipyard": 1, "files": {"../x": "%s"}, "outputs": {}, "log_digest": "%s",'
        b' "duration": 1}' % (LOG.encode(), LOG.encode()),
        b'{"shipyard": 1, "files": {"a": "md5:1"}, "outputs": {}, "log_digest": "%s",'
        b' "duration": 1}' % LOG.encode(),
        b'{"shipyard": 1, "files": {}, "outputs": {"a b": "1"}, "log_digest": "%s",'
        b' "duration": 1}' % LOG.encode(),
        b'{"shipyard": 1, "files": {}, "outputs": {}, "log_digest": "%s", "duration": -1}'
        % LOG.encode(),
        b'{"shipyard": 1, "files": {}, "outputs": {}, "log_digest": null, "duration": 1}',
        b'{"shipyard": 1, "files": {}, "outputs": {}, "log_digest": "%s", "duration": 1,'
        b' "inline": {"%s": "not base64!"}}' % (LOG.encode(), LOG.encode()),
        b'{"shipyard": 1, "files": {}, "outputs": {}, "log_digest": "%s", "duration": 1,'
        b' "inline": {"md5:1": ""}}' % LOG.encode(),
        b'{"shipyard": 1, "files": {}, "outputs": {}, "log_digest": "%s", "duration": 1,'
        b' "inline": []}' % LOG.encode(),
    ],
)
def test_action_entry_refuses_what_is_not_a_safe_entry(data: bytes) -> None:
    """Another client's bytes, a path out of the workspace or a malformed field read as no
    entry (a miss), never as files to restore."""
    assert rc.action_entry(data) is None


@pytest.mark.parametrize(
    ("method", "writes"), [("GET", False), ("HEAD", False), ("PUT", True), ("DELETE", True)]
)
def test_writable_methods(method: str, writes: bool) -> None:
    """Reads need a viewer; anything else needs a token that may write."""
    assert rc.writable(method) is writes
