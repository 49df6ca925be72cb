"""The DORA four keys aggregated in SQL over the DORA projection of the event log
(``store/dora_projection.py``), with the definitions of ``domain/dora.py`` (a test on both
databases holds the two to the same answers).

Records, as the pure path builds them too:

- a production deployment is a ``deployment.finished`` event of the environment whose status is
  succeeded, rolled-back or failed (succeeded is a success); a ``flag.changed`` event of the
  environment is a change (row ``kind`` flag) that only ``changes`` counts, never a deployment;
- its commits are the ``commits`` of the ``deployment.started`` event of the same subject;
- a rolled-back deployment was restored by its own rollback when it finished (0 seconds);
  a failed one by the next successful deployment of its service;
- incidents come from the ``incidents`` table and link deployments by id; so does a
  ``hotfix.started`` event by its payload's ``deployment_id`` (counted against that
  deployment's own service).

The projection turns each of those into a narrow indexed row with epoch-second times and the
week precomputed, so every figure is one pass over an index range: no JSON is read here.
Groups: ``None`` (the whole window), ``"week"`` (the Monday of the change, UTC) or
``"service"``.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal, TypedDict

from sqlalchemy import text
from sqlalchemy.engine import Connection

from shipyard.store.dora_projection import BUCKET, monday, parse_time, week_of
from shipyard.store.metrics import Dist, dialect_of, dist, distributions, ranks

Group = Literal["week", "service"] | None

# Lead-time percentiles are exact: the commits are counted per (group, week, bucket of
# BUCKET seconds), then each wanted rank is read from inside its bucket through the index.
LEAD_QS = (50, 90)


@dataclass(frozen=True)
class Scope:
    env: str
    since: str  # the log's timestamp format, so text comparison orders them
    until: str
    project: str | None = None
    service: str | None = None

    def params(self) -> dict[str, Any]:
        return {
            "env": self.env,
            "since": self.since,
            "until": self.until,
            "since_t": parse_time(self.since).timestamp(),
            "until_t": parse_time(self.until).timestamp(),
            "project": self.project,
            "service": self.service,
        }

    def where(self, alias: str) -> str:
        """Rows of the projection table ``alias`` in the environment, window and scope."""
        sql = (
            f"{alias}.env = :env AND {alias}.finished_at >= :since_t"
            f" AND {alias}.finished_at < :until_t"
        )
        if self.project is not None:
            sql += f" AND {alias}.project = :project"
        if self.service is not None:
            sql += f" AND {alias}.service = :service"
        return sql


@dataclass(frozen=True)
class Weeks:
    """How the window cuts the weeks: whole weeks come from the roll-ups, the (at most two)
    weeks the window cuts into from the projection's rows."""

    first: int  # whole weeks first..last (Monday day numbers); none when first > last
    last: int
    edges: tuple[int, ...]

    @classmethod
    def of(cls, scope: Scope) -> Weeks:
        p = scope.params()
        since, until = p["since_t"], p["until_t"]
        start = week_of(since)
        first = start if start * 86400 >= since else start + 7
        last = week_of(until) - 7
        edges = tuple(
            sorted(
                w
                for w in {start, week_of(until)}
                if not first <= w <= last and w * 86400 < until and (w + 7) * 86400 > since
            )
        )
        return cls(first, last, edges)

    def sql(self, alias: str) -> str:
        """Only the rows of the cut weeks (the caller filters the window itself)."""
        return f"{alias}.week IN ({', '.join(str(w) for w in self.edges) or 'NULL'})"


@dataclass(frozen=True)
class Counts:
    deployments: int  # production deployments in the window, failed ones included
    succeeded: int
    failed: int  # change failures: failed rollouts and deployments an incident links


@dataclass(frozen=True)
class Tally:
    """Counts over the window, per week (Monday) and per service, from one pass."""

    total: Counts | None
    weeks: dict[str, Counts]
    services: dict[str | None, Counts]

    def by(self, group: Group) -> dict[Any, Counts]:
        if group == "week":
            return self.weeks
        if group == "service":
            return self.services
        return {"": self.total} if self.total is not None else {}


