"""`shipyard metrics`: DORA four keys, build figures and the cost of slow builds."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import typer

from shipyard.cli.common import JSON, console, emit, open_store, settings
from shipyard.services.metrics.metrics_format import KEYS, changes_line, duration, show

if TYPE_CHECKING:
    from shipyard.services.pipelines.builds import CostMeasured, CostNoData

app = typer.Typer(
    help="DORA four keys, build time and cache figures, the cost of slow builds.",
    add_completion=False,
    no_args_is_help=True,
)

SINCE = typer.Option(None, help="Start: an ISO date/time or a duration ago (default 90d).")
UNTIL = typer.Option(None, help="End: an ISO date/time or a duration ago (default now).")


def _remote(path: str, params: dict[str, Any]) -> Any | None:
    s = settings()
    if not s.server_url:
        return None
    from shipyard.cli.client import call

    return call(
        s.server_url,
        s.token,
        "GET",
        path,
        params={k: v for k, v in params.items() if v is not None},
    )


@app.command()
def dora(
    service: str | None = typer.Option(None, help="Only this service."),
    env: str | None = typer.Option(None, help="The environment (default production)."),
    since: str | None = SINCE,
    until: str | None = UNTIL,
    by: str | None = typer.Option(None, help="'week' adds a trend, one row per ISO week."),
    plot: Path | None = typer.Option(None, help="Draw the weekly trend into FILE.png or .svg."),
    json_: bool = JSON,
) -> None:
    """The four keys with numerators, denominators, levels and the deployments behind them."""
    from shipyard.services.metrics import metrics

    if plot is not None:
        from shipyard.services.metrics.charts import check_target

        check_target(plot)  # before any work: a bad path fails fast
        by = by or "week"
    params = {"service": service, "env": env, "since": since, "until": until, "by": by}
    data = _remote("/api/v1/metrics/dora", params)
    if data is None:
        data = metrics.dora_report(
            open_store(), service=service, env=env, since=since, until=until, by=by
        )
    if plot is not None:
        from shipyard.services.metrics.charts import plot_dora

        data["plot"] = str(plot_dora(data, plot))

    def human() -> None:
        from rich.table import Table

        c = console()
        w = data["window"]
        c.print(
            f"[bold]DORA four keys[/] {data['service'] or 'all services'} in {data['env']},"
            f" {w['since'][:16]} to {w['until'][:16]} ({w['days']:.0f} days)"
        )
        t = Table("key", "value", "numerator / denominator", "p90", "level", box=None)
        for key in KEYS:
            f = data["figures"][key]
            t.add_row(key.replace("_", " "), *show(key, f), f["level"] or "-")
        c.print(t)
        c.print(
            f"overall level: {data['figures']['level'] or 'no data'}"
            f" (thresholds: {data['thresholds']})"
        )
        if data.get("changes"):
            c.print(changes_line(data["changes"]), markup=False)
        if data["services"]:
            st = Table("service", "deployments", "succeeded", "change failures", box=None)
            for name, v in data["services"].items():
                st.add_row(name, str(v["deployments"]), str(v["succeeded"]), str(v["failures"]))
            c.print(st)
        if data["trend"]:
            tt = Table("week", "deploys", "lead time", "failure rate", "restore", box=None)
            for r in data["trend"]:
                tt.add_row(r["week"], *(show(k, r[k])[0] for k in KEYS))
            c.print(tt)
        ev = data["evidence"]
        if ev["change_failures"]:
            c.print(
                "change failures: "
                + ", ".join(f"{e['deployment']} ({e['why']})" for e in ev["change_failures"])
            )
        for note in data["notes"]:
            c.print(f"[yellow]note:[/] {note}")
        if data.get("plot"):
            c.print(f"chart written to {data['plot']}")

    emit(data, json_, human)


@app.command()
def builds(since: str | None = SINCE, until: str | None = UNTIL, json_: bool = JSON) -> None:
    """Per job: duration and queue percentiles, cache hit rate, time saved, flaky steps."""
    from shipyard.services.pipelines import builds as b

    params = {"since": since, "until": until}
    data = _remote("/api/v1/metrics/builds", params)
    if data is None:
        data = b.builds_report(open_store(), since=since, until=until)

    def human() -> None:
        from rich.table import Table

        c = console()
        runs = data["runs"]
        c.print(
            "pipeline runs: "
            + (
                "no data"
                if runs is None
                else f"{runs['count']} runs, p50 {duration(runs['p50'])},"
                f" p90 {duration(runs['p90'])}"
            )
        )
        t = Table(
            "job",
            "runs",
            "p50",
            "p90",
            "queue p50",
            "cache hits",
            "saved",
            "critical path",
            box=None,
        )
        for j in data["jobs"]:
            d, q = j["duration_s"] or {}, j["queue_s"] or {}
            rate = j["cache_hit_rate"]
            share = j["critical_path_share"]
            t.add_row(
                j["job"],
                str(j["runs"]),
                duration(d.get("p50")),
                duration(d.get("p90")),
                duration(q.get("p50")),
                "-" if rate is None else f"{100 * rate:.0f}% of {j['cache_lookups']}",
                duration(j["saved_s_measured"]),
                "-" if share is None else f"{100 * share:.0f}%",
            )
        c.print(t)
        for f in data["flaky"]:
            c.print(
                f"flaky: {f['job']}/{f['step']} failed then passed in {f['flaky_runs']}"
                f" of {f['runs']} runs"
            )
        for s in data["trending_up"]:
            c.print(
                f"slower: {s['job']}/{s['step']} median {duration(s['earlier_p50'])} ->"
                f" {duration(s['recent_p50'])}"
            )
        remote = data.get("remote_cache")
        if remote and (remote["hits"] or remote["misses"] or remote["entries"]):
            rate = remote["hit_rate"]
            kinds = ", ".join(
                f"{kind} {k['hits']} of {k['hits'] + k['misses']}"
                for kind, k in remote["by_kind"].items()
                if k["hits"] or k["misses"]
            )
            c.print(
                f"remote cache: {remote['hits']} hits, {remote['misses']} misses"
                + ("" if rate is None else f" ({100 * rate:.0f}%)")
                + (f" ({kinds})" if kinds else "")
                + f"; {remote['entries']} entries, {remote['bytes']:,} of"
                f" {remote['max_bytes']:,} bytes"
            )
        for note in data["notes"]:
            c.print(f"[yellow]note:[/] {note}")

    emit(data, json_, human)


@app.command()
def cost(
    developers: int = typer.Option(..., help="Developers who wait for builds."),
    runs_per_day: float = typer.Option(..., help="Pipeline runs per developer per day."),
    hourly_cost: float = typer.Option(..., help="Cost of an hour of a developer's time."),
    since: str | None = SINCE,
    until: str | None = UNTIL,
    statistic: str = typer.Option("p50", help="Build duration to use: p50 or p90."),
    json_: bool = JSON,
) -> None:
    """Hours and money lost to waiting for builds, from measured run durations."""
    from shipyard.services.pipelines import builds as b

    params: dict[str, Any] = {
        "developers": developers,
        "runs_per_day": runs_per_day,
        "hourly_cost": hourly_cost,
        "since": since,
        "until": until,
        "statistic": statistic,
    }
    data: CostNoData | CostMeasured | None = _remote("/api/v1/metrics/cost", params)
    if data is None:  # the server's query parameters are the report's own
        data = b.cost_report(open_store(), **params)

    def human() -> None:
        c = console()
        if data["cost"] is None:
            c.print("the cost of slow builds: no data (no measured pipeline runs in the window)")
        else:
            k = data["cost"]
            c.print(
                f"measured build: {data['build_minutes']:.1f} min ({statistic} of"
                f" {data['runs']} runs)"
            )
            c.print(
                f"waiting: {k['hours_per_day']:,.1f} h/day = {k['cost_per_day']:,.0f}/day;"
                f" {k['hours_per_year']:,.0f} h/year = {k['cost_per_year']:,.0f}/year"
                f" ({k['working_days']} working days)"
            )
        c.print(f"the cache saved {data['cache_saved_hours']:,.1f} h of build time in the window")

    emit(data, json_, human)


@app.command()
def rebuild(json_: bool = JSON) -> None:
    """Drop the DORA projection and project the event log again (the log is the truth)."""
    from shipyard.services.metrics import metrics

    data = metrics.rebuild_projection(open_store())

    def human() -> None:
        console().print(
            f"projected {data['events']:,} events: {data['deployments']:,} deployments,"
            f" {data['commits']:,} commits (up to event {data['cursor']})"
        )

    emit(data, json_, human)
