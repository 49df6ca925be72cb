"""`shipyard run`: build the graph, key each step by content, serve hits, run misses, record.

The loop runs in one thread: it asks the pure ``Scheduler`` what may start, computes each
step's action key when its needs have finished (their outputs are part of the key), restores a
cache hit or hands a miss to the executor, and records finished steps with their events. Rows
and events are written in batches, each batch in one transaction, so a fully cached run of
thousands of steps does not pay one durable commit per step.
"""

from __future__ import annotations

import gc
import json
import os
import re
import shutil
import signal
import tempfile
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from shipyard.adapters.blobs import pipeline_cas
from shipyard.adapters.executors.base import Executor, open_executor
from shipyard.adapters.executors.local import Result, Task, check_secret
from shipyard.adapters.files import (
    StatCache,
    Workspace,
    copy_inputs,
    output_folders,
    tool_version,
)
from shipyard.adapters.runlock import RunLock
from shipyard.adapters.vcs.head import head_commit
from shipyard.domain import cachekey
from shipyard.domain.pipeline import Graph, JobDef, NodeState, Scheduler, build_graph, critical_path
from shipyard.errors import InputError, IntegrityFailure, NotFound, ShipyardError
from shipyard.services.pipelines import run_stamp, uptodate
from shipyard.services.pipelines.pipeline_live_writer import Writer as LiveWriter
from shipyard.spec.models import Job, Spec
from shipyard.store.append import NewEvent, utcnow
from shipyard.store.runlog import UP_TO_DATE, RunLog

if TYPE_CHECKING:
    from shipyard.adapters.blobs.tiered import Tiered
    from shipyard.adapters.cas.disk import DiskCAS
    from shipyard.services.pipelines.remote_tier import RemoteTier
    from shipyard.services.pipelines.run_stamp import RunHead, StepSummary
    from shipyard.store.pipelines import RunRow, StepRow
    from shipyard.store.runlog import CacheEntry, NewCacheEntry, NewStep
    from shipyard.store.uow import Store

PLATFORM = uptodate.platform_name()
FLUSH_EVERY_S = 0.25
REMOTE_AHEAD = 32  # steps started beyond the executor's capacity when a remote cache answers
_MATRIX_REF = re.compile(r"\$\{\{\s*matrix\.([A-Za-z0-9_-]+)\s*\}\}")


def refuse_pruned(run: RunRow) -> None:
    """A run whose step rows `cache gc --keep-runs` deleted has no steps to read."""
    if run.get("pruned_at"):
        raise NotFound(
            f"run {run['id']}'s steps were pruned at {run['pruned_at']}",
            "`shipyard runs show` still shows the run; keep more with `cache gc --keep-runs`",
            code="run-pruned",
        )


def cas_of(store: Store) -> DiskCAS | Tiered:
    """The pipeline cache's own space, so `cache gc` never touches other blobs: the local disk,
    in front of the shared blob store when one is configured (``adapters/blobs/tiered.py``)."""
    return pipeline_cas(store)


# --- spec -> domain --------------------------------------------------------------------------


