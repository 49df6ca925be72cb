"""The clock: what time it is and how long to wait, for the loops that decide by time (a
rollout's pauses, analysis intervals, progress deadlines). ``adapters/clock.py`` has the
system's; ``tests/fakes.py`` has one that moves only when it is slept on or told to."""

from __future__ import annotations

from datetime import datetime
from typing import Protocol, runtime_checkable


@runtime_checkable
class Clock(Protocol):
    def now(self) -> datetime:
        """The wall-clock time, timezone-aware, in UTC."""
        ...

    def monotonic(self) -> float:
        """Seconds from an arbitrary start that never go back, for intervals and deadlines."""
        ...

    def sleep(self, seconds: float) -> None:
        """Wait ``seconds`` (0 or less: return at once)."""
        ...
