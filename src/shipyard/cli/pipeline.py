"""`shipyard run`, `runs`, `logs`, `why` and `cache`: pipelines on this machine."""

from __future__ import annotations

import gc
import json
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import typer

from shipyard.cli.common import (
    FILE,
    JSON,
    console,
    emit,
    interactive,
    json_mode,
    open_store,
    settings,
)


def _remote(method: str, path: str, **kw: Any) -> Any | None:
    s = settings()
    if not s.server_url:
        return None
    from shipyard.cli.client import call

    return call(s.server_url, s.token, method, path, **kw)


def _spec(file: Path | None) -> tuple[Any, Path]:
    from shipyard.spec.load import find_spec, load_spec

    path = find_spec(file=file)
    return load_spec(path), path.parent.resolve()


def run(
    jobs: list[str] = typer.Argument(None, help="Jobs to run, with what they need (default: all)."),
    workers: int | None = typer.Option(
        None, "-j", "--jobs", min=1, help="Steps at once (default: CPU count)."
    ),
    plain: bool = typer.Option(False, "--plain", help="Plain lines instead of the live view."),
    rerun_failed: int | None = typer.Option(
        None, "--rerun-failed", metavar="RUN", help="Keep RUN's successes; run the rest again."
    ),
    remote_cache: str | None = typer.Option(
        None,
        "--remote-cache",
        envvar="SHIPYARD_REMOTE_CACHE",
        metavar="URL",
        help="A remote cache shared over HTTP (http://HOST:PORT/cache); token: SHIPYARD_TOKEN.",
    ),
    executor: str | None = typer.Option(
        None,
        "--executor",
        envvar="SHIPYARD_EXECUTOR",
        metavar="WHERE",
        help="Where steps run: local (default), dask://HOST:8786, or dask-local:N.",
    ),
    file: Path | None = FILE,
    json_: bool = JSON,
) -> None:
    """Run the pipeline: steps in parallel, each served from the cache when its inputs match."""
    # The loop allocates a few objects per step, most short-lived: the collector's default (a
    # pass every 700 allocations) would run thousands of times in a large run.
    gc.set_threshold(20_000)

    from shipyard.identity import actor
    from shipyard.services.pipelines import pipeline
    from shipyard.services.pipelines.uptodate import spec_digest
    from shipyard.spec.load import find_spec, load_spec

    path = find_spec(file=file).resolve()
    digest = spec_digest(path)  # before loading: an edit meanwhile fails the next check
    from shipyard.store.uow import Store

    spec, root = load_spec(path), path.parent
    store = Store.open_for_runs(settings(root))
    if json_mode(json_):
        reporter: Any = pipeline.NullReporter()
    elif plain or not interactive():
        from shipyard.cli.pipeline_view import PlainReporter

        reporter = PlainReporter()
    else:
        from shipyard.cli.pipeline_view import LiveReporter

        reporter = LiveReporter()
    summary = pipeline.run(
        store,
        spec,
        root,
        jobs or None,
        workers,
        reporter,
        rerun_failed=rerun_failed,
        actor=actor(root),
        stamp_spec=(path, digest),
        remote_cache=remote_cache,
        remote_token=settings(root).token,
        executor_target=executor,
    )
    if json_mode(json_):
        # One line: a summary of thousands of steps, and the up-to-date check prints the same.
        sys.stdout.write(json.dumps(summary, default=str) + "\n")
    if summary["status"] == "cancelled":
        sys.stderr.write("interrupted\n")
        raise SystemExit(130)
    if summary["status"] != "success":
        if not json_mode(json_):
            failed = [s["node"] for s in summary["steps"] if s["status"] == "failure"]
            sys.stderr.write(
                f"error[run-failed]: run {summary['run_id']} failed: {', '.join(failed)}\n"
                f"  hint: read a step's log with `shipyard logs {summary['run_id']} JOB`\n"
            )
        raise SystemExit(1)


runs = typer.Typer(
    help="Pipeline runs: list them, or `runs show RUN`.",
    add_completion=False,
    invoke_without_command=True,
)


@runs.callback()
def runs_list(
    ctx: typer.Context,
    limit: int = typer.Option(20, min=1, help="At most this many, newest first."),
    json_: bool = JSON,
) -> None:
    """List the newest runs."""
    if ctx.invoked_subcommand is not None:
        return
    from shipyard.services.pipelines import pipeline_history as h

    data = _remote("GET", "/api/v1/runs", params={"limit": limit})
    if data is None:
        store = open_store()
        h.reap(store)  # a run whose process died is shown as abandoned, not running
        data = h.list_runs(store, None, limit)

    def human() -> None:
        from rich.table import Table

        table = Table("run", "project", "status", "started", "duration", "steps", box=None)
        for r in data["runs"]:
            counts = ", ".join(f"{v} {k}" for k, v in sorted(r.get("counts", {}).items()))
            duration = f"{r['duration_s']:.2f}s" if r["duration_s"] is not None else "-"
            table.add_row(
                str(r["id"]),
                r["project"],
                r["status"],
                r["started_at"][:19].replace("T", " "),
                duration,
                counts,
            )
        console().print(table)

    emit(data, json_, human)