def _key(group: Group, g: Any) -> Any:
    if group == "week":
        return monday(int(g))
    if group == "service":
        return g
    return ""


def has_deployments(conn: Connection, scope: Scope) -> bool:
    """Whether the environment (and service) has any production deployment at any time."""
    sql = "SELECT 1 FROM dora_deployments d WHERE d.env = :env AND d.kind = 'deploy'"
    if scope.project is not None:
        sql += " AND d.project = :project"
    if scope.service is not None:
        sql += " AND d.service = :service"
    return conn.execute(text(sql + " LIMIT 1"), scope.params()).first() is not None


def tally(conn: Connection, scope: Scope) -> Tally:
    """Deployments, successes and change failures in the window, overall, weekly, per service.

    One aggregate over (week, service) cells; change failures are the failed rollouts plus
    the successful deployments an incident links by id (few, found from the incidents side).
    Per service an incident counts against the service it names, as dora.py filters it.
    """
    params = scope.params()
    raw = (
        "SELECT d.week, d.service, COUNT(*), SUM(d.ok) FROM dora_deployments d"
        f" WHERE {scope.where('d')} AND d.kind = 'deploy'"
    )
    cells: list[Sequence[Any]]
    if scope.service is not None:
        cells = list(conn.execute(text(raw + " GROUP BY d.week, d.service"), params).all())
    else:
        span = Weeks.of(scope)
        project = " AND r.project = :project" if scope.project is not None else ""
        rolled = conn.execute(
            text(
                "SELECT r.week, r.service, SUM(r.deployments), SUM(r.succeeded)"
                " FROM dora_week_counts r WHERE r.env = :env AND r.week >= :first"
                f" AND r.week <= :last{project} GROUP BY r.week, r.service"
            ),
            {**params, "first": span.first, "last": span.last},
        ).all()
        cells = [(w, s or None, n, ok) for w, s, n, ok in rolled]
        if span.edges:
            cut = f"{raw} AND {span.sql('d')} GROUP BY d.week, d.service"
            cells += conn.execute(text(cut), params).all()
    any_service = "1" if scope.service is None else "CASE WHEN i.service = :service THEN 1 END"
    linked = conn.execute(
        text(
            "SELECT d.week, d.service, MAX(" + any_service + "),"
            " MAX(CASE WHEN i.service = d.service THEN 1 END)"
            f" FROM dora_deployments d JOIN {_links(conn)} i"
            " ON i.project = d.project AND i.deployment_id = d.id"
            f" WHERE {scope.where('d')} AND d.ok = 1 AND d.kind = 'deploy'"
            " GROUP BY d.seq, d.week, d.service"
        ),
        params,
    ).all()
    # [deployments, succeeded, failures counted overall/weekly, failures counted per service]
    total = [0, 0, 0, 0]
    weeks: dict[int, list[int]] = defaultdict(lambda: [0, 0, 0, 0])
    services: dict[str | None, list[int]] = defaultdict(lambda: [0, 0, 0, 0])
    for week, service, n, ok in cells:
        n, ok = int(n), int(ok or 0)
        for acc in (total, weeks[int(week)], services[service]):
            acc[0] += n
            acc[1] += ok
            acc[2] += n - ok
            acc[3] += n - ok
    for week, service, any_linked, same_service in linked:
        for acc in (total, weeks[int(week)], services[service]):
            acc[2] += 1 if any_linked else 0
            acc[3] += 1 if same_service else 0
    return Tally(
        Counts(total[0], total[1], total[2]) if total[0] else None,
        {monday(w): Counts(a[0], a[1], a[2]) for w, a in weeks.items()},
        {s: Counts(a[0], a[1], a[3]) for s, a in services.items()},
    )


def counts(conn: Connection, scope: Scope, group: Group = None) -> dict[Any, Counts]:
    """Deployments, successes and change failures in the window, per group."""
    return tally(conn, scope).by(group)


