"""Figures for people: durations and each DORA key with its numerator and denominator."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Literal


def duration(seconds: float | None) -> str:
    if seconds is None:
        return "no data"
    for unit, size in (("d", 86400), ("h", 3600), ("min", 60)):
        if seconds >= size:
            return f"{seconds / size:.1f} {unit}"
    return f"{seconds:.0f} s" if seconds >= 10 else f"{seconds:.2g} s"


def show(key: str, f: Mapping[str, Any]) -> tuple[str, str, str]:
    """(value, numerator/denominator, p90) of one figure, for people."""
    if key == "deployment_frequency":
        value = "no data" if f["value"] is None else f"{f['value']:.3g} {f['unit']}"
        per = f["unit"].rsplit("/", 1)[-1]
        return value, f"{f['numerator']:g} deployments / {f['denominator']:.3g} {per}s", "-"
    if key == "change_failure_rate":
        value = "no data" if f["value"] is None else f"{100 * f['value']:.1f}%"
        return value, f"{f['numerator']:g} failed / {f['denominator']:g} deployments", "-"
    what = "commits" if key == "lead_time" else "failures"
    return (
        duration(f["value"]),
        f"{duration(f['numerator'])} / {f['denominator']:g} {what}",
        (duration(f["p90"])),
    )


Key = Literal["deployment_frequency", "lead_time", "change_failure_rate", "time_to_restore"]
KEYS: tuple[Key, ...] = (
    "deployment_frequency",
    "lead_time",
    "change_failure_rate",
    "time_to_restore",
)


def changes_line(c: Mapping[str, Any]) -> str:
    """The `changes` figure (deployments and flag changes), which is not a DORA key."""
    value = "no data" if c["value"] is None else f"{c['value']:.3g} {c['unit']}"
    return (
        f"changes: {value} ({c['deployments']:g} deployments + {c['flags']:g} flag changes"
        f" / {c['denominator']:.3g} days; not a DORA key, flag changes are not deployments)"
    )
