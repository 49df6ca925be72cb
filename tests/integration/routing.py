"""Real backends and a traffic helper shared by the router and metrics tests."""

from __future__ import annotations

import sys
import threading
from collections import Counter
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest

from shipyard.adapters.targets.process import ProcessTarget

SAMPLE_APP = Path(__file__).parents[2] / "src" / "shipyard" / "demo" / "sample" / "app.py"
ECHO_APP = Path(__file__).parent / "apps" / "echo.py"

# The sample app answers "checkout <version>", so the body names the pool that served it.
BODY = {"stable": "checkout v1", "canary": "checkout v2"}


@dataclass
class Backends:
    target: ProcessTarget
    echo: ProcessTarget

    def addresses(self, pool: str) -> list[str]:
        target = self.echo if pool == "echo" else self.target
        return [i.address for i in target.instances(pool) if i.address]


@pytest.fixture(scope="module")
def backends(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Backends]:
    """stable: v1 x2; canary: v2 x1; bad: v3 x1 answering 500 always; echo: a keep-alive app."""
    logs = tmp_path_factory.mktemp("logs")
    target = ProcessTarget(f"{sys.executable} {SAMPLE_APP} --port {{port}}", logs, grace=2)
    echo = ProcessTarget(
        f"{sys.executable} {ECHO_APP} --port {{port}}", logs, grace=2, readiness_path="/ready"
    )
    try:
        target.deploy("stable", "v1", 2)
        target.deploy("canary", "v2", 1)
        target.deploy("bad", "v3", 1, {"FAIL_RATE": "1.0"})
        echo.deploy("echo", "e1", 1)
        for pool in ("stable", "canary", "bad"):
            target.wait_ready(pool)
        echo.wait_ready("echo")
        yield Backends(target, echo)
    finally:
        target.close()
        echo.close()


def spread(url: str, n: int, headers: Mapping[str, str] | None = None) -> Counter[str]:
    """Bodies of ``n`` GETs, each without a cookie, so every request is routed afresh."""
    with httpx.Client(timeout=10) as client:
        out: Counter[str] = Counter()
        for _ in range(n):
            client.cookies.clear()
            out[client.get(url, headers=headers).text] += 1
        return out


@dataclass
class Load:
    """Clients looping GETs in threads until stopped; every failure is kept."""

    url: str
    clients: int = 2
    keep_alive: bool = True
    ok: int = 0
    failures: list[str] = field(default_factory=list)
    bodies: Counter[str] = field(default_factory=Counter)
    _stop: threading.Event = field(default_factory=threading.Event)
    _threads: list[threading.Thread] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def __enter__(self) -> Load:
        for _ in range(self.clients):
            t = threading.Thread(target=self._run, daemon=True)
            t.start()
            self._threads.append(t)
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        for t in self._threads:
            t.join(timeout=30)

    def _run(self) -> None:
        limits = httpx.Limits(max_keepalive_connections=1 if self.keep_alive else 0)
        with httpx.Client(timeout=10, limits=limits) as client:
            while not self._stop.is_set():
                client.cookies.clear()
                try:
                    resp = client.get(self.url)
                    outcome = None if resp.status_code == 200 else f"status {resp.status_code}"
                except httpx.HTTPError as exc:
                    outcome = repr(exc)
                with self._lock:
                    if outcome is None:
                        self.ok += 1
                        self.bodies[resp.text] += 1
                    else:
                        self.failures.append(outcome)

    def wait_for(self, requests: int) -> None:
        """Block until at least ``requests`` more requests have succeeded."""
        target = self.ok + requests
        while self.ok < target and not self.failures and any(t.is_alive() for t in self._threads):
            self._stop.wait(0.01)
