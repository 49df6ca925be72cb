"""Steps waiting out a retry's backoff, as both executors' ``wait`` loops see them."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Protocol, TypeVar


class Retrying(Protocol):
    retry_at: float | None  # when its next attempt starts; None when none waits


L = TypeVar("L", bound=Retrying)


def due(lives: Iterable[L], now: float) -> list[L]:
    """The steps whose backoff is over at ``now``: their next attempt starts."""
    return [live for live in lives if live.retry_at is not None and now >= live.retry_at]


def wake(end: float, lives: Iterable[Retrying]) -> float:
    """When to look again: at ``end``, or sooner when a retry falls due."""
    return min([end, *(live.retry_at for live in lives if live.retry_at is not None)])
