"""Protections for costly public routes: a short-lived cache and a per-client rate limit.

Both live in one server process: each replica caches and counts on its own.
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from typing import Generic, TypeVar

from shipyard.domain.ratelimit import Bucket, take
from shipyard.errors import RateLimited

T = TypeVar("T")


class Cached(Generic[T]):
    """One value, made again at most every ``ttl_s``; callers that arrive while it is being
    made wait for it rather than make it too."""

    def __init__(self, ttl_s: float) -> None:
        self.ttl_s = ttl_s
        self._lock = threading.Lock()
        self._value: T | None = None
        self._made = -float("inf")

    def get(self, make: Callable[[], T]) -> tuple[T, float]:
        """The value and its age in seconds."""
        with self._lock:
            now = time.monotonic()
            if self._value is None or now - self._made >= self.ttl_s:
                self._value, self._made = make(), time.monotonic()
            return self._value, time.monotonic() - self._made


class Limiter:
    """A token bucket per client address, keeping at most ``clients`` of them."""

    def __init__(self, rate: float, burst: float, clients: int = 10_000) -> None:
        self.rate, self.burst, self.clients = rate, burst, clients
        self._lock = threading.Lock()
        self._buckets: OrderedDict[str, Bucket] = OrderedDict()

    def check(self, client: str) -> None:
        """Spend one of ``client``'s tokens or raise ``RateLimited``."""
        with self._lock:
            allowed, bucket, wait = take(
                self._buckets.pop(client, None), time.monotonic(), self.rate, self.burst
            )
            self._buckets[client] = bucket
            while len(self._buckets) > self.clients:
                self._buckets.popitem(last=False)  # the longest idle client forgets first
        if not allowed:
            retry = max(1, round(wait + 0.5))
            raise RateLimited(
                "too many requests for this page from your address",
                f"wait {retry}s; the page changes at most every few seconds anyway",
                details={"retry_after_s": retry},
            )
