"""Event log throughput against a plain SQLite table, in the same run.

Appends N events, one durable transaction each (WAL, synchronous=FULL), through the event
log; then inserts the same rows into a plain table with sqlite3 as the baseline; then verifies
the whole log. Prints appends/s, verify events/s and the ratios; the last line is the ratio.

    python benchmarks/event_log.py [N]        (default 100000)
"""

from __future__ import annotations

import sqlite3
import sys
import tempfile
import time
from pathlib import Path

from shipyard.services.compliance import audit
from shipyard.settings import Settings
from shipyard.store.uow import Store


def main(n: int) -> None:
    tmp = Path(tempfile.mkdtemp(prefix="shipyard-bench-"))
    store = Store.open(Settings(home=tmp / "log", database_url=f"sqlite:///{tmp / 'log.db'}"))
    payloads = [{"run": i // 10, "step": f"build-{i % 10}", "status": "success"} for i in range(n)]

    t0 = time.perf_counter()
    for i, p in enumerate(payloads):
        with store.begin() as uow:
            uow.events.append("step.finished", f"run:{i // 10}", "ci", p, project="bench")
        if i and i % 20000 == 0:
            print(f"  appended {i}", flush=True)
    t_log = time.perf_counter() - t0

    base = sqlite3.connect(tmp / "plain.db", isolation_level=None)
    base.execute("PRAGMA journal_mode=WAL")
    base.execute("PRAGMA synchronous=FULL")
    base.execute(
        "CREATE TABLE events (seq INTEGER PRIMARY KEY, project TEXT, ts TEXT, kind TEXT, "
        "subject TEXT, actor TEXT, payload TEXT)"
    )
    import json

    t0 = time.perf_counter()
    for i, p in enumerate(payloads):
        base.execute("BEGIN IMMEDIATE")
        base.execute(
            "INSERT INTO events VALUES (?, ?, ?, ?, ?, ?, ?)",
            (
                i,
                "bench",
                "2026-11-28T00:00:00.000000Z",
                "step.finished",
                f"run:{i // 10}",
                "ci",
                json.dumps(p),
            ),
        )
        base.execute("COMMIT")
    t_plain = time.perf_counter() - t0

    import shipyard.adapters.signing  # noqa: F401  loaded once per process, not per verify

    t0 = time.perf_counter()
    report = audit.verify(store).report
    t_verify = time.perf_counter() - t0
    assert report.ok and report.size == n, report

    append_rate, plain_rate, verify_rate = n / t_log, n / t_plain, n / t_verify
    print(f"events: {n}")
    print(f"plain sqlite insert: {plain_rate:,.0f}/s")
    print(f"event log append:    {append_rate:,.0f}/s")
    print(f"event log verify:    {verify_rate:,.0f} events/s (target >= 200,000)")
    print(f"append cost vs plain insert: {t_log / t_plain:.2f}x (target <= 2x)")


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 100_000)
