"""DORA figures at scale: SQL aggregation over the DORA projection against the pure-Python path.

Generates N production deployments over one year (a ``deployment.started`` event carrying five
commits and a ``deployment.finished`` event each: N deployments, 5N commits, as the event
contract has them), bulk-inserts the events, then builds the DORA projection from them through
the same catch-up the read path runs (``dora_projection.project_events``: N deployment rows and
5N commit rows) and times `shipyard metrics dora` for the year by week (``engine="sql"``) on
SQLite and on PostgreSQL. The rows are bulk-loaded with placeholder hashes: the database is
thrown away afterwards and is not a valid audit log.

The pure-Python path (``engine="python"``, ``domain/dora.py`` over records read from the log)
does not finish in reasonable time at 1,000,000 deployments, so it is compared on a second,
smaller database of PYTHON_N deployments (default 50,000), where both engines are timed and
must give the same figures. The last line is the ratio python / sql at that size.

    python benchmarks/dora.py [N] [--db sqlite|postgres|both] [--python-n N | --skip-python]
        (default N = 1000000; PostgreSQL from SHIPYARD_TEST_DATABASE_URL or
         postgresql+psycopg://postgres@127.0.0.1:5432/test)
"""

from __future__ import annotations

import argparse
import json
import os
import random
import secrets
import tempfile
import time
from collections.abc import Callable, Iterable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import create_engine, text

from shipyard.services.metrics import metrics
from shipyard.settings import Settings
from shipyard.store import dora_projection
from shipyard.store.uow import Store

YEAR_START = datetime(2025, 1, 6, tzinfo=UTC)  # a Monday
FMT = "%Y-%m-%dT%H:%M:%S.%fZ"
ZERO = b"\0" * 32


def rows(n: int) -> Iterator[tuple[Any, ...]]:
    """Event rows: a started event with five commits, then a finished event, per deployment."""
    rng = random.Random(1)
    step = 365 * 86400 / n
    seq = 0
    for i in range(n):
        at = YEAR_START + timedelta(seconds=i * step)
        service = f"svc-{rng.randrange(50)}"
        env = "production" if rng.random() < 0.9 else "staging"
        r = rng.random()
        status = "succeeded" if r < 0.9 else "rolled-back" if r < 0.96 else "failed"
        commits = [
            {
                "sha": f"{rng.getrandbits(48):012x}",
                "time": (at - timedelta(seconds=rng.uniform(600, 7 * 86400))).strftime(FMT),
            }
            for _ in range(5)
        ]
        base = {"service": service, "environment": env, "version": f"1.{i}.0"}
        started = {**base, "strategy": "canary", "commits": commits}
        finished = {**base, "status": status, "reason": ""}
        subject = f"deployment:d{i}"
        yield (
            seq,
            "bench",
            (at - timedelta(minutes=9)).strftime(FMT),
            "deployment.started",
            subject,
            "ci",
            json.dumps(started, separators=(",", ":")),
            ZERO,
            ZERO,
        )
        yield (
            seq + 1,
            "bench",
            at.strftime(FMT),
            "deployment.finished",
            subject,
            "ci",
            json.dumps(finished, separators=(",", ":")),
            ZERO,
            ZERO,
        )
        seq += 2


COLUMNS = "seq, project, ts, kind, subject, actor, payload, leaf_hash, root_hash"


def load(store: Store, n: int) -> float:
    t0 = time.perf_counter()
    with store.engine.connect() as conn:
        raw = conn.connection.driver_connection
        if store.dialect == "postgresql":
            with raw.cursor() as cur, cur.copy(f"COPY events ({COLUMNS}) FROM STDIN") as copy:
                for row in rows(n):
                    copy.write_row(row)
            raw.commit()
            with raw.cursor() as cur:
                cur.execute("ANALYZE events")
            raw.commit()
        else:
            cur = raw.cursor()
            cur.execute("BEGIN")
            batch: list[tuple[Any, ...]] = []
            for row in rows(n):
                batch.append(row)
                if len(batch) == 50_000:
                    cur.executemany(
                        f"INSERT INTO events ({COLUMNS}) VALUES (?,?,?,?,?,?,?,?,?)", batch
                    )
                    batch.clear()
            cur.executemany(f"INSERT INTO events ({COLUMNS}) VALUES (?,?,?,?,?,?,?,?,?)", batch)
            cur.execute("COMMIT")
            cur.execute("ANALYZE")
    return time.perf_counter() - t0


def timed(store: Store, engine: str) -> tuple[float, dict[str, Any]]:
    t0 = time.perf_counter()
    report = metrics.dora_report(
        store,
        engine=engine,
        since="2025-01-06",
        until="2026-01-05",
        by="week",  # type: ignore[arg-type]
        project="bench",
    )
    return time.perf_counter() - t0, report