def lead_times(conn: Connection, scope: Scope, group: Group = None) -> dict[Any, Dist]:
    """Seconds from each commit to the successful production deployment that shipped it.

    Exact percentiles without sorting the window's commits: one aggregate counts the commits
    per (group, week, hour bucket of lead time) over the ``(env, ok, week, lead)`` index, then
    each wanted rank is read from inside its bucket, a short index range.
    """
    d = dialect_of(conn)
    params = scope.params()
    # A commit dated after its deployment is a clock problem, not a sample.
    rows_of = f"{scope.where('c')} AND c.ok = 1"
    where = f"{rows_of} AND c.lead >= 0"
    g = {"week": "c.week", "service": "c.service"}.get(group or "", "0")
    b = d.bucket("c.lead", BUCKET)
    raw = f"SELECT {g}, c.week, {b}, COUNT(*), SUM(c.lead) FROM dora_commits c WHERE {where}"
    if scope.service is not None or group == "service":
        rows = conn.execute(text(raw + " GROUP BY 1, 2, 3"), params).all()
    else:
        weeks = Weeks.of(scope)
        project = " AND r.project = :project" if scope.project is not None else ""
        rows = conn.execute(
            text(
                f"SELECT {'r.week' if group == 'week' else '0'}, r.week, r.bucket, SUM(r.n),"
                " SUM(r.total) FROM dora_week_leads r WHERE r.env = :env AND r.week >= :first"
                f" AND r.week <= :last{project} GROUP BY r.week, r.bucket"
            ),
            {**params, "first": weeks.first, "last": weeks.last},
        ).all()
        if weeks.edges:
            cut = f"{raw} AND {weeks.sql('c')} GROUP BY 1, 2, 3"
            rows = [*rows, *conn.execute(text(cut), params).all()]
    # per group: bucket -> [count, weeks holding it]; and count, sum
    cells: dict[Any, dict[int, list[Any]]] = defaultdict(dict)
    sizes: dict[Any, list[float]] = defaultdict(lambda: [0, 0.0])
    for key, week, bucket, n, s in rows:
        cell = cells[key].setdefault(int(bucket), [0, []])
        cell[0] += int(n)
        cell[1].append(int(week))
        sizes[key][0] += int(n)
        sizes[key][1] += float(s)
    parts: list[_Part] = []
    for key, (n, _) in sizes.items():
        wanted: set[int] = set()
        for q in LEAD_QS:
            lo = (int(n) - 1) * q // 100
            wanted |= {lo, min(lo + 1, int(n) - 1)}
        parts += _parts(key, cells[key], sorted(wanted))
    values = _fetch(conn, rows_of, params, g, b, parts)
    out: dict[Any, Dist] = {}
    for key, (n, total) in sizes.items():
        out[_key(group, key)] = dist(int(n), total, values[key], LEAD_QS)
    return out


@dataclass(frozen=True)
class _Part:
    """Read ``count`` values from ``offset`` inside one bucket of one group: ranks from ``rank``."""

    key: Any
    bucket: int
    weeks: tuple[int, ...]
    offset: int
    count: int
    rank: int


def _parts(key: Any, buckets: dict[int, list[Any]], ranks: list[int]) -> list[_Part]:
    """Which bucket each wanted 0-based rank of a group falls in, and where inside it."""
    parts: list[_Part] = []
    start = 0  # rank of the first value of the bucket
    pending = list(ranks)
    for bucket in sorted(buckets):
        n, weeks = buckets[bucket]
        inside = [r - start for r in pending if start <= r < start + n]
        if inside:
            count = inside[-1] - inside[0] + 1
            week_set = tuple(sorted(set(weeks)))
            parts.append(_Part(key, bucket, week_set, inside[0], count, start + inside[0]))
            pending = [r for r in pending if r >= start + n]
            if not pending:
                break
        start += n
    return parts


