"""The release status page: what is live where, freezes, locks, the train, recent deploys.

Everything comes from the event log and the release tables; the page is plain HTML with no
script, so it can be served or written as a static file.
"""

from __future__ import annotations

from datetime import datetime
from html import escape
from typing import TYPE_CHECKING, Any, TypedDict

from shipyard.services.coordination import freezes, locks, trains
from shipyard.services.coordination.coordination import latest_deployment
from shipyard.store.uow import Store

if TYPE_CHECKING:
    from shipyard.spec.models import Spec


class LiveVersion(TypedDict):
    environment: str
    version: str | None  # None: never deployed
    since: str | None


class RecentDeploy(TypedDict):
    ts: str
    environment: str | None
    version: str | None
    status: str | None


class StatusPage(TypedDict):
    """What the release status page shows."""

    project: str
    environments: list[LiveVersion]
    freezes: list[freezes.FreezeState]  # those in force
    locks: list[locks.LockState]
    train: trains.TrainStatus | None  # None: no release.train
    recent: list[RecentDeploy]  # newest first


def data(store: Store, spec: Spec, now: datetime) -> StatusPage:
    envs: list[LiveVersion] = []
    with store.read() as uow:
        for name in spec.environments:
            e = latest_deployment(uow, spec.project, name)
            envs.append(
                {
                    "environment": name,
                    "version": e.payload.get("version") if e else None,
                    "since": e.ts if e else None,
                }
            )
        recent: list[RecentDeploy] = [
            {
                "ts": e.ts,
                "environment": e.payload.get("environment"),
                "version": e.payload.get("version"),
                "status": e.payload.get("status"),
            }
            for e in uow.events.query(
                project=spec.project, kind="deployment.finished", descending=True, limit=10
            )
        ]
    frozen: list[freezes.FreezeState] = [
        {"environment": n, **freezes.status(store, spec, now, n)} for n in spec.environments
    ]
    train = trains.status(store, spec, now) if spec.release.train is not None else None
    return {
        "project": spec.project,
        "environments": envs,
        "freezes": [f for f in frozen if f["frozen"]],
        "locks": locks.list_locks(store, spec.project, now),
        "train": train,
        "recent": recent,
    }


def _table(headers: list[str], rows: list[list[Any]]) -> str:
    if not rows:
        return "<p>none</p>"
    head = "".join(f"<th>{escape(h)}</th>" for h in headers)
    body = "".join(
        "<tr>"
        + "".join(f"<td>{escape(str(c if c is not None else '-'))}</td>" for c in r)
        + "</tr>"
        for r in rows
    )
    return f"<table><tr>{head}</tr>{body}</table>"


def delivery_chart(store: Store, spec: Spec, now: datetime) -> str:
    """The DORA trend of the last twelve weeks as inline SVG, or a line saying why not."""
    import tempfile
    from pathlib import Path

    from shipyard.errors import InputError
    from shipyard.services.metrics import metrics
    from shipyard.services.metrics.charts import plot_dora

    report = metrics.dora_report(store, project=spec.project, since="84d", by="week", now=now)
    with tempfile.TemporaryDirectory() as tmp:
        try:
            svg = plot_dora(report, Path(tmp) / "dora.svg").read_text(encoding="utf-8")
        except InputError as exc:  # matplotlib is an optional extra
            return f"<p>{escape(exc.message)} ({escape(exc.hint)})</p>"
    return svg[svg.index("<svg") :]  # inline: drop the XML prolog and doctype


def render(store: Store, spec: Spec, now: datetime) -> str:
    d = data(store, spec, now)
    t = d["train"]
    train_html = "<p>no release train configured</p>"
    if t is not None:
        cur = t["current"]
        rows = [[cur["name"], cur["phase"], cur["cut"], cur["ship"]]] if cur else []
        rows += [[u["name"], u["phase"], u["cut"], u["ship"]] for u in t["upcoming"]]
        train_html = _table(["train", "phase", "cut", "ships"], rows)
        if t["blocked_by"]:
            items = "".join(f"<li>{escape(b)}</li>" for b in t["blocked_by"])
            train_html += f"<p>Blocked by:</p><ul>{items}</ul>"
    title = f"{escape(d['project'])} release status"
    return (
        "<!doctype html><html lang=en><head><meta charset=utf-8>"
        f"<title>{title}</title>"
        "<style>body{font-family:system-ui,sans-serif;margin:2em}"
        "td,th{padding:.2em .8em;text-align:left}</style></head><body>"
        f"<h1>{title}</h1><p>as of {escape(now.isoformat(timespec='seconds'))}</p>"
        "<h2>Live</h2>"
        + _table(
            ["environment", "version", "since"],
            [[e["environment"], e["version"], e["since"]] for e in d["environments"]],
        )
        + "<h2>Freezes in force</h2>"
        + _table(
            ["environment", "status"], [[f["environment"], f["message"]] for f in d["freezes"]]
        )
        + "<h2>Deploy locks</h2>"
        + _table(
            ["environment", "held by", "reason", "expires"],
            [
                [lk["environment"], lk["held_by"], lk["reason"], lk["expires_at"]]
                for lk in d["locks"]
            ],
        )
        + "<h2>Release train</h2>"
        + train_html
        + "<h2>Recent deploys</h2>"
        + _table(
            ["time", "environment", "version", "status"],
            [[r["ts"], r["environment"], r["version"], r["status"]] for r in d["recent"]],
        )
        + "<h2>Delivery (DORA, production, last 12 weeks)</h2>"
        + delivery_chart(store, spec, now)
        + "</body></html>"
    )
