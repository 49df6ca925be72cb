"""The demo's pipeline step: run the sample's pipeline, then again with nothing changed, and
then as a user would from the shell, where the up-to-date check answers before the CLI loads."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from typing import TYPE_CHECKING, Any

from shipyard.errors import ShipyardError
from shipyard.services.pipelines import pipeline

if TYPE_CHECKING:
    from shipyard.demo.context import DemoContext


def step(ctx: DemoContext) -> list[str]:
    workers = min(4, os.cpu_count() or 1)
    kw: dict[str, Any] = {"jobs_n": workers, "trigger": "demo", "actor": "demo"}
    spec = ctx.need_spec()
    first = pipeline.run(ctx.store, spec, ctx.root, **kw)
    second = pipeline.run(ctx.store, spec, ctx.root, **kw)
    ctx.facts["pipeline"] = {"first": first, "second": second}
    lines = []
    for label, summary in (("first run", first), ("second run", second)):
        c = summary["counts"]
        lines.append(
            f"{label} (run {summary['run_id']}): {summary['status']} in "
            f"{summary['duration_s']:.2f}s, {c['executed']} executed, {c['cached']} cached, "
            f"{c['failed']} failed"
        )
    if second["counts"]["executed"] != 0 or first["status"] != "success":
        raise ShipyardError(
            "the sample pipeline did not run cleanly and then fully from cache",
            f"see `shipyard runs show {first['run_id']}` in {ctx.root}",
            code="demo-pipeline-failed",
        )
    lines.append(
        f"critical path {' -> '.join(_plain(n) for n in first['critical_path'])} "
        f"({first['critical_path_s']:.2f}s); the second run saved {second['saved_s']:.2f}s"
    )
    _shell_run(ctx)  # leaves the up-to-date stamp, as any good run from the shell does
    t0 = time.monotonic()
    third = _shell_run(ctx)
    if any(st["reason"] != "up to date" for st in third["steps"] if st["status"] == "success"):
        raise ShipyardError(
            "`shipyard run` with nothing changed was not answered by the up-to-date check",
            f"see docs/pipelines.md, and `shipyard runs` in {ctx.root}",
            code="demo-pipeline-failed",
        )
    lines.append(
        f"`shipyard run` from the shell again (run {third['run_id']}): nothing changed, answered "
        f"by the up-to-date check in {time.monotonic() - t0:.2f}s, process start included"
    )
    return lines


def _shell_run(ctx: DemoContext) -> dict[str, Any]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("SHIPYARD_")}
    proc = subprocess.run(
        [sys.executable, "-m", "shipyard", "run", "--json"],
        cwd=ctx.root,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    if proc.returncode != 0:
        raise ShipyardError(
            f"`shipyard run` in {ctx.root} failed: {proc.stderr.strip()[-300:]}",
            f"see `shipyard runs` in {ctx.root}",
            code="demo-pipeline-failed",
        )
    summary: dict[str, Any] = json.loads(proc.stdout)
    return summary


def _plain(node: str) -> str:
    # The demo prints through Rich, which would read "[python=3.11]" as markup.
    return node.replace("[", "(").replace("]", ")")
