"""The demo's pipeline step: run the sample's pipeline, then again with nothing changed."""

from __future__ import annotations

import os
from typing import Any

from shipyard.errors import ShipyardError
from shipyard.services import pipeline


def step(ctx: Any) -> list[str]:
    workers = min(4, os.cpu_count() or 1)
    kw: dict[str, Any] = {"jobs_n": workers, "trigger": "demo", "actor": "demo"}
    first = pipeline.run(ctx.store, ctx.spec, ctx.root, **kw)
    second = pipeline.run(ctx.store, ctx.spec, ctx.root, **kw)
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
    return lines


def _plain(node: str) -> str:
    # The demo prints through Rich, which would read "[python=3.11]" as markup.
    return node.replace("[", "(").replace("]", ")")