def _env_text(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def job_def(name: str, job: Job) -> JobDef:
    """A spec job as the scheduler's ``JobDef``; durations are already seconds."""
    matrix = dict(job.matrix or {})
    include = tuple(matrix.pop("include", None) or ())
    exclude = tuple(matrix.pop("exclude", None) or ())
    return JobDef(
        name=name,
        run=job.run,
        needs=tuple(dict.fromkeys(job.needs)),
        matrix={k: tuple(v) for k, v in matrix.items()} or None,
        include=include,
        exclude=exclude,
        if_=job.if_,
        env={k: _env_text(v) for k, v in job.env.items()},
        timeout_s=job.timeout,
        retries=job.retries.max,
        continue_on_error=job.continue_on_error,
        inputs=tuple(job.inputs),
        outputs=tuple(job.outputs),
        tools=tuple(job.tools),
        secrets=tuple(job.secrets),
        cache=job.cache,
        sandbox=job.sandbox,
        artifact=job.artifact,
        working_directory=job.working_directory,
        max_combinations=job.max_combinations,
        runs_on=tuple(job.runs_on),
    )


def select_jobs(spec: Spec, wanted: list[str] | None) -> list[JobDef]:
    """The jobs asked for and every job they need, in file order; all jobs when none asked."""
    jobs = spec.pipeline.jobs
    if not jobs:
        raise InputError(
            "shipyard.yaml has no pipeline jobs",
            "add jobs under pipeline.jobs; see docs/pipelines.md",
            code="pipeline-empty",
        )
    if wanted:
        import difflib

        for name in wanted:
            if name not in jobs:
                close = difflib.get_close_matches(name, list(jobs), n=1)
                raise InputError(
                    f"there is no job {name!r}",
                    f"did you mean {close[0]!r}?" if close else f"jobs: {', '.join(jobs)}",
                    code="job-unknown",
                )
        keep: set[str] = set()
        stack = list(wanted)
        while stack:
            name = stack.pop()
            if name not in keep and name in jobs:
                keep.add(name)
                stack.extend(jobs[name].needs)
        names = [n for n in jobs if n in keep]
    else:
        names = list(jobs)
    return [job_def(n, jobs[n]) for n in names]


def read_secrets(spec: Spec, defs: list[JobDef], root: Path) -> dict[str, dict[str, str]]:
    """Each job's secret values, from the environment or a file; checked before anything runs."""
    values: dict[str, dict[str, str]] = {}
    for d in defs:
        for name, ref in spec.pipeline.jobs[d.name].secrets.items():
            if ref.env is not None:
                value = os.environ.get(ref.env)
                if value is None:
                    raise InputError(
                        f"job {d.name!r}: secret {name} reads ${ref.env}, which is not set",
                        f"export {ref.env}=... before `shipyard run`",
                        code="secret-missing",
                    )
            else:
                path = root / str(ref.file)
                try:
                    value = path.read_text().rstrip("\n")
                except OSError as exc:
                    raise InputError(
                        f"job {d.name!r}: secret {name} reads {path}: {exc.strerror}",
                        "check the file named by the secret's `file`",
                        code="secret-missing",
                    ) from exc
            check_secret(name, value)
            values.setdefault(d.name, {})[name] = value
    return values


# --- reporting -------------------------------------------------------------------------------


@dataclass
class StepRecord:
    node: str
    job: str
    matrix: Mapping[str, Any]
    status: str
    cached: bool = False
    key: str | None = None
    manifest: str | None = None  # canonical JSON, as the key was computed over it
    duration: float = 0.0
    queued: float = 0.0
    attempt: int = 0
    log_digest: str | None = None
    outputs: dict[str, str] = field(default_factory=dict)
    reason: str = ""
    saved: float = 0.0
    files: dict[str, str] = field(default_factory=dict)  # output files produced: path -> digest

    @property
    def executed(self) -> bool:
        return self.attempt > 0 and not self.cached


class Reporter(Protocol):
    def started(self, run_id: int, total: int) -> None: ...
    def step_started(self, node: str) -> None: ...
    def step_finished(self, record: StepRecord) -> None: ...
    def tick(self) -> None: ...
    def finished(self, summary: RunSummary) -> None: ...


class NullReporter:
    def started(self, run_id: int, total: int) -> None:
        pass

    def step_started(self, node: str) -> None:
        pass

    def step_finished(self, record: StepRecord) -> None:
        pass

    def tick(self) -> None:
        pass

    def finished(self, summary: RunSummary) -> None:
        pass


# --- the run ---------------------------------------------------------------------------------


@dataclass
class _Pending:
    """A step handed to the executor, and what recording it will need."""

    node: str
    key: str
    manifest: str
    queued: float
    sandbox: Path | None
    note: str = ""


@dataclass
class _Captured:
    """An executed step after its outputs and log went into the CAS."""

    status: str
    reason: str
    files: dict[str, str]
    log_digest: str
    size: int


class _Run:
    def __init__(
        self,
        store: Store,
        spec: Spec,
        root: Path,
        graph: Graph,
        secrets: dict[str, dict[str, str]],
        executor: Executor,
        reporter: Reporter,
        actor: str,
        log: RunLog,
    ) -> None:
        self.store, self.spec, self.root, self.graph = store, spec, root, graph
        self.log = log
        self.project = spec.project
        self.secrets = secrets
        self.executor = executor
        self.reporter = reporter
        self.actor = actor
        self.cas = cas_of(store)
        self.empty_log = self.cas.put_bytes(b"")  # most steps print nothing: stored once
        self.stat = StatCache(store.home / "stat-cache.json")
        self.ws = Workspace(root)
        self.records: dict[str, StepRecord] = {}
        self.pending_rows: list[StepRecord] = []
        self.cache_puts: list[NewCacheEntry] = []
        self.cache_drops: list[str] = []
        self.cache_hits: list[str] = []
        self.finished_at: dict[str, float] = {}
        self.run_id = 0
        self.t0 = time.monotonic()
        self.last_flush = self.t0
        self.cache: dict[str, CacheEntry] = {}
        self.missing: set[str] = set()  # keys looked up in the store and not found
        self.cold = False  # the project had no cache entry when the run started
        # The run this one is recorded against (see store/pipelines.py), with each node's
        # (key, status) there: a cached step with the key it had there writes no row.
        self.base: int | None = None
        self.base_steps: dict[str, tuple[str | None, str]] = {}
        self.same: list[StepRecord] = []  # steps held back as the base's: no row, no event
        self.rows_written = 0
        self.files: dict[str, dict[str, str]] = {}  # each succeeded node's output files
        self.claimed: dict[str, str] = {}  # output file -> the first step that produced it
        self.base_env = dict(os.environ)  # read once: os.environ decodes on every access
        self.made: set[str] = set()  # output folders already created in this run
        self.folders: set[Path] = set()  # step folders known to exist
        self.stamp_spec: tuple[Path, str] | None = None  # set when this run may leave a stamp
        self.asked: list[str] = []  # the jobs named on the command line
        self.remote: RemoteTier | None = None  # the remote cache, behind the local one
        self.keyed: dict[str, tuple[str, str, list[str]]] = {}  # keys computed ahead
        self.live = LiveWriter(store.home, 0)  # running steps' output, for the server to show

    # -- recording ------------------------------------------------------------------------

    def subject(self) -> str:
        return f"run:{self.run_id}"

    def record(self, rec: StepRecord) -> None:
        self.records[rec.node] = rec
        if rec.status == "success":
            self.files[rec.node] = rec.files
            for rel in rec.files:
                self.claimed.setdefault(rel, rec.node)
        if rec.cached and self.base_steps.get(rec.node) == (rec.key, "success"):
            self.same.append(rec)
        else:
            self.pending_rows.append(rec)
        self.finished_at[rec.node] = time.monotonic()
        self.reporter.step_finished(rec)

    def flush(self, force: bool = False) -> None:
        now = time.monotonic()
        if not force and now - self.last_flush < FLUSH_EVERY_S:
            return
        self.last_flush = now
        if not (self.pending_rows or self.cache_puts or self.cache_drops or self.cache_hits):
            return
        ts = utcnow()
        with self.log.begin() as tx:
            tx.cache_delete(self.cache_drops)
            tx.cache_put(self.cache_puts, self.project, ts)
            tx.cache_touch(self.cache_hits, ts)
            new: list[NewEvent] = []
            subject = self.subject()
            for rec in self.pending_rows:
                if rec.cached:
                    continue  # counted in run.finished, as the cached steps of the run
                payload: dict[str, Any] = {
                    "node": rec.node,
                    "job": rec.job,
                    "matrix": dict(rec.matrix),
                    "status": rec.status,
                    "cached": rec.cached,
                    "duration_s": round(rec.duration, 6),
                    "queued_s": round(rec.queued, 6),
                    "attempt": rec.attempt,
                    "key": rec.key,
                }
                new.append(("step.finished", subject, self.actor, payload, self.project, ts))
            tx.events(new)
            tx.add_steps(self.rows(self.pending_rows, ts))
        self.rows_written += len(self.pending_rows)
        self.pending_rows, self.cache_puts, self.cache_drops, self.cache_hits = [], [], [], []

    def rows(self, records: list[StepRecord], ts: str) -> list[NewStep]:
        return [
            {
                "run_id": self.run_id,
                "node": rec.node,
                "job": rec.job,
                "matrix": rec.matrix,
                "status": rec.status,
                "cached": rec.cached,
                "key": rec.key,
                "manifest": rec.manifest,
                "duration": rec.duration,
                "queued": rec.queued,
                "attempt": rec.attempt,
                "log_digest": rec.log_digest,
                "outputs": rec.outputs,
                "reason": rec.reason,
                "finished_at": ts,
            }
            for rec in records
        ]

    def lookup(self, key: str) -> CacheEntry | None:
        """The cache entry of a key: loaded with the run when a recent run had it, else asked
        of the store once."""
        entry = self.cache.get(key)
        if entry is None and not self.cold and key not in self.missing:
            with self.log.read() as tx:
                entry = tx.cache_get(key)
            if entry is None:
                self.missing.add(key)
            else:
                self.cache[key] = entry
        return entry

    # -- one node -------------------------------------------------------------------------

    def _base(self, nid: str, status: str, **kw: Any) -> StepRecord:
        node = self.graph.nodes[nid]
        return StepRecord(nid, node.name, dict(node.matrix), status, **kw)

    def _failed_early(self, nid: str, exc: ShipyardError, queued: float) -> StepRecord:
        text = f"shipyard: error[{exc.code}]: {exc.message}\n"
        if exc.hint:
            text += f"  hint: {exc.hint}\n"
        return self._base(
            nid,
            "failure",
            queued=queued,
            log_digest=self.cas.put_bytes(text.encode()),
            reason=f"{exc.message} ({exc.hint})" if exc.hint else exc.message,
        )

    def needed_files(self, nid: str) -> dict[str, str]:
        """The output files a needed step hands on, by digest: those it produced (or a hit
        restored); for one that did not succeed (continue-on-error, `if: always()`), what its
        declared outputs match on disk now, since that is what the dependant will read."""
        files = self.files.get(nid)
        if files is not None:
            return files
        found: dict[str, str] = {}
        for pattern in self.graph.nodes[nid].job.outputs:
            for rel in self.ws.match(pattern):
                found[rel] = self.stat.digest(f"{self.root}/{rel}")
        return found

    def prefetch(self, nids: tuple[str, ...], outputs: Mapping[str, Mapping[str, str]]) -> None:
        """Key the steps about to start and ask the remote cache for those the local one
        lacks, all at once (``start`` then uses both)."""
        if self.remote is None or len(nids) < 2:
            return
        wanted = []
        for nid in nids:
            if not self.graph.nodes[nid].job.cache:
                continue
            try:
                self.keyed[nid] = keyed = self.key_for(nid, outputs)
            except InputError:
                continue  # ``start`` meets it again and reports it
            if self.lookup(keyed[0]) is None:
                wanted.append(keyed[0])
        self.remote.prefetch(wanted)

    def key_for(
        self, nid: str, outputs: Mapping[str, Mapping[str, str]]
    ) -> tuple[str, str, list[str]]:
        known = self.keyed.pop(nid, None)
        if known is not None:
            return known
        node = self.graph.nodes[nid]
        job = node.job
        files = self.ws.expand(job.inputs, "input", nid)
        digests = {p: self.stat.digest(f"{self.root}/{p}") for p in files}
        tools = {t: tool_version(t, self.stat) for t in job.tools}
        manifest = cachekey.manifest(
            cachekey.KeyInputs(
                command=command_of(job.run, node.matrix),
                env=job.env,
                inputs=digests,
                tools=tools,
                needs={n: dict(outputs.get(n, {})) for n in node.needs},
                needed_files={n: self.needed_files(n) for n in node.needs},
                matrix=node.matrix,
                platform=PLATFORM,
                working_directory=job.working_directory or ".",
                secrets=dict.fromkeys(job.secrets),
                sandbox=job.sandbox,
            )
        )
        return (*cachekey.keyed(manifest), files)

    def restore(self, entry: CacheEntry) -> None:
        """Put a hit's output files in place, each checked against its digest."""
        for rel, digest in entry["files"].items():
            target = self.root / rel
            if target.is_file() and self.stat.digest(target) == digest:
                continue
            self.cas.restore(digest, target)
            self.stat.observe(target, digest)
            self.ws.changed()

    def start(
        self, nid: str, outputs: Mapping[str, Mapping[str, str]], queued: float
    ) -> StepRecord | tuple[Task, _Pending]:
        """A record when the node is settled now (hit or early failure), else work to run."""
        node = self.graph.nodes[nid]
        job = node.job
        try:
            key, manifest, files = self.key_for(nid, outputs)
        except InputError as exc:
            return self._failed_early(nid, exc, queued)
        note = ""
        entry = self.lookup(key) if job.cache else None
        if entry is None and job.cache and self.remote is not None:
            fetched = self.remote.fetch(key)
            if fetched is not None:  # kept in the local cache too
                kept: NewCacheEntry = {**fetched, "node": nid}
                entry = self.cache[key] = kept
                self.cache_puts.append(kept)
        if entry is not None:
            try:
                self.restore(entry)
            except (IntegrityFailure, NotFound) as exc:
                if exc.code == "blob-corrupt":
                    bad = exc.message.split()[1]
                    self.cas.delete(bad)
                self.cache.pop(key, None)
                self.cache_drops.append(key)
                note = f"cache entry unusable ({exc.message}); ran the step again"
            else:
                self.cache_hits.append(key)
                return self._base(
                    nid,
                    "success",
                    cached=True,
                    key=key,
                    manifest=manifest,
                    queued=queued,
                    log_digest=entry["log_digest"],
                    outputs=dict(entry["outputs"]),
                    saved=float(entry["duration"]),
                    files=entry["files"],
                )
        if self.executor.remote:
            return self._remote_task(nid, key, manifest, files, queued, note)
        sandbox = None
        cwd = self.root
        if job.sandbox:
            sandbox = Path(tempfile.mkdtemp(prefix="shipyard-sandbox-"))
            # What the step may read: its inputs and the files its needed steps handed on.
            handed = [rel for n in node.needs for rel in self.needed_files(n)]
            copy_inputs(self.root, sorted({*files, *handed}), sandbox)
            cwd = sandbox
        output_folders(cwd, job.outputs, self.made if sandbox is None else set())
        cwd = cwd / (job.working_directory or ".")
        if cwd not in self.folders and not cwd.is_dir():
            if sandbox is not None:
                shutil.rmtree(sandbox, ignore_errors=True)
            return self._failed_early(
                nid,
                InputError(
                    f"working-directory {job.working_directory!r} does not exist",
                    "create the folder, or fix `working-directory`"
                    + (" (in a sandbox, declare an input inside it)" if sandbox else ""),
                    code="working-directory-missing",
                ),
                queued,
            )
        if sandbox is None:
            self.folders.add(cwd)
        return self._task(nid, cwd), _Pending(nid, key, manifest, queued, sandbox, note)

    def _task(self, nid: str, cwd: Path, **remote: Any) -> Task:
        """The step as the executor takes it (``remote``: what workers sharing no file system
        with this one also need), reported as started."""
        node = self.graph.nodes[nid]
        job = node.job
        values = self.secrets.get(node.name, {})
        retries = self.spec.pipeline.jobs[node.name].retries
        env = self.step_env(nid, values)
        self.reporter.step_started(nid)
        return Task(
            node=nid,
            command=command_of(job.run, node.matrix),
            cwd=cwd,
            env=env,
            timeout_s=job.timeout_s,
            retries=job.retries,
            backoff_s=retries.backoff,
            max_backoff_s=retries.max_backoff,
            secrets=tuple(values.values()),
            **remote,
        )

    def step_env(self, nid: str, secrets: Mapping[str, str]) -> dict[str, str]:
        return {
            **self.base_env,
            **self.graph.nodes[nid].job.env,
            **secrets,
            "SHIPYARD": "1",
            "SHIPYARD_RUN_ID": str(self.run_id),
            "SHIPYARD_NODE": nid,
        }

    def _remote_task(
        self, nid: str, key: str, manifest: str, files: list[str], queued: float, note: str
    ) -> tuple[Task, _Pending]:
        """A step for workers that share no file system with this one: the files it may read
        (its inputs and its needed steps' output files) go with it by digest, as a sandbox
        holds them; the files it writes come back into the workspace."""
        node = self.graph.nodes[nid]
        job = node.job
        given = {rel: self.stat.digest(f"{self.root}/{rel}") for rel in files}
        for n in node.needs:
            given.update(self.needed_files(n))
        task = self._task(
            nid,
            self.root,
            files=given,
            root=self.root,
            workdir=job.working_directory or ".",
            outputs=job.outputs,
            runs_on=job.runs_on,
        )
        return task, _Pending(nid, key, manifest, queued, None, note)

    def capture(self, pending: _Pending, result: Result) -> _Captured:
        """Store an executed step's outputs and log in the CAS."""
        job = self.graph.nodes[pending.node].job
        status, reason = result.status, result.reason
        log = result.log
        files: dict[str, str] = {}
        size = len(log)
        try:
            if status == "success" and job.outputs:
                # A fresh listing: the step has just written files.
                source = Workspace(pending.sandbox or self.root)
                try:
                    produced = source.expand(job.outputs, "output", pending.node)
                except InputError as exc:
                    status, reason = "failure", f"declared output not produced: {exc.message}"
                    log += f"shipyard: {reason}\n".encode()
                    produced = []
                clash = self.clash(pending.node, produced)
                if clash:
                    status, reason = "failure", clash
                    log += f"shipyard: error[output-conflict]: {clash}\n".encode()
                    produced = []
                for rel in produced:
                    files[rel], n = self.cas.put_file_sized(f"{source.root}/{rel}")
                    size += n
                    if pending.sandbox is not None:
                        self.cas.restore(files[rel], self.root / rel)
        finally:
            if pending.sandbox is not None:
                shutil.rmtree(pending.sandbox, ignore_errors=True)
        if pending.note:
            reason = f"{pending.note}; {reason}" if reason else pending.note
        log_digest = self.cas.put_bytes(log) if log else self.empty_log
        if status != "success" or not job.cache:
            size = 0
        return _Captured(status, reason, files, log_digest, size)

    def clash(self, nid: str, produced: list[str]) -> str:
        """Why the step cannot claim these files as its outputs, or "".

        A file another step of this run produced is that step's, unless that step is one this
        one needs (a glob may match what an upstream step wrote: it was written before this
        step started). Two steps of which neither needs the other may run at once, so either
        could have written such a file, or be writing it still: neither keeps it in the cache.
        """
        upstream: frozenset[str] | None = None
        for rel in produced:
            owner = self.claimed.get(rel)
            if owner is None or owner == nid:
                continue
            if upstream is None:
                upstream = self.graph.ancestors([nid])
            if owner in upstream:
                continue
            other = self.records.get(owner)
            if other is not None and other.key is not None:
                self.cache.pop(other.key, None)
                self.cache_puts = [e for e in self.cache_puts if e["key"] != other.key]
                self.cache_drops.append(other.key)
            return (
                f"{rel} is also an output of {owner}, and neither step needs the other, so "
                "which one wrote it cannot be told (make one need the other, or narrow their "
                "`outputs` so that no file matches both)"
            )
        return ""

    def settle(self, pending: _Pending, result: Result, captured: _Captured) -> StepRecord:
        """Record an executed step; cache it only if it succeeded and made its outputs."""
        job = self.graph.nodes[pending.node].job
        self.ws.changed()
        for rel, digest in captured.files.items():
            self.stat.observe(f"{self.root}/{rel}", digest)
        rec = self._base(
            pending.node,
            captured.status,
            key=pending.key,
            manifest=pending.manifest,
            duration=result.duration_s,
            queued=pending.queued,
            attempt=result.attempt,
            log_digest=captured.log_digest,
            outputs=result.outputs,
            reason=captured.reason,
            files=captured.files,
        )
        if captured.status == "success" and job.cache:
            entry: NewCacheEntry = {
                "key": pending.key,
                "node": pending.node,
                "files": captured.files,
                "outputs": result.outputs,
                "log_digest": captured.log_digest,
                "duration": result.duration_s,
                "size": captured.size,
            }
            self.cache[pending.key] = entry
            self.cache_puts.append(entry)
            if self.remote is not None and not job.secrets:
                self.remote.store(
                    pending.key,
                    captured.files,
                    result.outputs,
                    captured.log_digest,
                    result.duration_s,
                )
        return rec


def command_of(run: str, matrix: Mapping[str, Any]) -> str:
    """``${{ matrix.KEY }}`` in a command, replaced by the combination's value."""

    def value(m: re.Match[str]) -> str:
        v = matrix.get(m.group(1))
        if v is None:
            return m.group(0)
        return ("true" if v else "false") if isinstance(v, bool) else str(v)

    return _MATRIX_REF.sub(value, run) if "${{" in run else run


_STATE = {
    "success": NodeState.SUCCESS,
    "failure": NodeState.FAILURE,
    "cancelled": NodeState.CANCELLED,
    "skipped": NodeState.SKIPPED,
}


if TYPE_CHECKING:  # types only, as this module is `shipyard run`'s

    class RunSummary(RunHead):
        """What `shipyard run` reports (``--json``), and ``run`` returns."""

        steps: list[StepSummary]


def run(
    store: Store,
    spec: Spec,
    root: Path,
    jobs: list[str] | None = None,
    jobs_n: int | None = None,
    reporter: Reporter | None = None,
    *,
    rerun_failed: int | None = None,
    trigger: str = "cli",
    actor: str,
    stamp_spec: tuple[Path, str] | None = None,
    remote_cache: str | None = None,
    remote_token: str | None = None,
    executor_target: str | None = None,
    executor: Executor | None = None,
) -> RunSummary:
    """Run the pipeline (or ``jobs`` and what they need); returns the run's summary.

    ``stamp_spec`` (shipyard.yaml's path and the digest of what was loaded) lets a good run
    leave the stamp the up-to-date check reads; without it the run leaves none.
    ``remote_cache`` is the URL of a remote cache (Bazel's HTTP protocol) asked after the local
    one and given every step that ran, with ``remote_token`` (remote_tier.py).
    ``executor_target`` runs the steps elsewhere: ``dask://HOST:PORT`` or ``dask-local:N``
    (adapters/executors/dask.py); the default runs them here. ``executor`` is one already
    made (a test's fake of the port: tests/fakes.py).
    """
    reporter = reporter or NullReporter()
    defs = select_jobs(spec, jobs)
    graph = build_graph(defs)
    secrets = read_secrets(spec, defs, root)
    carried: list[StepRow] = []
    if rerun_failed is not None:
        carried = _carried(store, spec.project, graph, rerun_failed)
        trigger = f"rerun-failed:{rerun_failed}"
    client = None
    if remote_cache:  # a URL that cannot be one is refused before anything is recorded
        from shipyard.adapters.remote_cache.http import HttpCache

        client = HttpCache(remote_cache, remote_token)
    lock = RunLock(store.home)
    lock.acquire()  # one run at a time in a workspace; waits, saying for whom
    try:
        log = RunLog(store.url, store.home)
    except BaseException:
        lock.release()
        raise
    try:
        asked = list(jobs or [])
        with log.read() as tx:
            base, newest = tx.base_for(spec.project, asked)
            base_steps = tx.step_keys(base) if base is not None else {}
            cache, durations = tx.cache_of_runs(sorted({r for r in (base, newest) if r}))
            cold = not cache and tx.cache_empty(spec.project)
        executor = executor or open_executor(executor_target, jobs_n)
        state = _Run(store, spec, root, graph, secrets, executor, reporter, actor, log)
        state.cache, state.base, state.base_steps, state.cold = cache, base, base_steps, cold
        if client is not None:
            from shipyard.services.pipelines.remote_tier import RemoteTier

            state.remote = RemoteTier(client, state.cas)
        if rerun_failed is None and store.url.startswith(("sqlite:", "postgresql")):
            state.stamp_spec, state.asked = stamp_spec, list(jobs or [])
        run_stamp.forget(store.home)
        commit = head_commit(root)
        with log.begin() as tx:
            if lock.previous is not None:  # its process is gone: we hold the lock
                tx.abandon(lock.previous, actor)
            tx.ensure_project(spec.project)
            state.run_id = tx.create_run(
                project=spec.project,
                commit=commit,
                trigger=trigger,
                jobs=list(jobs or []),
                now=utcnow(),
            )
            begun = {"commit": commit, "jobs": list(jobs or []), "trigger": trigger}
            tx.events([("run.started", state.subject(), actor, begun, spec.project, None)])
        lock.holding(state.run_id)
        state.live = LiveWriter(store.home, state.run_id)
        reporter.started(state.run_id, len(graph.nodes))
        for step in carried:
            state.record(
                state._base(
                    step["node"],
                    "success",
                    cached=True,
                    key=step["key"],
                    manifest=json.dumps(step["manifest"]) if step["manifest"] else None,
                    log_digest=step["log_digest"],
                    outputs=step["outputs"],
                    reason=f"carried over from run {rerun_failed}",
                    saved=float(step["duration_s"]),
                    # What its dependants will read: its declared outputs as they are now.
                    files=state.needed_files(step["node"]),
                )
            )
        sched = Scheduler(
            graph,
            env=dict(os.environ),
            durations=durations,
            states={s["node"]: NodeState.SUCCESS for s in carried},
            outputs={s["node"]: s["outputs"] for s in carried},
        )
        # The spec, the graph and the loaded modules live through the run: the collector need
        # not walk them again every few thousand allocations (about a tenth of a large run).
        gc.freeze()
        gc.enable()  # `shipyard run` starts with it off (cli/entry.py)
        try:
            interrupted = _loop(state, sched, executor, graph)
        finally:
            gc.unfreeze()
        return _finish(state, sched, graph, interrupted)
    finally:
        log.close()
        lock.release()


def _carried(store: Store, project: str, graph: Graph, rerun_failed: int) -> list[StepRow]:
    """The successful steps of run ``rerun_failed`` that a rerun keeps, with all they need."""
    from shipyard.store import pipelines as repo

    with store.read() as uow:
        old = repo.get_run(uow.conn, rerun_failed)
        if old is None or old["project"] != project:
            raise NotFound(
                f"run {rerun_failed} does not exist in project {project}",
                "list runs with `shipyard runs`",
                code="run-not-found",
            )
        refuse_pruned(old)
        carried = [
            step
            for step in repo.run_steps(uow.conn, rerun_failed)
            if step["status"] == "success" and step["node"] in graph.nodes
        ]
    # A node carried over needs all of its needs carried over too.
    ok = {s["node"] for s in carried}
    ok = {n for n in ok if graph.ancestors([n]) <= ok}
    return [s for s in carried if s["node"] in ok]


def _loop(state: _Run, sched: Scheduler, executor: Executor, graph: Graph) -> bool:
    """Drive the scheduler to the end; True when the run was interrupted.

    SIGINT and SIGTERM only set a flag that the loop reads between decisions, so an interrupt
    never lands between the scheduler handing out a node and the node being recorded.
    """
    running: dict[str, _Pending] = {}
    stop = threading.Event()
    interrupted = False
    restore = _trap_signals(stop)
    try:
        while not sched.done:
            if stop.is_set() and not interrupted:
                interrupted = True
                state.reporter.tick()
                executor.cancel()
                sched.cancel()
            progressed = _step(state, sched, executor, graph, running, interrupted)
            if running and not progressed:
                for result in executor.wait(0.2):
                    pending = running.pop(result.node)
                    rec = state.settle(pending, result, state.capture(pending, result))
                    state.record(rec)
                    sched.finish(rec.node, _STATE[rec.status], rec.outputs)
            elif not running and not progressed and not sched.done:
                raise RuntimeError("the scheduler stalled")  # a bug, never bad input
            state.reporter.tick()
            state.flush()
            state.live.tick(executor, running)
        _step(state, sched, executor, graph, running, interrupted)  # skips decided last
    finally:
        state.live.close()
        executor.shutdown()  # after an unexpected error, stops the steps rather than orphan them
        state.cas.close()
        state.stat.save()
        restore()
    return interrupted


def _trap_signals(stop: threading.Event) -> Any:
    """Route SIGINT/SIGTERM to ``stop`` while the run lasts; returns the undo."""
    if threading.current_thread() is not threading.main_thread():
        return lambda: None
    previous = {sig: signal.getsignal(sig) for sig in (signal.SIGINT, signal.SIGTERM)}
    for sig in previous:
        signal.signal(sig, lambda _signum, _frame: stop.set())

    def undo() -> None:
        for sig, handler in previous.items():
            signal.signal(sig, handler)

    return undo


def _step(
    state: _Run,
    sched: Scheduler,
    executor: Executor,
    graph: Graph,
    running: dict[str, _Pending],
    interrupted: bool,
) -> bool:
    """Start what may start and record skips; True if anything changed."""
    # With a remote cache, more steps are taken at once than the executor runs: most are hits,
    # fetched together; a miss among them waits in the executor's queue.
    ahead = REMOTE_AHEAD if state.remote is not None and state.remote.reads else 0
    decision = sched.poll(executor.capacity - len(running) + ahead)
    for skip in decision.skip:
        state.record(state._base(skip.node, str(skip.state), reason=skip.reason))
    if not interrupted:
        state.prefetch(decision.start, sched.outputs)
    now = time.monotonic()
    for nid in decision.start:
        needs = graph.nodes[nid].needs
        ready = max((state.finished_at.get(n, state.t0) for n in needs), default=state.t0)
        queued = max(0.0, now - ready)
        if interrupted:
            rec = state._base(nid, "cancelled", queued=queued, reason="run cancelled")
            state.record(rec)
            sched.finish(nid, NodeState.CANCELLED)
            continue
        out = state.start(nid, sched.outputs, queued)
        if isinstance(out, StepRecord):
            state.record(out)
            sched.finish(nid, _STATE[out.status], out.outputs)
        else:
            task, pending = out
            executor.start(task)
            running[nid] = pending
    return bool(decision.start or decision.skip)


def _finish(state: _Run, sched: Scheduler, graph: Graph, interrupted: bool) -> RunSummary:
    remote = state.remote.close() if state.remote is not None else None  # uploads are the run's
    duration = time.monotonic() - state.t0
    records = [state.records[n] for n in graph.order if n in state.records]
    failed = [r for r in records if r.status == "failure"]
    blocking = [r for r in failed if not graph.nodes[r.node].job.continue_on_error]
    status = "cancelled" if interrupted else ("failure" if blocking else "success")
    executed = [r for r in records if r.executed]
    cached = [r for r in records if r.cached]
    path, path_s = critical_path(graph, {r.node: r.duration for r in records})
    summary: RunSummary = {
        "run_id": state.run_id,
        "project": state.project,
        "status": status,
        "duration_s": round(duration, 3),
        "counts": {
            "total": len(graph.nodes),
            "executed": len(executed),
            "cached": len(cached),
            "skipped": sum(r.status == "skipped" for r in records),
            "failed": len(failed),
            "cancelled": sum(r.status == "cancelled" for r in records),
        },
        "cache_hit_rate": round(len(cached) / (len(cached) + len(executed)), 4)
        if cached or executed
        else 0.0,
        "saved_s": round(sum(r.saved for r in cached), 3),
        "critical_path": list(path),
        "critical_path_s": round(path_s, 3),
        "steps": [
            {
                "node": r.node,
                "job": r.job,
                "status": r.status,
                "cached": r.cached,
                "key": r.key,
                "duration_s": round(r.duration, 3),
                "attempt": r.attempt,
                "reason": r.reason,
            }
            for r in records
        ],
    }
    if remote is not None:
        summary["remote_cache"] = remote
    state.flush(force=True)
    # Recorded against the base when it had the same steps and most of them are the base's;
    # otherwise the steps held back are written too, and this run can be the next one's base.
    base = state.base
    if base is not None and (
        set(graph.nodes) != set(state.base_steps) or state.rows_written * 2 > len(graph.nodes)
    ):
        base = None
    finished = {
        "status": status,
        "duration_s": round(duration, 6),
        "steps": len(records),
        "cached": len(cached),
        "critical_path_s": round(path_s, 6),
        # The steps served from the cache, with the time each saved: they have no
        # step.finished of their own.
        "cached_steps": {r.node: round(r.saved, 3) for r in cached},
    }
    with state.log.begin() as tx:
        if base is None and state.same:
            tx.add_steps(state.rows(state.same, utcnow()))
        tx.finish_run(state.run_id, status=status, now=utcnow(), duration=duration, base=base)
        tx.events([("run.finished", state.subject(), state.actor, finished, state.project, None)])
    _stamp(state, graph, summary, base)
    state.reporter.finished(summary)
    return summary


def _stamp(state: _Run, graph: Graph, summary: RunSummary, base: int | None) -> None:
    """Leave the up-to-date stamp when this run is one the next can be answered from."""
    if state.stamp_spec is None or summary["status"] != "success":
        return
    records = state.records.values()
    if any(r.status not in ("success", "skipped") for r in records):
        return  # a failure under continue-on-error runs again next time
    jobs = [n.job for n in graph.nodes.values()]
    if any(not j.cache or j.secrets for j in jobs) or state.stat.unstable or state.ws.unstable:
        return
    uptodate.write(
        state.store.home,
        root=state.root,
        spec=state.stamp_spec,
        project=state.project,
        jobs=state.asked,
        run_id=state.run_id,
        trigger=UP_TO_DATE + str(state.run_id),
        conditions=[j.if_ for j in jobs if j.if_],
        tools=[t for j in jobs for t in j.tools],
        seen=state.stat.seen,
        listings=state.ws.listed,
        summary=summary,
        saved_s=sum(r.saved if r.cached else r.duration for r in records),
    )
    from shipyard.services.pipelines import incremental

    if state.store.pipeline_blobs_url == "disk" and all(incremental.eligible(j) for j in jobs):
        # ``base`` None: this run wrote a row for every step, and is the base of the next.
        base_keys = (
            {n: k for n, (k, st) in state.base_steps.items() if st == "success"}
            if base is not None
            else {r.node: r.key for r in records}
        )
        incremental.save(
            state.store.home,
            run_id=state.run_id,
            base=base if base is not None else state.run_id,
            nodes=[
                incremental.node_of(state.records[nid], graph.nodes[nid].job, base_keys.get(nid))
                for nid in graph.order
            ],
        )
