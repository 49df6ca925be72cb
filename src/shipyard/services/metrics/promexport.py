"""The DORA and build figures in the Prometheus text exposition format (0.0.4).

Gauges over a trailing window (``since``, default 30 days). A figure with no data is left out
rather than written as 0, as Prometheus expects of a series that does not exist. The text is
written by ``prometheus_client`` (``domain.promtext.render``).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from shipyard.domain import promtext
from shipyard.services.metrics import metrics
from shipyard.services.pipelines import builds
from shipyard.store.uow import Store

LEVELS = {"low": 0, "medium": 1, "high": 2, "elite": 3}


class _Out:
    """Families in the order they are declared; samples go to the last family of their
    name's family (``x_sum`` and ``x_count`` to ``x``)."""

    def __init__(self) -> None:
        self.families: dict[str, tuple[str, str, list[promtext.Sample]]] = {}

    def family(self, name: str, kind: str, help_: str) -> None:
        self.families[name] = (kind, help_, [])

    def sample(self, name: str, value: float | None, **labels: str) -> None:
        if value is None:
            return
        family = name if name in self.families else name.rsplit("_", 1)[0]
        sample = promtext.Sample(name, tuple(sorted(labels.items())), float(value))
        self.families[family][2].append(sample)

    def text(self) -> str:
        return promtext.render(
            promtext.Family(name, kind, help_, tuple(samples))
            for name, (kind, help_, samples) in self.families.items()
        )


def exposition(
    store: Store, *, env: str | None = None, since: str = "30d", project: str | None = None
) -> str:
    r = metrics.dora_report(store, env=env, since=since, project=project)
    b = builds.builds_report(store, since=since, project=project)
    e = r["env"]
    f: Mapping[str, Any] = r["figures"]
    out = _Out()
    out.family("shipyard_dora_window_days", "gauge", "Length of the window the figures cover.")
    out.sample("shipyard_dora_window_days", r["window"]["days"], env=e)
    out.family("shipyard_dora_deployments", "gauge", "Production deployments in the window.")
    out.family("shipyard_dora_change_failures", "gauge", "Deployments that led to a failure.")
    for service, c in r["services"].items():
        # Deployments naming no service: an empty label, which Prometheus reads as none.
        named = service or ""
        out.sample("shipyard_dora_deployments", c["deployments"], env=e, service=named)
        out.sample("shipyard_dora_change_failures", c["failures"], env=e, service=named)
    out.family(
        "shipyard_dora_deployment_frequency_per_day",
        "gauge",
        "Successful production deployments per day.",
    )
    out.sample(
        "shipyard_dora_deployment_frequency_per_day", f["deployment_frequency"]["value"], env=e
    )
    out.family(
        "shipyard_dora_change_failure_rate", "gauge", "Change failures over production deployments."
    )
    out.sample("shipyard_dora_change_failure_rate", f["change_failure_rate"]["value"], env=e)
    for key, help_ in (
        ("lead_time", "Commit to production, per commit."),
        ("time_to_restore", "Failure to the next healthy production state."),
    ):
        name = f"shipyard_dora_{key}_seconds"
        out.family(name, "summary", help_)
        fig = f[key]
        if fig["value"] is not None:
            out.sample(name, fig["value"], env=e, quantile="0.5")
            out.sample(name, fig["p90"], env=e, quantile="0.9")
            out.sample(f"{name}_sum", fig["numerator"], env=e)
            out.sample(f"{name}_count", fig["denominator"], env=e)
    out.family("shipyard_dora_level", "gauge", "DORA 2023 level per key: 0 low .. 3 elite.")
    for key in ("deployment_frequency", "lead_time", "change_failure_rate", "time_to_restore"):
        level = f[key]["level"]
        out.sample("shipyard_dora_level", LEVELS.get(level) if level else None, env=e, key=key)
    out.family("shipyard_build_duration_seconds", "summary", "Step duration per job.")
    out.family("shipyard_build_cache_hit_ratio", "gauge", "Cache hits over lookups per job.")
    for j in b["jobs"]:
        d = j["duration_s"]
        if d is not None:
            for q in ("p50", "p90", "p99"):
                out.sample(
                    "shipyard_build_duration_seconds", d[q], job=j["job"], quantile=f"0.{q[1:]}"
                )
            out.sample("shipyard_build_duration_seconds_count", d["count"], job=j["job"])
        out.sample("shipyard_build_cache_hit_ratio", j["cache_hit_rate"], job=j["job"])
    return out.text()