def _fetch(
    conn: Connection, where: str, params: dict[str, Any], g: str, b: str, parts: list[_Part]
) -> dict[Any, dict[int, float]]:
    """The values the parts name, per group and rank, in one statement per 100 parts.

    Each part is a short index range: the lead range seeks straight to the bucket in each of
    its weeks; the bucket expression itself decides membership, as it did when counting.
    """
    found: dict[Any, dict[int, float]] = defaultdict(dict)
    for first in range(0, len(parts), 100):
        chunk = parts[first : first + 100]
        selects: list[str] = []
        bound: dict[str, Any] = dict(params)
        for i, part in enumerate(chunk):
            weeks = ", ".join(str(w) for w in part.weeks)
            selects.append(
                f"SELECT {i} AS t, x.lead FROM (SELECT c.lead FROM dora_commits c WHERE {where}"
                f" AND c.week IN ({weeks}) AND c.lead >= :lo{i} AND c.lead < :hi{i}"
                f" AND {b} = :b{i}"
                + (f" AND {g} = :k{i}" if g != "0" else "")
                + f" ORDER BY c.lead LIMIT :n{i} OFFSET :o{i}) x"
            )
            bound |= {
                # one bound on lead only (>= 0 included), or SQLite may seek by the other
                f"lo{i}": max(part.bucket * BUCKET - 1.0, 0.0),
                f"hi{i}": (part.bucket + 1) * BUCKET + 1.0,
                f"b{i}": part.bucket,
                f"k{i}": part.key,
                f"n{i}": part.count,
                f"o{i}": part.offset,
            }
        got: dict[int, list[float]] = defaultdict(list)
        for t, v in conn.execute(text(" UNION ALL ".join(selects)), bound):
            got[int(t)].append(float(v))
        for i, part in enumerate(chunk):
            for j, v in enumerate(sorted(got[i])):
                found[part.key][part.rank + j] = v
    return found


def restore_times(conn: Connection, scope: Scope, group: Group = None) -> dict[Any, Dist]:
    """Seconds from each failure that started in the window to the next healthy state.

    A rolled-back deployment was restored by its rollback (0 s); a failed one by the next
    successful deployment of its service, found by an index seek per failure.
    """
    return {
        _key(group, k): v
        for k, v in distributions(conn, restore_source(conn, scope, group), scope.params()).items()
    }


def restore_source(conn: Connection, scope: Scope, group: Group) -> str:
    """A SELECT of (g, v): each failure's group and its seconds to restore."""
    d = dialect_of(conn)
    g = {"week": "f.week", "service": "f.service"}.get(group or "", "0")
    gi = {"week": d.week_of("i.opened_at"), "service": "i.service"}.get(group or "", "0")
    same_project = " AND n.project = :project" if scope.project is not None else ""
    project = " AND i.project = :project" if scope.project is not None else ""
    service = " AND i.service = :service" if scope.service is not None else ""
    return (
        f"SELECT g, v FROM (SELECT {g} AS g, CASE WHEN f.status = 'rolled-back' THEN 0.0"
        " ELSE (SELECT MIN(n.finished_at) FROM dora_deployments n WHERE n.env = f.env"
        " AND n.service = f.service AND n.ok = 1 AND n.kind = 'deploy'"
        " AND n.finished_at > f.finished_at"
        f"{same_project}) - f.finished_at END AS v"
        f" FROM dora_deployments f WHERE {scope.where('f')} AND f.ok = 0) w"
        " WHERE v IS NOT NULL"
        f" UNION ALL SELECT {gi} AS g, {d.epoch('i.resolved_at')} - {d.epoch('i.opened_at')} AS v"
        " FROM incidents i WHERE i.opened_at >= :since AND i.opened_at < :until"
        f" AND i.resolved_at IS NOT NULL AND i.resolved_at >= i.opened_at{project}{service}"
    )


