"""The built-in router against nginx and against no router at all, in the same run.

A backend nginx answers a fixed 200 quickly, so the routers' own cost shows. Three paths are
measured: straight to the backend, through the built-in router (its own process, as in
production, so it does not share this interpreter's lock), and through the nginx router.

- throughput: C keep-alive connections sending back to back for D seconds (requests/s, p50,
  p99);
- added latency: an open loop at R requests/s (1,000 by default), latency counted from each
  request's scheduled time so a stall is not hidden, minus the direct path's.

Paths take turns over several rounds and each figure is the median of its rounds.

The client is Python asyncio on the same 2 shared cores, so the direct path's figure is
bounded by the client, not by nginx. The last line is the ratio.

    python benchmarks/router.py [--duration 2] [--rounds 3] [--connections 16] [--rate 1000]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from shipyard.adapters.routers.nginx import NginxRouter
from shipyard.adapters.targets.process import free_port

REQUEST = b"GET /bench HTTP/1.1\r\nHost: bench\r\n\r\n"


class Conn:
    """One keep-alive client connection that reopens when the server closes it."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None

    async def get(self) -> int:
        if self.reader is None or self.writer is None:
            self.reader, self.writer = await asyncio.open_connection("127.0.0.1", self.port)
        self.writer.write(REQUEST)
        head = await self.reader.readuntil(b"\r\n\r\n")
        length, close = 0, False
        for line in head.lower().split(b"\r\n"):
            if line.startswith(b"content-length:"):
                length = int(line[15:])
            elif line == b"connection: close":
                close = True
        await self.reader.readexactly(length)
        if close:  # e.g. nginx after keepalive_requests: the next request needs a new one
            self.close()
        return int(head[9:12])

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
        self.reader = self.writer = None


async def closed_loop(port: int, connections: int, duration: float) -> dict[str, float]:
    latencies: list[float] = []
    errors = 0
    end = time.perf_counter() + duration

    async def worker() -> None:
        nonlocal errors
        conn = Conn(port)
        while (t0 := time.perf_counter()) < end:
            if await conn.get() != 200:
                errors += 1
            latencies.append(time.perf_counter() - t0)
        conn.close()

    started = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(connections)))
    elapsed = time.perf_counter() - started
    return _summary(latencies, errors, elapsed)


async def open_loop(port: int, rate: float, duration: float) -> dict[str, float]:
    """Requests start on a fixed schedule; latency runs from the scheduled start."""
    pool: asyncio.Queue[Conn] = asyncio.Queue()
    for _ in range(32):
        pool.put_nowait(Conn(port))
    latencies: list[float] = []
    errors = 0

    async def fire(scheduled: float) -> None:
        nonlocal errors
        conn = await pool.get()
        try:
            if await conn.get() != 200:
                errors += 1
        finally:
            pool.put_nowait(conn)
        latencies.append(time.perf_counter() - scheduled)

    tasks = []
    start = time.perf_counter()
    total = int(rate * duration)
    for i in range(total):
        scheduled = start + i / rate
        delay = scheduled - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        tasks.append(asyncio.create_task(fire(scheduled)))
    await asyncio.gather(*tasks)
    elapsed = time.perf_counter() - start
    while not pool.empty():
        pool.get_nowait().close()
    return _summary(latencies, errors, elapsed)


def _summary(latencies: list[float], errors: int, elapsed: float) -> dict[str, float]:
    ordered = sorted(latencies)
    q = statistics.quantiles(ordered, n=100, method="inclusive")
    return {
        "rps": len(ordered) / elapsed,
        "p50_ms": q[49] * 1000,
        "p99_ms": q[98] * 1000,
        "errors": errors,
    }


def _median(
    rounds: list[tuple[dict[str, float], dict[str, float]]], which: int
) -> dict[str, float]:
    keys = rounds[0][which].keys()
    return {k: statistics.median(r[which][k] for r in rounds) for k in keys}


@contextmanager
def backend_nginx(prefix: Path) -> Iterator[int]:
    """A plain nginx answering 200 "ok" to everything: a backend that costs next to nothing."""
    port = free_port()
    prefix.mkdir(parents=True)
    conf = prefix / "nginx.conf"
    conf.write_text(
        f"worker_processes 1; daemon on; pid {prefix}/nginx.pid; error_log {prefix}/error.log;\n"
        "events { worker_connections 4096; }\n"
        "http { access_log off; keepalive_requests 1000000;\n"
        f'  server {{ listen 127.0.0.1:{port}; location / {{ return 200 "ok\\n"; }} }} }}\n'
    )
    base = ["nginx", "-p", f"{prefix}/", "-c", str(conf), "-e", str(prefix / "error.log")]
    subprocess.run(base, check=True)
    try:
        yield port
    finally:
        subprocess.run([*base, "-s", "quit"], check=False)


@contextmanager
def builtin_router(backend: int) -> Iterator[int]:
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "shipyard.adapters.routers.builtin",
            "--pools",
            f"stable=127.0.0.1:{backend}",
            "--weights",
            "stable=100",
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout is not None
        url = json.loads(proc.stdout.readline())["url"]
        yield int(url.rsplit(":", 1)[1])
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--duration", type=float, default=2.0)
    parser.add_argument("--connections", type=int, default=16)
    parser.add_argument("--rate", type=float, default=1000.0)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="shipyard-bench-router-"))
    with backend_nginx(tmp / "backend") as backend:
        router = NginxRouter(tmp / "router")
        router.set_pool("stable", [f"127.0.0.1:{backend}"])
        router.set_weights({"stable": 100})
        with router, builtin_router(backend) as builtin:
            paths = {"direct": backend, "builtin": builtin, "nginx": router.port}
            for port in paths.values():
                asyncio.run(closed_loop(port, 4, 0.5))  # warm up connections and caches
            rounds: dict[str, list[tuple[dict[str, float], dict[str, float]]]] = {
                name: [] for name in paths
            }
            # Interleaved rounds, median per path: other load on shared cores hits every
            # path alike instead of whichever happened to run at that moment.
            for _ in range(args.rounds):
                for name, port in paths.items():
                    tput = asyncio.run(closed_loop(port, args.connections, args.duration))
                    lat = asyncio.run(open_loop(port, args.rate, args.duration))
                    rounds[name].append((tput, lat))
            results = {name: (_median(r, 0), _median(r, 1)) for name, r in rounds.items()}
    print(
        f"{'path':8} {'req/s':>9} {'p50 ms':>8} {'p99 ms':>8}   "
        f"at {args.rate:g}/s: {'p50 ms':>7} {'p99 ms':>7} {'+p99 ms':>8} {'errors':>6}"
    )
    direct_p99 = results["direct"][1]["p99_ms"]
    for name, (t, lat) in results.items():
        print(
            f"{name:8} {t['rps']:9.0f} {t['p50_ms']:8.2f} {t['p99_ms']:8.2f}   "
            f"{'':{len(str(args.rate)) + 5}}{lat['p50_ms']:7.2f} {lat['p99_ms']:7.2f} "
            f"{lat['p99_ms'] - direct_p99:+8.2f} {int(t['errors'] + lat['errors']):6d}"
        )
    b, n = results["builtin"], results["nginx"]
    print(
        f"ratio builtin/nginx throughput {b[0]['rps'] / n[0]['rps']:.2f} (target >= 0.33); "
        f"added p99 at {args.rate:g} req/s: builtin {b[1]['p99_ms'] - direct_p99:+.2f} ms, "
        f"nginx {n[1]['p99_ms'] - direct_p99:+.2f} ms (target <= 2 ms)"
    )


if __name__ == "__main__":
    main()
