"""How a run looks while it runs: a Rich live view on a terminal, plain lines otherwise."""

from __future__ import annotations

import sys
import time
from typing import TYPE_CHECKING, Any

from rich.markup import escape

from shipyard.cli.run_summary import summary_lines
from shipyard.services.pipelines.pipeline import StepRecord

if TYPE_CHECKING:
    from shipyard.services.pipelines.pipeline import RunSummary

_MARK = {"success": "ok", "failure": "FAILED", "skipped": "skipped", "cancelled": "cancelled"}


def _describe(rec: StepRecord) -> str:
    if rec.cached:
        what = f"cached (saved {rec.saved:.2f}s)"
    elif rec.status == "success":
        what = f"ok in {rec.duration:.2f}s" + (
            f", attempt {rec.attempt}" if rec.attempt > 1 else ""
        )
    else:
        what = _MARK.get(rec.status, rec.status)
        if rec.executed:
            what += f" after {rec.duration:.2f}s"
    return f"{rec.node}: {what}" + (f" — {rec.reason}" if rec.reason else "")


class PlainReporter:
    """One line per event, for CI logs and pipes."""

    def __init__(self, stream: Any = None) -> None:
        self.out = stream or sys.stdout
        self.t0 = time.monotonic()

    def _line(self, text: str) -> None:
        self.out.write(f"[{time.monotonic() - self.t0:7.2f}s] {text}\n")
        self.out.flush()

    def started(self, run_id: int, total: int) -> None:
        self._line(f"run {run_id}: {total} step(s)")

    def step_started(self, node: str) -> None:
        self._line(f"{node}: started")

    def step_finished(self, record: StepRecord) -> None:
        self._line(_describe(record))

    def tick(self) -> None:
        pass

    def finished(self, summary: RunSummary) -> None:
        for line in summary_lines(summary):
            self.out.write(line + "\n")


class LiveReporter:
    """A Rich live view: one line per running step, counts and elapsed time."""

    def __init__(self) -> None:
        from rich.console import Console
        from rich.live import Live

        self.console = Console(highlight=False)
        self.live = Live(console=self.console, refresh_per_second=8, transient=True)
        self.running: dict[str, float] = {}
        self.counts = {"done": 0, "cached": 0, "failed": 0, "skipped": 0}
        self.total = 0
        self.run_id = 0
        self.t0 = time.monotonic()

    def started(self, run_id: int, total: int) -> None:
        self.run_id, self.total = run_id, total
        self.live.start()
        self.tick()

    def step_started(self, node: str) -> None:
        self.running[node] = time.monotonic()

    def step_finished(self, record: StepRecord) -> None:
        self.running.pop(record.node, None)
        if record.cached:
            self.counts["cached"] += 1
        elif record.status == "failure":
            self.counts["failed"] += 1
        elif record.status in ("skipped", "cancelled"):
            self.counts["skipped"] += 1
        else:
            self.counts["done"] += 1
        if not record.cached or record.status != "success":
            colour = {"success": "green", "failure": "red"}.get(record.status, "yellow")
            self.console.print(f"[{colour}]{escape(_describe(record))}[/]")

    def tick(self) -> None:
        from rich.table import Table

        now = time.monotonic()
        table = Table.grid(padding=(0, 2))
        for node, since in sorted(self.running.items(), key=lambda kv: kv[1]):
            table.add_row("[cyan]running[/]", escape(node), f"{now - since:.1f}s")
        c = self.counts
        finished = sum(c.values())
        table.add_row(
            f"[bold]{finished}/{self.total}[/]",
            f"done {c['done']}  cached {c['cached']}  failed {c['failed']}  skipped {c['skipped']}",
            f"{now - self.t0:.1f}s",
        )
        self.live.update(table)

    def finished(self, summary: RunSummary) -> None:
        self.live.stop()
        colour = "green" if summary["status"] == "success" else "red"
        lines = summary_lines(summary)
        self.console.print(f"[{colour}]{escape(lines[0])}[/]")
        for line in lines[1:]:
            self.console.print(escape(line))
