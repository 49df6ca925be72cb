"""Token buckets over literal times."""

from __future__ import annotations

import pytest

from shipyard.domain.ratelimit import Bucket, take

CASES = [
    # (bucket before, now, allowed, tokens after, wait)
    (None, 0.0, True, 2.0, 0.0),  # a new client starts full (burst 3)
    (Bucket(0.0, 0.0), 0.0, False, 0.0, 0.5),  # empty: a token comes in 1/rate seconds
    (Bucket(0.0, 0.0), 0.25, False, 0.5, 0.25),
    (Bucket(0.0, 0.0), 0.5, True, 0.0, 0.0),
    (Bucket(2.5, 0.0), 100.0, True, 2.0, 0.0),  # refills up to the burst, no further
    (Bucket(1.0, 5.0), 4.0, True, 0.0, 0.0),  # a clock step back adds nothing
]


@pytest.mark.parametrize(("bucket", "now", "allowed", "tokens", "wait"), CASES)
def test_take_spends_and_refills(
    bucket: Bucket | None, now: float, allowed: bool, tokens: float, wait: float
) -> None:
    """One token per request, refilled at the rate up to the burst; a refusal says how long
    until the next token."""
    ok, after, retry = take(bucket, now, rate=2.0, burst=3.0)
    assert (ok, after.tokens, retry) == (allowed, pytest.approx(tokens), pytest.approx(wait))
    assert after.at == now
