"""The demo's last step: the DORA figures and build time of what the demo just did."""

from __future__ import annotations

from typing import TYPE_CHECKING

from shipyard.services.metrics.metrics_format import KEYS, changes_line, duration, show

if TYPE_CHECKING:
    from shipyard.demo.context import DemoContext
    from shipyard.services.metrics.metrics import Evidence


def step_metrics(ctx: DemoContext) -> list[str]:
    """Report lines; with no production deployment yet every key says "no data"."""
    from shipyard.services.metrics import metrics
    from shipyard.services.pipelines import builds

    report = metrics.dora_report(ctx.store, since="1d", by="week")
    ctx.facts["dora"] = report
    lines = [f"DORA four keys, {report['env']}, last day (levels: State of DevOps 2023):"]
    for key in KEYS:
        f = report["figures"][key]
        value, ratio, _p90 = show(key, f)
        level = f" [{f['level']}]" if f["level"] else ""
        lines.append(f"  {key.replace('_', ' ')}: {value} ({ratio}){level}")
    lines.append(f"  overall level: {report['figures']['level'] or 'no data'}")
    lines += [f"  {line}" for line in _behind(ctx, report["evidence"])]
    lines.append(f"  {changes_line(report['changes'])}")
    lines += [f"  note: {n}" for n in report["notes"]]
    b = builds.builds_report(ctx.store, since="1d")
    runs = b["runs"]
    hits = sum(j["cache_hits"] for j in b["jobs"])
    lookups = sum(j["cache_lookups"] for j in b["jobs"])
    if runs is None:
        lines.append("builds: no data")
    else:
        lines.append(
            f"builds: {runs['count']} runs, median {duration(runs['p50'])}, cache hits "
            f"{hits}/{lookups}"
        )
    return lines


def _behind(ctx: DemoContext, evidence: Evidence) -> list[str]:
    """The deployments behind the figures, by version, so they can be checked against the
    story the demo told."""
    from shipyard.store import metrics as repo

    with ctx.store.read() as uow:

        def version(deployment_id: str) -> str:
            found = repo.find_deployment(uow.conn, deployment_id)
            return str(found["payload"].get("version")) if found else deployment_id

        shipped = ", ".join(version(d) for d in evidence["deployments"])
        failed = ", ".join(
            f"{version(f['deployment'])} ({f['why']})" for f in evidence["change_failures"]
        )
    return [f"deployments counted: {shipped or 'none'}", f"change failures: {failed or 'none'}"]
