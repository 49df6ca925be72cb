"""DORA four keys from the event log: aggregated in SQL over the log's DORA projection
(``engine="sql"``, the default; the projection catches up with the log first) or computed by
``domain/dora.py`` over records read from the log (``engine="python"``).

Both engines give the same figures (a test on SQLite and PostgreSQL holds them to it); SQL is
what scales, the Python path is the reference and lists every id behind a figure.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Literal, NotRequired, TypedDict

from sqlalchemy import text
from sqlalchemy.engine import Connection

from shipyard.domain import dora
from shipyard.errors import InputError
from shipyard.store import dora_projection, dora_sql
from shipyard.store import metrics as repo
from shipyard.store.dora_sql import ChangeCounts
from shipyard.store.metrics import COUNTED_STATUSES, FLAG_SERVICE, Dist
from shipyard.store.uow import Store

TS = "%Y-%m-%dT%H:%M:%S.%fZ"
DEFAULT_DAYS = 90
Engine = Literal["sql", "python"]


def parse_time(value: str, flag: str, now: datetime) -> datetime:
    """An ISO date/time, or a duration back from ``now`` (7d, 12h), as an aware UTC time."""
    from shipyard.domain.calendar import time_or_ago

    try:
        return time_or_ago(value, now)
    except (ValueError, InputError) as exc:
        raise InputError(
            f"{flag} '{value}' is neither a date nor a duration",
            "use 2026-11-01, 2026-11-01T12:00:00Z or a duration ago such as 30d or 12h",
            code="time-invalid",
        ) from exc


def window(since: str | None, until: str | None, now: datetime | None = None) -> dora.Window:
    now = now or datetime.now(UTC)
    end = parse_time(until, "--until", now) if until else now
    start = parse_time(since, "--since", now) if since else end - timedelta(days=DEFAULT_DAYS)
    return dora.Window(start, end)  # raises time-range-invalid when it ends before it starts


def weeks(w: dora.Window) -> list[tuple[str, dora.Window]]:
    """(Monday, bucket) per ISO week, clipped to the window, as ``dora.weekly`` cuts them."""
    monday = (w.start - timedelta(days=w.start.weekday())).replace(
        hour=0, minute=0, second=0, microsecond=0
    )
    out = []
    while monday < w.end:
        out.append(
            (
                monday.date().isoformat(),
                dora.Window(max(monday, w.start), min(monday + timedelta(days=7), w.end)),
            )
        )
        monday += timedelta(days=7)
    return out


# -- the pure path ---------------------------------------------------------------------------


def _t(value: str) -> datetime:
    return datetime.fromisoformat(value.replace("Z", "+00:00"))


def load_history(conn: Connection, project: str | None = None) -> dora.History:
    """The plain records ``domain/dora.py`` takes, from the log and the incidents table."""
    import json

    where = " AND project = :project" if project is not None else ""
    rows = conn.execute(
        text(
            "SELECT seq, ts, kind, subject, payload FROM events WHERE kind IN"
            f" ('deployment.started', 'deployment.finished', 'flag.changed', 'hotfix.started')"
            f"{where} ORDER BY seq"
        ),
        {"project": project},
    ).all()
    commits: dict[str, tuple[datetime, ...]] = {}
    deployments: list[dora.Deployment] = []
    rollbacks: list[dora.Rollback] = []
    hotfixes: list[dora.Hotfix] = []
    for seq, ts, kind, subject, body in rows:
        p = json.loads(body)
        if kind == "hotfix.started":
            if p.get("deployment_id"):  # a hotfix of nothing live links no deployment
                hotfixes.append(dora.Hotfix(subject, p["deployment_id"], _t(ts)))
        elif kind == "deployment.started":
            commits[subject] = tuple(_t(c["time"]) for c in p.get("commits") or ())
        elif kind == "deployment.finished":
            if p.get("status") not in COUNTED_STATUSES:
                continue
            did = subject.removeprefix("deployment:")
            ok = p["status"] == "succeeded"
            deployments.append(
                dora.Deployment(
                    did,
                    p.get("service"),
                    p.get("environment"),
                    _t(ts),
                    ok,
                    commits.get(subject, ()),
                )
            )
            if p["status"] == "rolled-back":
                rollbacks.append(dora.Rollback(f"rollback:{did}", did, _t(ts)))
        else:
            name = subject.removeprefix("flag:")
            deployments.append(
                dora.Deployment(
                    f"flag:{name}@{seq}",
                    p.get("service") or FLAG_SERVICE,
                    p.get("environment"),
                    _t(ts),
                    True,
                    kind="flag",
                )
            )
    incidents = tuple(
        dora.Incident(
            i["id"],
            i["service"],
            _t(i["opened_at"]),
            i["deployment_id"],
            _t(i["resolved_at"]) if i["resolved_at"] else None,
        )
        for i in repo.list_incidents(conn, project)
    )
    return dora.History(tuple(deployments), tuple(rollbacks), tuple(hotfixes), incidents)


# -- the SQL path ----------------------------------------------------------------------------


def _dist_figure(key: str, d: Dist | None) -> dora.Figure:
    if d is None:
        return dora.Figure(key, "seconds", None, 0, 0)
    return dora.Figure(key, "seconds", d.pct[50], d.total, d.n, p90=d.pct[90])


def _sql_report(
    counts: dora_sql.Counts | None,
    lead: Dist | None,
    ttr: Dist | None,
    w: dora.Window,
    per: Literal["day", "week"],
    any_deployments: bool,
    env: str,
    service: str | None,
) -> dora.DoraReport:
    c = counts or dora_sql.Counts(0, 0, 0)
    span = w.days if per == "day" else w.days / 7
    df = dora.Figure(
        "deployment_frequency",
        f"deployments/{per}",
        c.succeeded / span if any_deployments else None,
        c.succeeded,
        span,
    )
    cfr = dora.Figure(
        "change_failure_rate",
        "ratio",
        c.failed / c.deployments if c.deployments else None,
        c.failed,
        c.deployments,
    )
    return dora.DoraReport(
        w,
        env,
        service,
        df,
        _dist_figure("lead_time", lead),
        cfr,
        _dist_figure("time_to_restore", ttr),
    )


# -- the report ------------------------------------------------------------------------------


class FigureOut(TypedDict):
    """One of the four keys."""

    value: float | None  # None: no data
    unit: str
    numerator: float
    denominator: float
    p90: float | None
    level: str | None  # elite, high, medium, low; None: no data


class Figures(TypedDict):
    deployment_frequency: FigureOut
    lead_time: FigureOut
    change_failure_rate: FigureOut
    time_to_restore: FigureOut
    level: str | None  # overall


class ChangesOut(ChangeCounts):
    """Production changes per day, flag changes included."""

    value: float | None
    unit: str
    numerator: int
    denominator: float


class DoraWindow(TypedDict):
    since: str
    until: str
    days: float


class ChangeFailure(TypedDict):
    deployment: str
    why: str


class Evidence(TypedDict):
    deployments: list[str]
    change_failures: list[ChangeFailure]
    more: str


class ServiceCounts(TypedDict):
    deployments: int
    succeeded: int
    failures: int


class TrendWeek(Figures):
    week: str  # its Monday
    since: str
    until: str


class DoraReportOut(TypedDict):
    """`shipyard metrics dora` and ``GET /api/v1/metrics/dora``."""

    window: DoraWindow
    env: str
    service: str | None
    project: str | None
    engine: Engine
    thresholds: str
    figures: Figures
    changes: ChangesOut
    evidence: Evidence
    services: dict[str | None, ServiceCounts]  # by service (None: deployments naming none)
    trend: list[TrendWeek]  # with --by week
    notes: list[str]
    plot: NotRequired[str]  # `shipyard metrics dora --plot`: the chart the CLI wrote


def _figure(f: dora.Figure, level: dora.Level | None) -> FigureOut:
    return {
        "value": f.value,
        "unit": f.unit,
        "numerator": f.numerator,
        "denominator": f.denominator,
        "p90": f.p90,
        "level": level.label if level is not None else None,
    }


def _figures(r: dora.DoraReport) -> Figures:
    lv = r.levels
    return {
        "deployment_frequency": _figure(r.deployment_frequency, lv.deployment_frequency),
        "lead_time": _figure(r.lead_time, lv.lead_time),
        "change_failure_rate": _figure(r.change_failure_rate, lv.change_failure_rate),
        "time_to_restore": _figure(r.time_to_restore, lv.time_to_restore),
        "level": lv.overall.label if lv.overall is not None else None,
    }


def _changes(counted: ChangeCounts, w: dora.Window) -> ChangesOut:
    """Production changes per day, flag changes included: not a DORA key, so no level."""
    n = counted["deployments"] + counted["flags"]
    return {
        "value": n / w.days if n else None,
        "unit": "changes/day",
        "numerator": n,
        "denominator": w.days,
        **counted,
    }


def _known(conn: Connection, project: str | None) -> tuple[set[str], set[str]]:
    """Services and environments deployed to, for the hint of an unknown one (error path)."""
    d = repo.dialect_of(conn)
    where = " AND project = :project" if project is not None else ""
    rows = conn.execute(
        text(
            f"SELECT DISTINCT {d.j('payload', 'service')}, {d.j('payload', 'environment')}"
            f" FROM events WHERE kind = 'deployment.finished'{where}"
        ),
        {"project": project},
    ).all()
    services = {r[0] for r in rows if r[0]} | {
        i["service"] for i in repo.list_incidents(conn, project)
    }
    return services, {r[1] for r in rows if r[1]}


def _check_filters(
    conn: Connection, project: str | None, env: str, env_given: bool, service: str | None
) -> None:
    services, envs = _known(conn, project)
    if not services and not envs:
        return  # an empty history: every figure says "no data"
    if env_given and env not in envs:
        raise InputError(
            f"no deployments to environment '{env}'",
            "environments deployed to: " + (", ".join(sorted(envs)) or "none yet"),
            code="metrics-env-unknown",
        )
    if service is not None and service not in services:
        raise InputError(
            f"no deployments or incidents of service '{service}'",
            "services known: " + (", ".join(sorted(services)) or "none yet"),
            code="metrics-service-unknown",
        )


def dora_report(
    store: Store,
    *,
    env: str | None = None,
    service: str | None = None,
    since: str | None = None,
    until: str | None = None,
    by: str | None = None,
    project: str | None = None,
    engine: Engine = "sql",
    ids_limit: int = 20,
    now: datetime | None = None,
) -> DoraReportOut:
    """The four keys over the window, per service counts, and a weekly trend with ``by``."""
    if by not in (None, "week"):
        raise InputError(
            f"--by '{by}' is not supported", "use --by week", code="metrics-by-invalid"
        )
    w = window(since, until, now)
    env_name = env or "production"
    scope = dora_sql.Scope(env_name, w.start.strftime(TS), w.end.strftime(TS), project, service)
    buckets = weeks(w) if by == "week" else []
    notes: list[str] = []
    # The projection's deployments may name no service (None).
    per_service: dict[str | None, ServiceCounts]
    counted: ChangeCounts
    if engine == "sql":
        dora_projection.catch_up(store)  # the projection reads what the log holds now
    with store.read() as uow:
        conn = uow.conn
        if engine == "python":
            history = load_history(conn, project)
            any_prod = any(
                d.env == env_name and service in (None, d.service) for d in history.deployments
            )
        else:
            any_prod = dora_sql.has_deployments(conn, scope)
        if not any_prod:
            _check_filters(conn, project, env_name, env is not None, service)
        if engine == "python":
            summary = dora.four_keys(history, w, env=env_name, service=service)
            trend = [
                (key, dora.four_keys(history, b, env=env_name, service=service, per="week"))
                for key, b in buckets
            ]
            notes = [
                *summary.change_failure_rate.notes,
                *summary.time_to_restore.notes,
                *summary.lead_time.notes,
            ]
            failures = list(summary.change_failure_rate.evidence)
            deployed = list(summary.deployment_frequency.ids)
            all_changes = dora.changes(history, w, env=env_name, service=service).numerator
            made = int(summary.deployment_frequency.numerator)
            counted = {"deployments": made, "flags": int(all_changes) - made}
            per_service = _per_service_python(history, w, env_name, service)
        else:
            tally = dora_sql.tally(conn, scope)
            if buckets:  # one pass over the failures ranks them in the window and weekly
                ttr, wt = dora_sql.restore_times_weekly(conn, scope)
            else:
                ttr, wt = dora_sql.restore_times(conn, scope).get(""), {}
            summary = _sql_report(
                tally.total,
                dora_sql.lead_times(conn, scope).get(""),
                ttr,
                w,
                "day",
                any_prod,
                env_name,
                service,
            )
            trend = []
            if buckets:
                wc = tally.weeks
                wl = dora_sql.lead_times(conn, scope, "week")
                trend = [
                    (
                        key,
                        _sql_report(
                            wc.get(key),
                            wl.get(key),
                            wt.get(key),
                            b,
                            "week",
                            any_prod,
                            env_name,
                            service,
                        ),
                    )
                    for key, b in buckets
                ]
            counted = dora_sql.changes(conn, scope)
            failures = dora_sql.failure_ids(conn, scope, ids_limit)
            deployed = dora_sql.deployment_ids(conn, scope, ids_limit)
            per_service = {
                s: {"deployments": v.deployments, "succeeded": v.succeeded, "failures": v.failed}
                for s, v in sorted(tally.services.items(), key=lambda kv: kv[0] or "")
            }
    if not any_prod:
        notes.insert(0, f"no production deployments to '{env_name}' recorded: no data")
    return {
        "window": {"since": w.start.isoformat(), "until": w.end.isoformat(), "days": w.days},
        "env": env_name,
        "service": service,
        "project": project,
        "engine": engine,
        "thresholds": "Accelerate State of DevOps Report 2023",
        "figures": _figures(summary),
        "changes": _changes(counted, w),
        "evidence": {
            "deployments": deployed[:ids_limit],
            "change_failures": [{"deployment": d, "why": why} for d, why in failures[:ids_limit]],
            "more": "shipyard audit log --kind 'deployment.*' lists every event behind them",
        },
        "services": per_service,
        "trend": [
            {
                "week": key,
                "since": r.window.start.isoformat(),
                "until": r.window.end.isoformat(),
                **_figures(r),
            }
            for key, r in trend
        ],
        "notes": notes,
    }


def rebuild_projection(store: Store) -> dict[str, int]:
    """Empty the DORA projection and project the whole event log again."""
    with store.begin() as uow:
        read = dora_projection.rebuild(uow.conn)
        return {"events": read, **dora_projection.counts(uow.conn)}


def _per_service_python(
    history: dora.History, w: dora.Window, env: str, service: str | None
) -> dict[str | None, ServiceCounts]:
    names = sorted(
        {d.service for d in history.deployments if d.env == env and service in (None, d.service)}
    )
    out: dict[str | None, ServiceCounts] = {}
    for s in names:
        cfr = dora.change_failure_rate(history, w, env=env, service=s)
        ok = dora.deployment_frequency(history, w, env=env, service=s).numerator
        if cfr.denominator:
            out[s] = {
                "deployments": int(cfr.denominator),
                "succeeded": int(ok),
                "failures": int(cfr.numerator),
            }
    return out
