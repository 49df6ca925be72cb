"""When a file's stat can stand for its content (git's "racy clean" problem).

A file written again within the same timestamp tick as it was last looked at keeps its size and
mtime, so a stat taken then proves nothing about later writes. The kernel stamps files from a
coarse clock (a tick of 1 to 10 ms), so a stat is trusted for a file last modified at least
20 ms before it was looked at; where timestamps are whole seconds (ext3, HFS+, FAT), 2 s.
"""

from __future__ import annotations

FINE_NS = 20_000_000
COARSE_NS = 2_000_000_000


def racy(mtime_ns: int, seen_ns: int) -> bool:
    """True when a file with ``mtime_ns``, looked at at ``seen_ns``, may change unseen."""
    whole_seconds = mtime_ns % 1_000_000_000 == 0
    return seen_ns - mtime_ns < (COARSE_NS if whole_seconds else FINE_NS)
