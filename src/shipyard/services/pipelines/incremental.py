"""The incremental path: a `shipyard run` where a few input files changed since the stamp.

The up-to-date check (uptodate.py) reads every file the stamped run saw. When all that changed
is the content of some steps' input files, the steps' keys need not all be computed again, nor
the spec loaded: ``uptodate-nodes.json`` holds, for each step of the stamped run, its manifest
(what its key was computed over), the files and values it handed on, and how to run it. Steps
reading a changed file get their manifest updated with the new digest and a new key; a new key
is looked up in the action cache (a hit restores its files) or the step runs; when what it hands
on changed, the steps that need it are keyed again, and so on down the graph (early cutoff
when it did not). Every other step keeps its key. The run is recorded as the full path records
one (against the base run, a row for each step whose key differs from the base's, the same
events), and leaves a new stamp.

Only pipelines whose every job is plain take this path (``eligible``): no `if`, `sandbox`,
`tools`, `secrets`, `retries`, `continue-on-error`, or `cache: false`, blobs on the local disk.
Anything it cannot vouch for (a changed output file, a deleted file, a new file under a glob,
more changed steps than it runs at once) leaves it to the full path before anything runs.
Steps run one after another: the path exists for the edit-and-rebuild loop, where few do.
"""

from __future__ import annotations

import json
import marshal
import os
import sys
import tempfile
import time
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any, NotRequired, TypedDict

from shipyard.services.pipelines import run_stamp

if TYPE_CHECKING:
    from shipyard.services.pipelines.run_stamp import RunHead, StepSummary
    from shipyard.store.runlog import NewCacheEntry, NewStep

FORMAT = 1
_PYTHON = sys.version
MAX_DIRTY = 8  # more steps reading changed files than this: the full path runs them in parallel


def eligible(job: Any) -> bool:
    """Whether a job (a ``JobDef``) is one this path can run and record as the full path would."""
    return bool(
        job.cache
        and not job.sandbox
        and not job.tools
        and not job.secrets
        and not job.if_
        and not job.retries
        and not job.continue_on_error
    )


if TYPE_CHECKING:  # types only: this module is on `shipyard run`'s path

    class Node(TypedDict):
        """What the incremental path keeps of one step of a good run; the ``NotRequired``
        keys are set on the steps a run keys again, and dropped before the nodes are saved."""

        id: str
        job: str
        matrix: dict[str, Any]
        key: str  # a stamped run's steps all succeeded: each has its key and manifest
        manifest: str  # canonical JSON, as the key was computed over it
        files: dict[str, str]  # output files: path -> digest
        values: dict[str, str]  # the outputs it handed on
        log: str | None  # the log's digest
        duration: float
        timeout: float | None
        outputs: list[str]  # the job's declared outputs
        base_key: str | None  # its key in the base run, if it has a row there
        status: NotRequired[str]
        cached: NotRequired[bool]
        reason: NotRequired[str]
        exit_code: NotRequired[int | None]


def node_of(rec: Any, job: Any, base_key: str | None) -> Node:
    """What the incremental path keeps of one step of a good run (a ``StepRecord``)."""
    return {
        "id": rec.node,
        "job": rec.job,
        "matrix": dict(rec.matrix),
        "key": rec.key,
        "manifest": rec.manifest,
        "files": dict(rec.files),
        "values": dict(rec.outputs),
        "log": rec.log_digest,
        "duration": rec.saved if rec.cached else rec.duration,
        "timeout": job.timeout_s,
        "outputs": list(job.outputs),
        "base_key": base_key,
    }


def save(
    home: Path,
    *,
    run_id: int,
    base: int,
    nodes: list[Node],
    graph: tuple[dict[str, list[str]], dict[str, list[str]]] | None = None,
) -> None:
    """Write the nodes file; ``graph`` (readers, dependants) when they are known already: the
    incremental path changes keys, never which files a step reads or which steps it needs."""
    if graph is None:
        readers: dict[str, list[str]] = {}
        dependants: dict[str, list[str]] = {}
        for node in nodes:
            manifest = json.loads(node["manifest"])
            for path in manifest["inputs"]:
                readers.setdefault(path, []).append(node["id"])
            for need in manifest["needs"]:
                dependants.setdefault(need, []).append(node["id"])
    else:
        readers, dependants = graph
    produced = sorted({path for node in nodes for path in node["files"]})
    data = {
        "format": FORMAT,
        "run_id": run_id,
        "base": base,
        "nodes": nodes,
        "readers": readers,
        "dependants": dependants,
        "produced": produced,
    }
    # marshal, not JSON: a few times faster both ways, and the file is this machine's cache,
    # read by the same Shipyard on the same Python (its version is checked before use).
    tmp = home / (run_stamp.NODES + ".tmp")
    tmp.write_bytes(marshal.dumps({**data, "python": _PYTHON}))
    os.replace(tmp, home / run_stamp.NODES)


