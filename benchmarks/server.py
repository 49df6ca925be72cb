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
answering a fixed JSON body after checking the same bearer header. Goal: 0 errors.

Then the same two phases against 1 and against 2 replicas (`shipyard server --no-worker`, one
process each, a `SHIPYARD_HOME` each, as two hosts would run them; client n talks to replica
n mod R, as a load balancer spreads connections), and the event log's append ceiling: events
appended per second on the single Merkle head row by one appender, by 8 at once, and by 8 at
once batching 20 events per transaction (what group commit would give). The read phase runs
again under ApacheBench (`ab`, C), with the CPU each request cost the replicas, PostgreSQL and
the client. The last line holds the ratios: 2 replicas' read requests/s to 1 replica's
(goal 1.6x; driven by ab, since the Python client's own CPU caps it on a small host) and
Shipyard's read p99 to the floor's.

    SHIPYARD_TEST_DATABASE_URL=postgresql+psycopg://postgres@127.0.0.1:5432/test \\
        python benchmarks/server.py [--clients 50] [--requests 40]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import secrets
import shutil
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
    url: str | list[str], token: str, clients: int, requests: int, write: bool
) -> tuple[list[float], int, float]:
    """Latencies (s), errors, and the wall time of the phase; with several URLs (replicas),
    client n talks to the n-th modulo their number."""
    urls = [url] if isinstance(url, str) else url
    headers = {"Authorization": f"Bearer {token}"}
    latencies: list[float] = []
    errors = 0

    async def client(n: int) -> None:
        nonlocal errors
        limits = httpx.Limits(max_connections=1, max_keepalive_connections=1)
        base = urls[n % len(urls)]
        async with httpx.AsyncClient(base_url=base, headers=headers, limits=limits) as http:
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


