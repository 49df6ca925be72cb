"""Charts of the DORA trend: one panel per key, week by week, with the 2023 level bands; and
the dashboard's build chart (build time and cache hit rate per day), written as plain SVG.

matplotlib is an optional extra (``pip install 'shipyard[charts]'``) and imported only here,
for the DORA chart; the build chart needs nothing.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from shipyard.domain.dora import THRESHOLDS_2023
from shipyard.errors import InputError

if TYPE_CHECKING:
    from shipyard.services.pipelines.builds import BuildDay

FORMATS = (".png", ".svg")
HOUR = 3600.0


def check_target(path: Path) -> None:
    """Refuse an unknown extension or an unwritable folder before any work is done."""
    if path.suffix.lower() not in FORMATS:
        raise InputError(
            f"cannot draw '{path.name}': unknown chart format '{path.suffix or '(none)'}'",
            "end the --plot file name with .png or .svg",
            code="plot-format-unknown",
        )
    folder = path.parent if str(path.parent) else Path(".")
    if not folder.is_dir() or not os.access(folder, os.W_OK):
        raise InputError(
            f"cannot write '{path}': folder '{folder}' is missing or not writable",
            "choose a --plot path in a folder you can write to",
            code="plot-unwritable",
        )


def _series(trend: list[dict[str, Any]], key: str, field: str, scale: float) -> list[float]:
    nan = float("nan")
    return [t[key][field] / scale if t[key][field] is not None else nan for t in trend]


def plot_dora(report: Mapping[str, Any], path: Path) -> Path:
    """Draw the weekly trend of each key into ``path`` (.png or .svg)."""
    check_target(path)
    try:
        import matplotlib
    except ImportError as exc:
        raise InputError(
            "drawing charts needs matplotlib",
            "pip install 'shipyard[charts]'",
            code="charts-unavailable",
        ) from exc
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    trend = report["trend"]
    weeks = [t["week"][5:] for t in trend]  # MM-DD: the year is in the title
    x = list(range(len(trend)))
    fig, axes = plt.subplots(2, 2, figsize=(12, 7.5), sharex=True)
    panels = [
        (
            "deployment_frequency",
            "value",
            1.0,
            "Deployments per week",
            "bar",
            [(lv, 7 * b) for lv, b in THRESHOLDS_2023["deployment_frequency"]],
        ),
        (
            "lead_time",
            "value",
            HOUR,
            "Lead time for changes (hours, median and p90)",
            "line",
            [(lv, b / HOUR) for lv, b in THRESHOLDS_2023["lead_time"]],
        ),
        (
            "change_failure_rate",
            "value",
            0.01,
            "Change failure rate (%)",
            "bar",
            [(lv, 100 * b) for lv, b in THRESHOLDS_2023["change_failure_rate"]],
        ),
        (
            "time_to_restore",
            "value",
            HOUR,
            "Time to restore (hours, median and p90)",
            "line",
            [(lv, b / HOUR) for lv, b in THRESHOLDS_2023["time_to_restore"]],
        ),
    ]
    for ax, (key, field, scale, title, kind, bands) in zip(axes.flat, panels, strict=True):
        ys = _series(trend, key, field, scale)
        if kind == "bar":
            ax.bar(x, ys, color="#3b7dd8", width=0.7)
            if key == "change_failure_rate":
                for i, t in enumerate(trend):
                    f = t[key]
                    if f["denominator"]:
                        ax.annotate(
                            f"{f['numerator']:g}/{f['denominator']:g}",
                            (i, ys[i]),
                            ha="center",
                            va="bottom",
                            fontsize=8,
                        )
        else:
            ax.plot(x, ys, marker="o", color="#3b7dd8", label="median")
            ax.plot(
                x,
                _series(trend, key, "p90", scale),
                marker=".",
                linestyle=":",
                color="#888888",
                label="p90",
            )
            ax.legend(loc="upper left", fontsize=8, frameon=False)
        finite = [y for y in ys if y == y]
        top = max(finite) if finite else 1.0
        for level, bound in bands:
            if bound <= top * 1.5:
                ax.axhline(bound, color="#c0392b", linewidth=0.8, linestyle="--", alpha=0.6)
                ax.text(
                    len(x) - 0.5,
                    bound,
                    f" {level.label}",
                    va="bottom",
                    ha="right",
                    fontsize=7,
                    color="#c0392b",
                )
        if not finite:
            ax.text(
                0.5,
                0.5,
                "no data",
                transform=ax.transAxes,
                ha="center",
                va="center",
                fontsize=14,
                color="#888888",
            )
        ax.set_title(title, fontsize=10)
        ax.set_ylim(bottom=0)
        ax.grid(axis="y", alpha=0.3)
    for ax in axes[1]:
        ax.set_xticks(x, weeks, rotation=60, fontsize=7)
        ax.set_xlabel("week starting (UTC)", fontsize=8)
    who = report["service"] or "all services"
    fig.suptitle(
        f"DORA four keys, {who} in {report['env']}, {report['window']['since'][:10]} to "
        f"{report['window']['until'][:10]} (levels: State of DevOps 2023)",
        fontsize=11,
    )
    fig.tight_layout()
    try:
        fig.savefig(path, dpi=110)
    except OSError as exc:
        raise InputError(
            f"cannot write '{path}': {exc.strerror}",
            "choose a --plot path you can write to",
            code="plot-unwritable",
        ) from exc
    finally:
        plt.close(fig)
    return path


def builds_svg(days: list[BuildDay], *, width: int = 900, height: int = 280) -> str:
    """Build time and cache hits day by day, as plain SVG (no matplotlib): a bar per day for
    the median pipeline run, and a line for the cache hit rate on its own 0-100% scale.
    ``days`` is ``builds.daily_report``'s list."""
    from xml.sax.saxutils import escape

    left, right, top, bottom = 64, 64, 40, 44
    plot_w, plot_h = width - left - right, height - top - bottom
    n = max(len(days), 1)
    slot = plot_w / n
    longest = max((d["run_p50_s"] or 0.0 for d in days), default=0.0) or 1.0
    unit, scale = ("min", 60.0) if longest >= 120 else ("s", 1.0)
    title = "Build time and cache hit rate per day"
    out = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
        f'viewBox="0 0 {width} {height}" role="img" font-family="sans-serif" font-size="12">',
        f"<title>{title}</title>",
        f'<rect width="{width}" height="{height}" fill="#fff"/>',
        f'<text x="{left}" y="20" font-size="14" font-weight="bold">{title}</text>',
        f'<rect x="{width - 330}" y="10" width="12" height="12" fill="#4c78a8"/>',
        f'<text x="{width - 314}" y="20">median run ({unit})</text>',
        f'<line x1="{width - 180}" y1="16" x2="{width - 160}" y2="16" stroke="#e45756" '
        'stroke-width="2"/>',
        f'<text x="{width - 154}" y="20">cache hit rate (%)</text>',
    ]
    for frac in (0.0, 0.5, 1.0):  # gridlines with both scales
        y = top + plot_h * (1 - frac)
        out += [
            f'<line x1="{left}" y1="{y:.1f}" x2="{left + plot_w}" y2="{y:.1f}" stroke="#ddd"/>',
            f'<text x="{left - 6}" y="{y + 4:.1f}" text-anchor="end">'
            f"{longest * frac / scale:.1f}</text>",
            f'<text x="{left + plot_w + 6}" y="{y + 4:.1f}">{frac * 100:.0f}%</text>',
        ]
    points = []
    for i, d in enumerate(days):
        x = left + slot * i
        label = escape(d["day"][5:])
        if d["run_p50_s"] is not None:
            h = plot_h * d["run_p50_s"] / longest
            tip = escape(
                f"{d['day']}: {d['runs']} runs, median {d['run_p50_s']:.1f} s"
                + (f", cache {d['cache_hit_rate']:.0%}" if d["cache_hit_rate"] is not None else "")
            )
            out.append(
                f'<rect x="{x + slot * 0.15:.1f}" y="{top + plot_h - h:.1f}" '
                f'width="{slot * 0.7:.1f}" height="{h:.1f}" fill="#4c78a8"><title>{tip}</title>'
                "</rect>"
            )
        if d["cache_hit_rate"] is not None:
            points.append((x + slot / 2, top + plot_h * (1 - d["cache_hit_rate"])))
        if n <= 16 or i % 2 == 0:
            out.append(
                f'<text x="{x + slot / 2:.1f}" y="{top + plot_h + 16}" text-anchor="middle">'
                f"{label}</text>"
            )
    if points:
        path = " ".join(f"{x:.1f},{y:.1f}" for x, y in points)
        out.append(f'<polyline points="{path}" fill="none" stroke="#e45756" stroke-width="2"/>')
        out += [f'<circle cx="{x:.1f}" cy="{y:.1f}" r="3" fill="#e45756"/>' for x, y in points]
    if not any(d["runs"] for d in days):
        out.append(
            f'<text x="{left + plot_w / 2}" y="{top + plot_h / 2}" text-anchor="middle" '
            'fill="#666">no pipeline run in these days</text>'
        )
    out.append("</svg>")
    return "\n".join(out)
