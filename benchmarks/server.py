"""`shipyard server` on PostgreSQL under 50 concurrent clients, against the framework's floor.

Starts `shipyard server --workers 2` on 127.0.0.1 over a fresh PostgreSQL schema (with the
signing key every replica shares), makes an admin token, then runs two phases of C concurrent
clients (50 by default), each sending R requests back to back on its own keep-alive
connection:

- read: ``GET /api/v1/audit/events?limit=20`` (token checked, the log queried);
- write: ``POST /api/v1/incidents`` (token checked, a row and its event appended in one
  transaction: every writer takes the event log's head in turn, and seals it).

It prints requests/s, p50/p95/p99 latency and errors (any non-2xx or dropped connection) for
each, then the same read load against the floor: a bare Starlette app under the same Uvicorn
answering a fixed JSON body after checking the same bearer header. The last line is the ratio
of Shipyard's read p99 to the floor's. Goal: 0 errors.

    SHIPYARD_TEST_DATABASE_URL=postgresql+psycopg://postgres@127.0.0.1:5432/test \\
        python benchmarks/server.py [--clients 50] [--requests 40]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import secrets
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx
from sqlalchemy import create_engine, text

FLOOR_APP = """
from starlette.applications import Starlette
from starlette.responses import JSONResponse
from starlette.routing import Route

TOKEN = {token!r}

async def events(request):
    if request.headers.get("authorization") != "Bearer " + TOKEN:
        return JSONResponse({{"code": "unauthenticated"}}, status_code=401)
    return JSONResponse({{"events": [{{"seq": i, "kind": "x"}} for i in range(20)]}})

app = Starlette(routes=[Route("/api/v1/audit/events", events)])
"""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_up(url: str, proc: subprocess.Popen[bytes], timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"server exited with {proc.returncode}")
        try:
            if httpx.get(url, timeout=1).status_code < 500:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    raise SystemExit("server did not start")


async def load(
    url: str, token: str, clients: int, requests: int, write: bool
) -> tuple[list[float], int, float]:
    """Latencies (s), errors, and the wall time of the phase."""
    headers = {"Authorization": f"Bearer {token}"}
    latencies: list[float] = []
    errors = 0

    async def client(n: int) -> None:
        nonlocal errors
        limits = httpx.Limits(max_connections=1, max_keepalive_connections=1)
        async with httpx.AsyncClient(base_url=url, headers=headers, limits=limits) as http:
            for i in range(requests):
                t0 = time.perf_counter()
                try:
                    if write:
                        body = {
                            "service": f"svc-{n}",
                            "unlinked": True,
                            "project": "bench",
                            "title": f"load {n}.{i}",
                        }
                        answer = await http.post("/api/v1/incidents", json=body, timeout=60)
                    else:
                        answer = await http.get("/api/v1/audit/events?limit=20", timeout=60)
                    ok = answer.status_code < 300
                except httpx.HTTPError:
                    ok = False
                latencies.append(time.perf_counter() - t0)
                errors += 0 if ok else 1

    start = time.perf_counter()
    await asyncio.gather(*(client(n) for n in range(clients)))
    return latencies, errors, time.perf_counter() - start


def quantile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def report(name: str, result: tuple[list[float], int, float]) -> float:
    lat, errors, wall = result
    p99 = quantile(lat, 0.99)
    print(
        f"{name:<28} {len(lat) / wall:8.0f} req/s  p50 {quantile(lat, 0.5) * 1000:7.1f} ms  "
        f"p95 {quantile(lat, 0.95) * 1000:7.1f} ms  p99 {p99 * 1000:7.1f} ms  "
        f"errors {errors}/{len(lat)}"
    )
    return p99


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--clients", type=int, default=50)
    parser.add_argument("--requests", type=int, default=40, help="per client and phase")
    args = parser.parse_args()
    base = os.environ.get("SHIPYARD_TEST_DATABASE_URL")
    if not base:
        raise SystemExit("set SHIPYARD_TEST_DATABASE_URL to a PostgreSQL database")
    schema = "bench_" + secrets.token_hex(5)
    admin = create_engine(base)
    with admin.begin() as conn:
        conn.execute(text(f"CREATE SCHEMA {schema}"))
    procs: list[subprocess.Popen[bytes]] = []
    try:
        with tempfile.TemporaryDirectory() as tmp:
            root = Path(tmp)
            (root / "shipyard.yaml").write_text("project: bench\n")
            key = root / "signing.pem"
            from shipyard.store.seal import new_key_pem

            key.write_bytes(new_key_pem(os.urandom(32)))
            key.chmod(0o600)
            sep = "&" if "?" in base else "?"
            env = {
                **os.environ,
                "SHIPYARD_DATABASE_URL": f"{base}{sep}options=-csearch_path%3D{schema}",
                "SHIPYARD_SIGNING_KEY_FILE": str(key),
            }
            env.pop("SHIPYARD_SERVER", None)
            run = [sys.executable, "-m", "shipyard"]
            made = subprocess.run(
                [*run, "token", "create", "--role", "admin", "--json"],
                cwd=root,
                env=env,
                capture_output=True,
                text=True,
                check=True,
            )
            import json

            token = json.loads(made.stdout)["token"]
            port = free_port()
            procs.append(
                subprocess.Popen(
                    [*run, "server", "--port", str(port), "--workers", "2"],
                    cwd=root,
                    env=env,
                    stdout=subprocess.DEVNULL,
                    stderr=subprocess.DEVNULL,
                )
            )
            url = f"http://127.0.0.1:{port}"
            wait_up(url + "/healthz", procs[-1])
            httpx.post(
                url + "/api/v1/projects",
                json={"name": "bench"},
                headers={"Authorization": f"Bearer {token}"},
                timeout=30,
            )
            print(f"{args.clients} clients x {args.requests} requests each, PostgreSQL, 2 workers")
            read = report(
                "shipyard read (events)",
                asyncio.run(load(url, token, args.clients, args.requests, write=False)),
            )
            report(
                "shipyard write (incident)",
                asyncio.run(load(url, token, args.clients, args.requests, write=True)),
            )
            verify = httpx.get(
                url + "/api/v1/audit/verify",
                headers={"Authorization": f"Bearer {token}"},
                timeout=120,
            ).json()
            print(f"audit verify after the load: ok={verify['ok']} events={verify['tree_size']}")

            (root / "floor_app.py").write_text(FLOOR_APP.format(token=token))
            floor_port = free_port()
            procs.append(
                subprocess.Popen(
                    [
                        sys.executable,
                        "-m",
                        "uvicorn",
                        "floor_app:app",
                        "--port",
                        str(floor_port),
                        "--workers",
                        "2",
                        "--log-level",
                        "warning",
                    ],
                    cwd=root,
                    stdout=subprocess.DEVNULL,
                    stderr=subprocess.DEVNULL,
                )
            )
            floor_url = f"http://127.0.0.1:{floor_port}"
            wait_up(floor_url + "/api/v1/audit/events", procs[-1])
            floor = report(
                "floor read (bare Starlette)",
                asyncio.run(load(floor_url, token, args.clients, args.requests, write=False)),
            )
            print(f"read p99 ratio shipyard/floor: {read / floor:.1f}x")
    finally:
        for proc in procs:
            proc.terminate()
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                proc.kill()
        with admin.begin() as conn:
            conn.execute(text(f"DROP SCHEMA {schema} CASCADE"))
        admin.dispose()


if __name__ == "__main__":
    main()