def cpu_seconds(pids: list[int]) -> float:
    """User and system CPU of processes and their waited-for children, from /proc."""
    total = 0
    for pid in pids:
        try:
            with open(f"/proc/{pid}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
        except OSError:
            continue  # exited meanwhile
        total += sum(int(v) for v in fields[11:15])
    return total / os.sysconf("SC_CLK_TCK")


def postgres_pids() -> list[int]:
    found = subprocess.run(["pgrep", "-x", "postgres"], capture_output=True, text=True).stdout
    return [int(pid) for pid in found.split()]


def load_ab(urls: list[str], token: str, clients: int, requests: int) -> tuple[float, int, int]:
    """The same read phase driven by ApacheBench (C, one process per replica, its clients
    split between them), so that the client's own CPU does not cap what replicas can show
    on a small host: requests/s over all replicas, requests done, and failures."""
    share = max(1, clients // len(urls))
    auth = f"Authorization: Bearer {token}"
    argv = ["ab", "-q", "-c", str(share), "-n", str(share * requests), "-H", auth]
    procs = [
        subprocess.Popen(
            [*argv, f"{url}/api/v1/audit/events?limit=20"],
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        for url in urls
    ]
    done = failed = 0
    wall = 0.0
    for proc in procs:
        out, _ = proc.communicate(timeout=600)
        fields = dict(
            (k.strip(), v.strip()) for k, _, v in (ln.partition(":") for ln in out.splitlines())
        )
        done += int(fields["Complete requests"])
        failed += int(fields["Failed requests"]) + int(fields.get("Non-2xx responses", "0"))
        wall = max(wall, float(fields["Time taken for tests"].split()[0]))
    return done / wall, done, failed


def quantile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def report(name: str, result: tuple[list[float], int, float]) -> float:
    return report_all(name, result)[1]


def report_all(name: str, result: tuple[list[float], int, float]) -> tuple[float, float]:
    """Print a phase's figures; its requests/s and p99."""
    lat, errors, wall = result
    p99 = quantile(lat, 0.99)
    print(
        f"{name:<28} {len(lat) / wall:8.0f} req/s  p50 {quantile(lat, 0.5) * 1000:7.1f} ms  "
        f"p95 {quantile(lat, 0.95) * 1000:7.1f} ms  p99 {p99 * 1000:7.1f} ms  "
        f"errors {errors}/{len(lat)}"
    )
    return len(lat) / wall, p99


def replicas(
    root: Path, env: dict[str, str], n: int, procs: list[subprocess.Popen[bytes]]
) -> list[str]:
    """Start ``n`` API replicas (no worker), each with a state folder of its own."""
    urls = []
    for i in range(n):
        port = free_port()
        home = root / f"replica-{n}-{i}"
        procs.append(
            subprocess.Popen(
                [sys.executable, "-m", "shipyard", "server", "--port", str(port), "--no-worker"],
                cwd=root,
                env={**env, "SHIPYARD_HOME": str(home)},
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
        )
        urls.append(f"http://127.0.0.1:{port}")
        wait_up(urls[-1] + "/healthz", procs[-1])
    return urls


def append_ceiling(env: dict[str, str], home: Path, seconds: float = 3.0) -> dict[str, float]:
    """Events appended per second to the one log: one appender; 8 at once; 8 at once with 20
    events per transaction (in this process, with the servers' database and signing key)."""
    import threading

    os.environ["SHIPYARD_SIGNING_KEY_FILE"] = env["SHIPYARD_SIGNING_KEY_FILE"]
    database_url = env["SHIPYARD_DATABASE_URL"]
    from shipyard.settings import Settings
    from shipyard.store.uow import Store

    store = Store.open(Settings(home=home, database_url=database_url))
    out: dict[str, float] = {}
    for name, writers, batch in (
        ("1 appender", 1, 1),
        ("8 appenders", 8, 1),
        ("8 x 20/txn", 8, 20),
    ):
        count = [0] * writers
        stop = time.perf_counter() + seconds

        def append(
            i: int, batch: int = batch, stop: float = stop, count: list[int] = count
        ) -> None:
            while time.perf_counter() < stop:
                with store.begin() as uow:
                    for _ in range(batch):
                        uow.events.append(
                            "bench.appended", f"bench:{i}", "bench", {}, project="bench"
                        )
                count[i] += batch

        start = time.perf_counter()
        threads = [threading.Thread(target=append, args=(i,)) for i in range(writers)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        out[name] = sum(count) / (time.perf_counter() - start)
    store.dispose()
    return out


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

            scaled: dict[int, float] = {}
            by_ab: dict[int, float] = {}
            for n in (1, 2):
                urls = replicas(root, env, n, procs)
                print(f"{n} replica(s), {args.clients} clients spread over them")
                scaled[n], _ = report_all(
                    f"  read, {n} replica(s)",
                    asyncio.run(load(urls, token, args.clients, args.requests, write=False)),
                )
                if shutil.which("ab"):
                    watched = [p.pid for p in procs[-n:]], postgres_pids()
                    before = [cpu_seconds(pids) for pids in watched], os.times()
                    by_ab[n], done, failed = load_ab(urls, token, args.clients, args.requests * 4)
                    after = [cpu_seconds(pids) for pids in watched], os.times()
                    pairs = zip(before[0], after[0], strict=True)
                    spent = [1000 * (b - a) / done for a, b in pairs]
                    client = after[1].children_user + after[1].children_system
                    client -= before[1].children_user + before[1].children_system
                    print(
                        f"  read, {n} replica(s), ab    {by_ab[n]:8.0f} req/s  "
                        f"errors {failed}/{done}  CPU per request: replicas "
                        f"{spent[0]:.2f} ms, PostgreSQL {spent[1]:.2f} ms, "
                        f"ab {1000 * client / done:.2f} ms"
                    )
                report_all(
                    f"  write, {n} replica(s)",
                    asyncio.run(load(urls, token, args.clients, args.requests, write=True)),
                )
                for proc in procs[-n:]:
                    proc.terminate()
                    proc.wait(10)
            ceiling = append_ceiling(env, root / "appender")
            for name, rate in ceiling.items():
                print(f"event log appends, {name:<12} {rate:8.0f} events/s")
            # ApacheBench's ratio leads: the Python client's own CPU caps what it can show here.
            python = f"{scaled[2] / scaled[1]:.2f}x with the Python client"
            reads = f"{by_ab[2] / by_ab[1]:.2f}x driven by ab ({python})" if by_ab else python
            print(
                f"ratios: reads 2 replicas/1 replica {reads}; "
                f"read p99 shipyard/floor {read / floor:.1f}x"
            )
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