@runs.command("show")
def runs_show(run_id: int = typer.Argument(..., metavar="RUN"), json_: bool = JSON) -> None:
    """One run and its steps."""
    from shipyard.services.pipelines import pipeline_history as h

    data = _remote("GET", f"/api/v1/runs/{run_id}")
    if data is None:
        store = open_store()
        h.reap(store)
        data = h.show_run(store, run_id)

    def human() -> None:
        from rich.markup import escape
        from rich.table import Table

        c = console()
        c.print(
            f"run {data['id']} [bold]{data['status']}[/] project {data['project']} "
            f"commit {data['commit'][:12] or '-'} trigger {data['trigger']}"
        )
        if data.get("pruned_at"):
            c.print(f"its steps were pruned at {data['pruned_at']} (`cache gc --keep-runs`)")
        table = Table("step", "status", "cached", "duration", "attempt", "key", "reason", box=None)
        for s in data["steps"]:
            table.add_row(
                escape(s["node"]),
                s["status"],
                "yes" if s["cached"] else "",
                f"{s['duration_s']:.2f}s",
                str(s["attempt"]),
                (s["key"] or "")[:12],
                escape(s["reason"]),
            )
        c.print(table)

    emit(data, json_, human)


def logs(
    run_id: int = typer.Argument(..., metavar="RUN"),
    job: str = typer.Argument(..., help="A job (every matrix combination) or one step id."),
    json_: bool = JSON,
) -> None:
    """Print the logs of a job's steps in a run (secrets already masked)."""
    from shipyard.services.pipelines import pipeline_history as h

    data = _remote("GET", f"/api/v1/runs/{run_id}/logs/{job}")
    if data is None:
        data = h.step_logs(open_store(), run_id, job)

    def human() -> None:
        many = len(data["logs"]) > 1
        for entry in data["logs"]:
            if many:
                sys.stdout.write(f"==> {entry['node']} ({entry['status']}) <==\n")
            sys.stdout.write(entry["log"])

    emit(data, json_, human)


def why(
    job: str = typer.Argument(..., help="The job to explain."),
    file: Path | None = FILE,
    json_: bool = JSON,
) -> None:
    """Say what changed in a job's cache key between its two newest runs."""
    from shipyard.services.pipelines import pipeline_history as h

    spec, root = _spec(file)
    data = h.why_job(open_store(root), spec, job)  # job-unknown when there is none

    def human() -> None:
        from rich.markup import escape

        c = console()
        for step in data["steps"]:
            c.print(f"[bold]{escape(step['node'])}[/] ({step['state']})")
            for reason in step["reasons"]:
                c.print(f"  {escape(reason)}")

    emit(data, json_, human)


cache = typer.Typer(help="The step cache.", add_completion=False, no_args_is_help=True)


@cache.command("stats")
def cache_stats(json_: bool = JSON) -> None:
    """Entries, stored bytes and the hit rate over recent runs."""
    from shipyard.services.pipelines import pipeline_history as h

    data = h.cache_stats(open_store())
    emit(
        data,
        json_,
        lambda: console().print(
            f"{data['entries']} entries, {data['blobs']} blobs, {data['bytes']:,} bytes; "
            f"hit rate {data['hit_rate']:.0%} over {data['recent_steps']} steps of the last "
            f"{data['recent_runs']} runs"
        ),
    )


@cache.command("gc")
def cache_gc(
    max_size: str | None = typer.Option(
        None, "--max-size", help="Keep at most this much in the cache: 500MB, 2GiB."
    ),
    keep_runs: int | None = typer.Option(
        None, "--keep-runs", help="Keep the step rows of each project's newest N runs."
    ),
    json_: bool = JSON,
) -> None:
    """Evict least recently used entries until the cache fits in --max-size; delete the step
    rows of runs older than the newest --keep-runs."""
    from shipyard.services.pipelines import pipeline_history as h

    limit = h.parse_size(max_size) if max_size is not None else None
    data = h.cache_gc(open_store(), limit, keep_runs)

    def human() -> None:
        c = console()
        if "entries_evicted" in data:
            c.print(
                f"evicted {data['entries_evicted']} entries and {data['blobs_deleted']} blobs: "
                f"{data['bytes_before']:,} -> {data['bytes_after']:,} bytes"
            )
        if "runs_pruned" in data:
            c.print(
                f"pruned the step rows of {data['runs_pruned']} runs "
                f"({data['step_rows_deleted']:,} rows); kept each project's newest "
                f"{data['keep_runs']} runs"
            )

    emit(data, json_, human)


@runs.command("work")
def runs_work(
    once: bool = typer.Option(False, "--once", help="Run one queued request, then stop."),
    follow: bool = typer.Option(
        False, "--follow", help="Keep waiting for requests (poll every second) until stopped."
    ),
    json_: bool = JSON,
) -> None:
    """Run the queued run requests (from the API and git webhooks) against this store."""
    import time

    from shipyard.services import work
    from shipyard.services.pipelines import run_requests

    store = open_store()
    owner = work.owner_id("runs-work")
    done: list[Mapping[str, Any]] = []
    try:
        while True:
            settled = run_requests.work_once(store, owner)
            if settled is not None:
                done.append(settled)
                if not json_mode(json_):
                    console().print(
                        f"request {settled['id']} {settled['status']}: {settled['commit'][:12]}"
                        + (f" -> run {settled['run_id']}" if settled["run_id"] else "")
                        + (f" ({settled['reason']})" if settled["reason"] else "")
                    )
                if once:
                    break
                continue
            if not follow:
                break
            time.sleep(1.0)
    except KeyboardInterrupt:
        pass
    if json_mode(json_):
        emit({"requests": done}, json_, lambda: None)
