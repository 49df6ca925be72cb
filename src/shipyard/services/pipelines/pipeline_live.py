"""Live step logs: what running steps print, readable by the server while the run goes on.

`shipyard run` writes (pipeline_live_writer.py), at most every half second, the new full
lines of each running step (already masked by the executor) to
``<state>/live/<run id>/<n>.log``, and ``index.json``: the nodes handed to the executor and
each one's file. The folder goes when the run ends; the stored, masked log of a finished step
is then the answer. Steps of an executor that cannot show its steps' output as they run (Dask)
appear when they end.

Readers (the API's and the dashboard's log streams) ask ``read`` with the offset they have:
it answers the new text, or the step's final log once the step is recorded.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator
from typing import TypedDict, final

from shipyard.errors import NotFound
from shipyard.services.pipelines.pipeline_live_writer import folder
from shipyard.store.uow import Store

MAX_CHUNK = 256 * 1024  # a reader gets at most this much at once


class LiveIndex(TypedDict):
    running: list[str]  # nodes
    files: dict[str, str]  # node -> its file in the run's folder


def index(store: Store, run_id: int) -> LiveIndex:
    """The nodes a running run has started and not yet recorded, and their log files."""
    try:
        data: LiveIndex = json.loads((folder(store.home, run_id) / "index.json").read_text())
    except (FileNotFoundError, ValueError):
        return {"running": [], "files": {}}
    return data


@final  # final, so that ``"final" in`` tells the two apart
class LiveText(TypedDict):
    text: str
    offset: int


@final
class LiveFinal(TypedDict):
    final: str
    status: str


def read(store: Store, run_id: int, node: str, offset: int) -> LiveText | LiveFinal:
    """``{"text", "offset"}`` while the step runs (its new lines since ``offset``), then
    ``{"final": log, "status"}`` once it is recorded, or once the run is over without it."""
    from shipyard.services.pipelines.pipeline_history import show_run, step_logs

    run = show_run(store, run_id)
    step = next((s for s in run["steps"] if s["node"] == node), None)
    if step is not None or run["status"] != "running":
        if step is None:
            known = index(store, run_id)["running"]
            if node not in known:
                raise NotFound(
                    f"run {run_id} has no step {node!r}",
                    f"steps in run {run_id}: {', '.join(s['node'] for s in run['steps'])}",
                    code="step-not-found",
                )
            return {"final": "(the run ended before this step was recorded)\n", "status": "-"}
        logs = step_logs(store, run_id, node)["logs"]
        text = "".join(entry["log"] for entry in logs if entry["node"] == node)
        return {"final": text, "status": step["status"]}
    name = index(store, run_id)["files"].get(node)
    data = b""
    if name is not None:
        try:
            with open(folder(store.home, run_id) / name, "rb") as fh:
                fh.seek(offset)
                data = fh.read(MAX_CHUNK)
        except FileNotFoundError:
            data = b""
    return {"text": data.decode("utf-8", errors="replace"), "offset": offset + len(data)}


POLL_S = 0.5  # how often a stream looks for new output


async def follow(
    store: Store,
    run_id: int,
    node: str,
    start: int = 0,
    max_s: float = 3600.0,
    stop: asyncio.Event | None = None,
) -> AsyncIterator[tuple[str, dict[str, str]]]:
    """``("chunk", {"text"})`` as the step prints (from byte ``start`` of its output), then
    ``("final", {"log", "status"})``; ``("ping", {})`` now and then while nothing comes. It
    ends early once ``stop`` is set (the server is stopping)."""
    offset, quiet, end = start, 0.0, time.monotonic() + max_s
    while time.monotonic() < end and not (stop is not None and stop.is_set()):
        got = await asyncio.to_thread(read, store, run_id, node, offset)
        if "final" in got:
            yield "final", {"log": got["final"], "status": got["status"]}
            return
        if got["text"]:
            offset, quiet = got["offset"], 0.0
            yield "chunk", {"text": got["text"]}
            continue
        quiet += POLL_S
        if quiet >= 15.0:
            quiet = 0.0
            yield "ping", {}
        await asyncio.sleep(POLL_S)