def same(a: dict[str, Any], b: dict[str, Any]) -> bool:
    for key in ("deployment_frequency", "lead_time", "change_failure_rate", "time_to_restore"):
        for field in ("numerator", "denominator", "value", "p90"):
            x, y = a["figures"][key][field], b["figures"][key][field]
            if (x is None) != (y is None) or (x is not None and abs(x - y) > 1e-3 * max(1, abs(y))):
                print(f"  MISMATCH {key}.{field}: sql {x} python {y}")
                return False
    return True


def project(store: Store) -> float:
    """Build the projection from the loaded events with the read path's catch-up."""
    t0 = time.perf_counter()
    with store.begin() as uow:
        dora_projection.project_events(uow.conn)
    if store.dialect == "postgresql":
        with store.engine.connect() as conn:
            conn = conn.execution_options(isolation_level="AUTOCOMMIT")
            conn.execute(text("VACUUM ANALYZE dora_deployments"))
            conn.execute(text("VACUUM ANALYZE dora_commits"))
    else:
        with store.engine.begin() as conn:
            conn.exec_driver_sql("ANALYZE")
    return time.perf_counter() - t0


def run(name: str, store: Store, n: int, python: bool) -> tuple[float, float | None]:
    print(f"== {name}: loading {n:,} deployments ({5 * n:,} commits)", flush=True)
    print(f"  loaded {2 * n:,} events in {load(store, n):.1f} s", flush=True)
    print(f"  projected them in {project(store):.1f} s", flush=True)
    t_sql, sql = timed(store, "sql")
    t_again, _ = timed(store, "sql")
    f = sql["figures"]
    print(
        f"  sql:    {t_sql:6.2f} s (again {t_again:.2f} s)  deployments"
        f" {f['change_failure_rate']['denominator']:,.0f},"
        f" commits {f['lead_time']['denominator']:,.0f}, weeks {len(sql['trend'])}",
        flush=True,
    )
    if not python:
        return min(t_sql, t_again), None
    t_py, py = timed(store, "python")
    print(f"  python: {t_py:6.2f} s  same figures: {same(sql, py)}", flush=True)
    return min(t_sql, t_again), t_py


def databases(which: str) -> Iterable[tuple[str, Callable[[], tuple[Store, Callable[[], None]]]]]:
    """(name, open a fresh empty store and its clean-up) per database asked for."""

    def sqlite() -> tuple[Store, Callable[[], None]]:
        tmp = Path(tempfile.mkdtemp(prefix="shipyard-dora-"))
        store = Store.open(Settings(home=tmp, database_url=f"sqlite:///{tmp / 'state.db'}"))

        def drop() -> None:
            store.dispose()
            for f in tmp.glob("state.db*"):
                f.unlink()

        return store, drop

    def postgres() -> tuple[Store, Callable[[], None]]:
        base = os.environ.get(
            "SHIPYARD_TEST_DATABASE_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
        )
        schema = "bench_" + secrets.token_hex(4)
        admin = create_engine(base)
        with admin.begin() as conn:
            conn.execute(text(f"CREATE SCHEMA {schema}"))
        url = f"{base}{'&' if '?' in base else '?'}options=-csearch_path%3D{schema}"
        store = Store.open(Settings(home=Path(tempfile.mkdtemp()), database_url=url))

        def drop() -> None:
            store.dispose()
            with admin.begin() as conn:
                conn.execute(text(f"DROP SCHEMA {schema} CASCADE"))
            admin.dispose()

        return store, drop

    if which in ("sqlite", "both"):
        yield "SQLite", sqlite
    if which in ("postgres", "both"):
        yield "PostgreSQL", postgres


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("n", nargs="?", type=int, default=1_000_000)
    ap.add_argument("--db", choices=("sqlite", "postgres", "both"), default="both")
    ap.add_argument("--python-n", type=int, default=50_000)
    ap.add_argument("--skip-python", action="store_true")
    args = ap.parse_args()
    big: list[float] = []
    pairs: list[tuple[float, float]] = []
    for name, fresh in databases(args.db):
        store, drop = fresh()
        try:
            t_sql, t_py = run(name, store, args.n, args.n <= args.python_n)
            big.append(t_sql)
            if t_py is not None:
                pairs.append((t_sql, t_py))
        finally:
            drop()
        if args.skip_python or args.n <= args.python_n:
            continue
        store, drop = fresh()
        try:
            t_sql, t_py = run(f"{name} (against python)", store, args.python_n, True)
            pairs.append((t_sql, t_py or 0.0))
        finally:
            drop()
    print(f"sql seconds at {args.n:,} deployments: {', '.join(f'{s:.2f}' for s in big)}")
    if pairs:
        ratio = sum(p for _, p in pairs) / sum(s for s, _ in pairs)
        size = min(args.n, args.python_n)
        print(
            f"ratio python/sql at {size:,} deployments: {ratio:.1f}x"
            f" (SQL aggregation is {ratio:.1f} times faster)"
        )


if __name__ == "__main__":
    main()
