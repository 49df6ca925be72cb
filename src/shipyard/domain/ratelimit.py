"""Token buckets: how often one client may ask for something costly. Pure: the caller passes
the time (any monotonic clock, in seconds)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Bucket:
    tokens: float
    at: float  # when ``tokens`` was counted


def take(
    bucket: Bucket | None, now: float, rate: float, burst: float
) -> tuple[bool, Bucket, float]:
    """Spend one token of a bucket that refills ``rate`` per second up to ``burst`` (a new
    client starts full): whether it was there, the bucket after, and the seconds until the
    next token when it was not."""
    if bucket is None:
        tokens = burst
    else:
        tokens = min(burst, bucket.tokens + max(0.0, now - bucket.at) * rate)
    if tokens >= 1.0:
        return True, Bucket(tokens - 1.0, now), 0.0
    return False, Bucket(tokens, now), (1.0 - tokens) / rate