def answer(
    settings: Any, stamp: dict[str, Any], root: Path, changed: Mapping[str, str], lock: Any
) -> tuple[RunHead, str] | None:
    """Run and record what the changed files call for; the summary without its steps, and the
    steps as JSON. None: the full path must decide (nothing was run or recorded)."""
    if settings.pipeline_blobs != "disk":
        return None
    try:
        data = marshal.loads((settings.home / run_stamp.NODES).read_bytes())
    except (OSError, ValueError, EOFError, TypeError):
        return None
    if (
        not isinstance(data, dict)
        or data.get("python") != _PYTHON
        or data.get("format") != FORMAT
        or data.get("run_id") != stamp["run_id"]
    ):
        return None
    readers: dict[str, list[str]] = data["readers"]
    produced = set(data["produced"])
    if any(path not in readers or path in produced for path in changed):
        return None  # an output file (the full path restores it), or one no step reads
    dirty = {nid for path in changed for nid in readers[path]}
    if len(dirty) > MAX_DIRTY:
        return None
    return _Incremental(settings, stamp, data, root, dict(changed), lock).run(dirty)


class _Incremental:
    def __init__(
        self,
        settings: Any,
        stamp: dict[str, Any],
        data: dict[str, Any],
        root: Path,
        changed: dict[str, str],
        lock: Any,
    ) -> None:
        self.settings, self.stamp, self.data, self.root = settings, stamp, data, root
        self.changed = changed
        self.lock = lock
        self.nodes: list[Node] = data["nodes"]
        self.index = {n["id"]: i for i, n in enumerate(self.nodes)}
        self.project: str = stamp["project"]
        self.run_id = 0
        self.executed: dict[str, Node] = {}  # node -> what its step.finished says
        self.hits: list[str] = []
        self.puts: list[NewCacheEntry] = []
        self.written: dict[str, str] = {}  # output files written or restored: path -> digest
        self.cached: set[str] = set()  # steps that succeeded without running
        self.entries: list[str] = []  # each step as this run's summary shows it, as JSON
        self.noop_entries: list[str] = []  # and as the next run with nothing to do will

    # --- the run -----------------------------------------------------------------------------

    def run(self, dirty: set[str]) -> tuple[RunHead, str] | None:
        from shipyard.adapters.blobs import PACK_BELOW
        from shipyard.adapters.cas.disk import DiskCAS
        from shipyard.adapters.vcs.head import head_commit
        from shipyard.identity import actor as resolve
        from shipyard.store.append import utcnow
        from shipyard.store.heads import SCHEMA_HEADS
        from shipyard.store.runlog import RunLog

        t0 = time.monotonic()
        self.actor = resolve(self.root)
        commit = head_commit(self.root)
        jobs = self.stamp["jobs"]
        log = RunLog(self.settings.database_url, self.settings.home)
        self.cas = DiskCAS(self.settings.home / "cas" / "pipeline", pack_below=PACK_BELOW)
        try:
            with log.begin() as tx:
                if tx.heads() != SCHEMA_HEADS or not self._base_usable(tx):
                    return None
                self.lock.claim()
                if self.lock.previous is not None:
                    tx.abandon(self.lock.previous, self.actor)
                started = utcnow()
                self.run_id = tx.create_run(
                    project=self.project, commit=commit, trigger="cli", jobs=jobs, now=started
                )
                begun = {"commit": commit, "jobs": jobs, "trigger": "cli"}
                tx.events([("run.started", self.subject, self.actor, begun, self.project, started)])
            self.lock.holding(self.run_id)
            run_stamp.forget(self.settings.home)  # only a finished good run leaves a stamp
            with log.read() as tx:
                failed = self._walk(sorted(dirty, key=self.index.__getitem__), tx)
            status = "failure" if failed else "success"
            duration = time.monotonic() - t0
            summary = self._summary(status, duration)
            self._record(log, status, duration, summary)
        finally:
            self.cas.close()
            log.close()
        if status == "success":
            self._stamp(summary)
        return summary, run_stamp.steps_json(self.entries)

    @property
    def subject(self) -> str:
        return f"run:{self.run_id}"

    def _base_usable(self, tx: Any) -> bool:
        """The stamped run succeeded and the base still has its step rows."""
        m = tx.m
        tx.cur.execute(
            f"SELECT id, status, pruned_at FROM pipeline_runs WHERE id IN ({m}, {m})",
            (self.stamp["run_id"], self.data["base"]),
        )
        rows = {int(r[0]): (r[1], r[2]) for r in tx.cur.fetchall()}
        stamped = rows.get(self.stamp["run_id"])
        base = rows.get(self.data["base"])
        return (
            stamped is not None and stamped[0] == "success" and base is not None and base[1] is None
        )

    def _walk(self, dirty: list[str], tx: Any) -> list[str]:
        """Key each dirty step again in graph order, restoring or running what changed; the
        steps that failed."""
        from shipyard.domain import cachekey

        handed: dict[str, tuple[dict[str, str], dict[str, str]]] = {}  # new values, files
        failed: list[str] = []
        blocked: set[str] = set()
        order = sorted(dirty, key=self.index.__getitem__)
        while order:
            nid = order.pop(0)
            node = self.nodes[self.index[nid]]
            manifest = json.loads(node["manifest"])
            if any(need in blocked for need in manifest["needs"]):
                node.update({"status": "skipped", "reason": self._blocked(manifest, blocked)})
                blocked.add(nid)
                self._touch_dependants(nid, order)
                continue
            for path in manifest["inputs"]:
                if path in self.changed:
                    manifest["inputs"][path] = self.changed[path]
            for need in manifest["needs"]:
                if need in handed:
                    manifest["needs"][need], manifest["needed_files"][need] = handed[need]
            key, text = cachekey.keyed(manifest)
            if key == node["key"]:
                continue  # e.g. a file touched back to the same bytes: nothing changes below
            before = (node["values"], node["files"])
            entry = tx.cache_get(key)
            if entry is not None and self._restore(entry):
                self.hits.append(key)
                node.update(
                    {
                        "key": key,
                        "manifest": text,
                        "files": entry["files"],
                        "values": entry["outputs"],
                        "log": entry["log_digest"],
                        "duration": float(entry["duration"]),
                        "status": "success",
                        "cached": True,
                        "reason": "",
                    }
                )
            else:
                ok = self._execute(node, key, text, manifest)
                if not ok:
                    failed.append(nid)
                    blocked.add(nid)
                    self._touch_dependants(nid, order)
                    continue
            after = (node["values"], node["files"])
            if after != before:
                handed[nid] = (dict(after[0]), dict(after[1]))
                self._touch_dependants(nid, order)
        return failed

    def _touch_dependants(self, nid: str, order: list[str]) -> None:
        for dep in self.data["dependants"].get(nid, ()):
            if dep not in order:
                order.append(dep)
        order.sort(key=self.index.__getitem__)

    def _blocked(self, manifest: Mapping[str, Any], blocked: set[str]) -> str:
        jobs = {self.nodes[self.index[n]]["job"]: n for n in manifest["needs"] if n in blocked}
        reasons = []
        for job, nid in sorted(jobs.items()):
            state = self.nodes[self.index[nid]].get("status")
            reasons.append(
                f"needed job {job!r} {'failed' if state == 'failure' else 'was skipped'}"
            )
        return "; ".join(reasons)

    def _restore(self, entry: Mapping[str, Any]) -> bool:
        from shipyard.adapters.cas.digest import digest_file
        from shipyard.errors import IntegrityFailure, NotFound

        try:
            for rel, digest in entry["files"].items():
                target = self.root / rel
                if not (target.is_file() and digest_file(target) == digest):
                    self.cas.restore(digest, target)
                self.written[rel] = digest
        except (IntegrityFailure, NotFound):
            return False  # run it instead, as the full path does
        return True

    def _execute(self, node: Node, key: str, text: str, manifest: dict[str, Any]) -> bool:
        from shipyard.adapters.executors.commands import (
            Launch,
            launch_for,
            run_foreground,
            wants_bash,
        )
        from shipyard.adapters.executors.outputs import OutputsError, parse_outputs
        from shipyard.adapters.files import Workspace, output_folders
        from shipyard.errors import InputError

        nid = node["id"]
        command = manifest["command"]
        cwd = self.root / manifest["working_directory"]
        output_folders(self.root, tuple(node["outputs"]), set())
        fd, out_file = tempfile.mkstemp(prefix="shipyard-output-")
        os.close(fd)
        os.unlink(out_file)  # the step creates it when it writes an output
        env = {
            **os.environ,
            **manifest["env"],
            "SHIPYARD": "1",
            "SHIPYARD_RUN_ID": str(self.run_id),
            "SHIPYARD_NODE": nid,
            "SHIPYARD_OUTPUT": out_file,
            "PWD": str(cwd),
        }
        bash = wants_bash(env)
        launch = (
            Launch(["bash", "-c", command]) if bash else launch_for(command, cwd, env.get("PATH"))
        )
        started = time.monotonic()
        code, log, reason = run_foreground(
            launch, command, cwd=cwd, env=env, timeout=node["timeout"]
        )
        duration = time.monotonic() - started
        values: dict[str, str] = {}
        try:
            with open(out_file, errors="replace") as fh:
                values_text = fh.read()
            os.unlink(out_file)
        except FileNotFoundError:
            values_text = ""
        files: dict[str, str] = {}
        size = len(log)
        if not reason:
            try:
                values = parse_outputs(values_text)
                produced = Workspace(self.root).expand(node["outputs"], "output", nid)
            except OutputsError as exc:
                reason = str(exc)
                log += f"shipyard: {reason}\n".encode()
            except InputError as exc:
                reason = f"declared output not produced: {exc.message}"
                log += f"shipyard: {reason}\n".encode()
            else:
                for rel in produced:
                    files[rel], n = self.cas.put_file_sized(f"{self.root}/{rel}")
                    self.written[rel] = files[rel]
                    size += n
        log_digest = self.cas.put_bytes(log)
        status = "failure" if reason else "success"
        node.update(
            {
                "key": key,
                "manifest": text,
                "files": files if status == "success" else {},
                "values": values,
                "log": log_digest,
                "duration": duration,
                "status": status,
                "cached": False,
                "reason": reason,
                "exit_code": code,
            }
        )
        self.executed[nid] = node
        if status == "success":
            self.puts.append(
                {
                    "key": key,
                    "node": nid,
                    "files": files,
                    "outputs": values,
                    "log_digest": log_digest,
                    "duration": duration,
                    "size": size,
                }
            )
        return status == "success"

    # --- records -----------------------------------------------------------------------------

    def _summary(self, status: str, duration: float) -> RunHead:
        """The run's summary without its steps; their JSON texts in ``entries``, and as the
        next run with nothing to do shows them in ``noop_entries``. A step this run did not
        touch is up to date, shown as the stamp's no-op entry shows it: its text is reused."""
        stamped: list[str] = self.stamp["step_entries"]
        executed = failed = skipped = 0
        saved = 0.0
        for i, node in enumerate(self.nodes):
            state = node.get("status")
            ran = node["id"] in self.executed
            if state is None:
                self.cached.add(node["id"])
                saved += float(node["duration"])
                self.entries.append(stamped[i])
                self.noop_entries.append(stamped[i])
                continue
            if state == "skipped":
                skipped += 1
            elif state == "failure":
                failed += 1
            if ran:
                executed += 1
            elif state == "success":
                self.cached.add(node["id"])
                saved += float(node["duration"])
            step: StepSummary = {
                "node": node["id"],
                "job": node["job"],
                "status": state,
                "cached": state == "success" and not ran,
                "key": node["key"] if state != "skipped" else None,
                "duration_s": round(float(node["duration"]), 3) if ran else 0.0,
                "attempt": 1 if ran else 0,
                "reason": node.get("reason", ""),
            }
            self.entries.append(json.dumps(step, default=str))
            self.noop_entries.append(json.dumps(run_stamp.noop_step(step), default=str))
        path, path_s = self._critical_path()
        cached = len(self.cached)
        lookups = cached + executed
        return {
            "run_id": self.run_id,
            "project": self.project,
            "status": status,
            "duration_s": round(duration, 3),
            "counts": {
                "total": len(self.nodes),
                "executed": executed,
                "cached": cached,
                "skipped": skipped,
                "failed": failed,
                "cancelled": 0,
            },
            "cache_hit_rate": round(cached / lookups, 4) if lookups else 0.0,
            "saved_s": round(saved, 3),
            "critical_path": path,
            "critical_path_s": round(path_s, 3),
        }

    def _critical_path(self) -> tuple[list[str], float]:
        """The longest chain of steps that ran, by their durations (the others took none)."""
        best: dict[str, tuple[float, list[str]]] = {}
        for nid in sorted(self.executed, key=self.index.__getitem__):
            node = self.executed[nid]
            needs = json.loads(node["manifest"])["needs"]
            before = max((best[n] for n in needs if n in best), default=(0.0, []))
            best[nid] = (before[0] + float(node["duration"]), [*before[1], nid])
        if not best:
            return [], 0.0
        total, path = max(best.values())
        return path, total

    def _record(self, log: Any, status: str, duration: float, summary: RunHead) -> None:
        from shipyard.store.append import utcnow

        ts = utcnow()
        changed = [
            n
            for n in self.nodes
            if (n["key"], n.get("status", "success")) != (n["base_key"], "success")
        ]
        base: int | None = self.data["base"]
        if len(changed) * 2 > len(self.nodes):
            changed, base = list(self.nodes), None  # this run becomes the next one's base
        rows = [self._row(n, ts) for n in changed]
        events = [
            (
                "step.finished",
                self.subject,
                self.actor,
                {
                    "node": n["id"],
                    "job": n["job"],
                    "matrix": n["matrix"],
                    "status": n["status"],
                    "cached": False,
                    "duration_s": round(float(n["duration"]), 6),
                    "queued_s": 0.0,
                    "attempt": 1,
                    "key": n["key"],
                },
                self.project,
                ts,
            )
            for n in self.executed.values()
        ]
        finished = {
            "status": status,
            "duration_s": round(duration, 6),
            "steps": len(self.nodes),
            "cached": len(self.cached),
            "critical_path_s": summary["critical_path_s"],
            "cached_steps": {
                n["id"]: round(float(n["duration"]), 3)
                for n in self.nodes
                if n["id"] in self.cached
            },
        }
        with log.begin() as tx:
            tx.cache_put(self.puts, self.project, ts)
            tx.cache_touch(self.hits, ts)
            tx.events(events)
            tx.add_steps(rows)
            tx.finish_run(self.run_id, status=status, now=utcnow(), duration=duration, base=base)
            tx.events([("run.finished", self.subject, self.actor, finished, self.project, None)])
        self.data["base"] = base if base is not None else self.run_id
        for n in self.nodes:
            if base is None:
                n["base_key"] = n["key"]

    def _row(self, n: Node, ts: str) -> NewStep:
        ran = n["id"] in self.executed
        state = n.get("status", "success")
        return {
            "run_id": self.run_id,
            "node": n["id"],
            "job": n["job"],
            "matrix": n["matrix"],
            "status": state,
            "cached": state == "success" and not ran,
            "key": n["key"] if state != "skipped" else None,
            "manifest": n["manifest"] if state != "skipped" else None,
            "duration": float(n["duration"]) if ran else 0.0,
            "queued": 0.0,
            "attempt": 1 if ran else 0,
            "log_digest": n["log"] if state != "skipped" else None,
            "outputs": n["values"] if state != "skipped" else {},
            "reason": n.get("reason", ""),
            "finished_at": ts,
        }

    def _stamp(self, summary: RunHead) -> None:
        """The stamp of this run, for the next check: the files as they are now."""
        from shipyard.adapters.files import Workspace
        from shipyard.adapters.racy import racy
        from shipyard.store.runlog import UP_TO_DATE

        now = time.time_ns()
        entries = {e[0]: e for e in self.stamp["files"]}
        for rel, digest in self.written.items():
            st = os.stat(self.root / rel)
            entries[rel] = [
                rel,
                st.st_size,
                st.st_mtime_ns,
                st.st_ino,
                digest,
                racy(st.st_mtime_ns, now),
            ]
        ws = Workspace(self.root)
        saved = sum(float(n["duration"]) for n in self.nodes)
        self.stamp.update(
            run_id=self.run_id,
            trigger=UP_TO_DATE + str(self.run_id),
            files=list(entries.values()),
            listings={base: ws.listing(base) for base in self.stamp["listings"]},
            summary=run_stamp.noop_head(summary, len(self.cached) + len(self.executed), saved),
            step_entries=self.noop_entries,
        )
        self.stamp.pop("refreshed", None)
        run_stamp.save(self.settings.home, self.stamp)
        for n in self.nodes:
            n.pop("status", None)
            n.pop("cached", None)
            n.pop("reason", None)
            n.pop("exit_code", None)
        save(
            self.settings.home,
            run_id=self.run_id,
            base=self.data["base"],
            nodes=self.nodes,
            graph=(self.data["readers"], self.data["dependants"]),
        )