def restore_times_weekly(conn: Connection, scope: Scope) -> tuple[Dist | None, dict[str, Dist]]:
    """``restore_times`` over the window and per week from one pass over the failures: the
    values are ranked within their week and across the window by two window functions."""
    sql = restore_source(conn, scope, "week")
    qs = LEAD_QS
    weekly, overall = ranks("wi", "wn", qs), ranks("ai", "an", qs)
    ranked = (
        "SELECT g, v, wi, wn, ws, ai, an, sa FROM (SELECT g, v,"
        " ROW_NUMBER() OVER (PARTITION BY g ORDER BY v) - 1 AS wi,"
        " COUNT(*) OVER (PARTITION BY g) AS wn, SUM(v) OVER (PARTITION BY g) AS ws,"
        " ROW_NUMBER() OVER (ORDER BY v) - 1 AS ai,"
        " COUNT(*) OVER () AS an, SUM(v) OVER () AS sa"
        f" FROM ({sql}) src) r WHERE {weekly} OR {overall}"
    )
    picked: dict[Any, dict[int, float]] = defaultdict(dict)
    sizes: dict[Any, tuple[int, float]] = {}
    for g, v, wi, wn, ws, ai, an, sa in conn.execute(text(ranked), scope.params()):
        picked[g][int(wi)] = float(v)
        sizes[g] = (int(wn), float(ws))
        picked[None][int(ai)] = float(v)
        sizes[None] = (int(an), float(sa))
    out = {g: dist(n, s, picked[g], qs) for g, (n, s) in sizes.items()}
    total = out.pop(None, None)
    return total, {monday(int(g)): d for g, d in out.items()}


def _links(conn: Connection) -> str:
    """What links a deployment as a change failure: incidents, and hotfixes (which repair the
    deployment they name, so they count against its own service)."""
    # Hotfixes come from the projection (``dora_hotfixes``), not the log's JSON.
    return (
        "(SELECT i.project, i.deployment_id, i.service, 'incident' AS why FROM incidents i"
        " UNION ALL SELECT h.project, h.deployment_id, d.service, 'hotfix' FROM dora_hotfixes h"
        " JOIN dora_deployments d ON d.project = h.project AND d.id = h.deployment_id)"
    )


def _linked(conn: Connection, scope: Scope) -> str:
    service = " AND i.service = :service" if scope.service is not None else ""
    return (
        f"EXISTS (SELECT 1 FROM {_links(conn)} i WHERE i.deployment_id = p.id"
        f" AND i.project = p.project{service})"
    )


def failure_ids(conn: Connection, scope: Scope, limit: int) -> list[tuple[str, str]]:
    """(deployment id, why) of the change failures in the window, oldest first, at most limit."""
    sql = (
        f"SELECT p.id, p.status, (SELECT MIN(i.why) FROM {_links(conn)} i"
        " WHERE i.deployment_id = p.id AND i.project = p.project)"
        f" FROM dora_deployments p WHERE {scope.where('p')} AND p.kind = 'deploy'"
        f" AND (p.ok = 0 OR {_linked(conn, scope)}) ORDER BY p.finished_at, p.seq LIMIT :limit"
    )
    return [
        (row[0], row[1] if row[1] != "succeeded" else (row[2] or "incident"))
        for row in conn.execute(text(sql), {**scope.params(), "limit": limit})
    ]


def deployment_ids(conn: Connection, scope: Scope, limit: int) -> list[str]:
    """Ids of the successful production deployments in the window, at most limit."""
    sql = (
        f"SELECT p.id FROM dora_deployments p WHERE {scope.where('p')} AND p.ok = 1"
        " AND p.kind = 'deploy' ORDER BY p.finished_at, p.seq LIMIT :limit"
    )
    return [r[0] for r in conn.execute(text(sql), {**scope.params(), "limit": limit})]


class ChangeCounts(TypedDict):
    deployments: int
    flags: int  # flag changes


def changes(conn: Connection, scope: Scope) -> ChangeCounts:
    """Successful production changes in the window by kind: deployments and flag changes."""
    sql = (
        f"SELECT d.kind, COUNT(*) FROM dora_deployments d WHERE {scope.where('d')} AND d.ok = 1"
        " GROUP BY d.kind"
    )
    found = {str(k): int(n) for k, n in conn.execute(text(sql), scope.params())}
    return {"deployments": found.get("deploy", 0), "flags": found.get("flag", 0)}
