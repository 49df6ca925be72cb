"""Steady HTTP load at a set rate, each answer counted by status and by the version that sent
it (the body of the test service is "checkout <version>"), with the time it came back."""

from __future__ import annotations

import threading
import time
from collections import Counter
from dataclasses import dataclass

import httpx


@dataclass(frozen=True)
class Answer:
    at: float  # time.monotonic() when it came back
    status: int | str  # the HTTP status, or the name of the error
    version: str  # "" when no instance answered


class Load:
    """``rate`` requests a second from ``clients`` threads, new visitors each (no cookie)."""

    def __init__(self, url: str, rate: float = 100.0, clients: int = 2) -> None:
        self.url, self.rate, self.clients = url, rate, clients
        self.answers: list[Answer] = []
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._threads = [threading.Thread(target=self._run, daemon=True) for _ in range(clients)]

    def __enter__(self) -> Load:
        for t in self._threads:
            t.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        for t in self._threads:
            t.join(timeout=30)

    def _run(self) -> None:
        gap = self.clients / self.rate
        next_at = time.monotonic()
        with httpx.Client(timeout=10) as client:
            while not self._stop.is_set():
                client.cookies.clear()
                status: int | str
                version = ""
                try:
                    resp = client.get(self.url + "/")
                    status = resp.status_code
                    words = resp.text.split()
                    if len(words) == 2 and words[0] in ("checkout", "error"):
                        version = words[1]
                except httpx.HTTPError as exc:
                    status = type(exc).__name__
                with self._lock:
                    self.answers.append(Answer(time.monotonic(), status, version))
                next_at = max(next_at + gap, time.monotonic() - 1.0)
                self._stop.wait(max(0.0, next_at - time.monotonic()))

    def since(self, start: float = 0.0) -> list[Answer]:
        with self._lock:
            return [a for a in self.answers if a.at >= start]

    def counts(self, start: float = 0.0) -> Counter[str]:
        """``"200 1.0.0"``, ``"500 1.1.0"``, ``"502"``, ``"ReadTimeout"``... and how many."""
        return Counter(f"{a.status} {a.version}".strip() for a in self.since(start))

    def failed(self, start: float = 0.0) -> int:
        return sum(1 for a in self.since(start) if a.status != 200)

    def wait_for(self, n: int) -> None:
        """Until ``n`` more answers came back."""
        target = len(self.answers) + n
        while len(self.answers) < target and not self._stop.is_set():
            time.sleep(0.01)
