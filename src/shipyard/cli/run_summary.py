"""The two lines that end a run, shared by the live view, plain output and the up-to-date check."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from shipyard.services.pipelines.run_stamp import RunHead


def summary_lines(summary: RunHead) -> list[str]:
    c = summary["counts"]
    lines = [
        f"run {summary['run_id']} {summary['status']} in {summary['duration_s']:.2f}s: "
        f"{c['executed']} executed, {c['cached']} cached, {c['skipped']} skipped, "
        f"{c['failed']} failed" + (f", {c['cancelled']} cancelled" if c["cancelled"] else ""),
        f"cache hit rate {summary['cache_hit_rate']:.0%}, saved {summary['saved_s']:.2f}s; "
        f"critical path {summary['critical_path_s']:.2f}s: "
        + " -> ".join(summary["critical_path"]),
    ]
    return lines
