"""The up-to-date check: `shipyard run` with nothing changed answers before the spec loads.

A successful run that used the cache for all it could leaves a stamp in the state folder: the
digest of shipyard.yaml, the stat of every file its steps read or wrote as the run saw it, a
digest of every folder listing a glob used, the tools' paths, and (hashed) the environment
variables `if` conditions read. When all of that still holds, every step would get the key it got
last time and find its outputs in place, so the next `shipyard run` records a run whose steps are
the stamped run's, all cached, and stops: ninja's no-op, with content digests still behind
every key. Anything the check cannot vouch for (other jobs named, options it does not know,
secrets, `cache: false`, a client of a Shipyard server) takes the full path, which is always
right. It records the run in the store's own database, SQLite or PostgreSQL.

This module is imported before the CLI framework, SQLAlchemy or the spec models, so its imports
are the standard library's and a few small modules of ours.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import marshal
import os
import re
import shutil
import sys
import time
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from shipyard import __version__
from shipyard.adapters.racy import racy
from shipyard.errors import StoreError
from shipyard.services.pipelines.run_stamp import (
    FORMAT,
    STAMP,
    noop_head,
    noop_step,
    save,
    steps_json,
)
from shipyard.store.heads import SCHEMA_HEADS

if TYPE_CHECKING:
    from shipyard.services.pipelines.pipeline import RunSummary
    from shipyard.services.pipelines.run_stamp import RunHead

_ENV_REF = re.compile(r"\benv\.([A-Za-z_][A-Za-z0-9_]*)")


def spec_digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def platform_name() -> str:
    u = os.uname()
    return f"{u.sysname.lower()}-{u.machine.lower()}"


def _secret_hash(value: str | None) -> str | None:
    # Values of environment variables may be secrets: only their digests are written down.
    return None if value is None else hashlib.sha256(value.encode()).hexdigest()


def write(
    home: Path,
    *,
    root: Path,
    spec: tuple[Path, str],
    project: str,
    jobs: list[str],
    run_id: int,
    trigger: str,
    conditions: Iterable[str],
    tools: Iterable[str],
    seen: Mapping[str, list[Any]],
    listings: Mapping[str, str],
    summary: RunSummary,
    saved_s: float,
) -> None:
    """Write the stamp of run ``run_id``; the caller decided the run is one to stamp."""
    now = time.time_ns()
    prefix = str(root) + os.sep
    files: list[list[Any]] = []  # [path, size, mtime_ns, inode, digest, fresh]
    for key, (size, mtime, ino, value) in seen.items():
        fresh = racy(mtime, now)  # fresh now: the next check reads it rather than trust its stat
        if fresh and key.startswith("tool:"):
            return  # a tool replaced this very second: let the next run ask it again
        path = key.removeprefix(prefix)  # relative to the root, read through its fd
        files.append([path, size, mtime, ino, value, fresh])
    names = sorted({n for text in conditions for n in _ENV_REF.findall(text)})
    steps = [noop_step(s) for s in summary["steps"]]
    head = noop_head(summary, sum(s["status"] == "success" for s in steps), saved_s)
    stamp = {
        "format": FORMAT,
        "version": __version__,
        "root": str(root),
        "spec": [str(spec[0]), spec[1]],
        "project": project,
        "jobs": jobs,
        "run_id": run_id,
        "trigger": trigger,  # what a run answered from this stamp records as its trigger
        "platform": platform_name(),
        "env": {n: _secret_hash(os.environ.get(n)) for n in names},
        "tools": {t: shutil.which(t) for t in sorted(set(tools))},
        "files": files,
        "listings": dict(listings),
        "summary": head,
        # Rendered once here: parsing and re-rendering thousands of steps would be most of the
        # check's time, and they are the same every time. One text per step: the incremental
        # path renders again only the steps it changed.
        "step_entries": [json.dumps(s, default=str) for s in steps],
    }
    save(home, stamp)


def summary_json(head: RunHead, steps_json: str) -> str:
    """The run's summary as `shipyard run --json` prints it, with the stamped steps spliced in."""
    return json.dumps(head, default=str)[:-1] + ', "steps": ' + steps_json + "}"


# --- the check ---------------------------------------------------------------------------------


FAST_OPTIONS = ("--json", "--plain", "-j", "--jobs")  # `run`'s options this path honours
# Variables of `run`'s other options: where steps run, and the remote cache to fill. A step the
# incremental path ran here would miss both, so a run with either set goes the full way.
# (tests/unit/test_uptodate_options.py holds both lists to `run`'s parameters.)
FULL_PATH_ENV = ("SHIPYARD_EXECUTOR", "SHIPYARD_REMOTE_CACHE")


def options(argv: list[str]) -> tuple[bool, list[str]] | None:
    """(json, jobs) for a `run` the check may answer; None for anything else."""
    if any(os.environ.get(name) for name in FULL_PATH_ENV):
        return None
    as_json, jobs, rest = False, [], list(argv)
    if rest[:1] == ["--json"]:
        as_json, rest = True, rest[1:]
    if rest[:1] != ["run"]:
        return None
    args = iter(rest[1:])
    for arg in args:
        if arg in ("--json", "--plain"):
            as_json = as_json or arg == "--json"
        elif arg in ("-j", "--jobs"):
            if re.fullmatch(r"[1-9][0-9]*", next(args, "")) is None:
                return None
        elif re.fullmatch(r"(-j|--jobs=)[1-9][0-9]*", arg) is None and arg.startswith("-"):
            return None
        elif not arg.startswith("-"):
            jobs.append(arg)
    return as_json, jobs


def holds(
    stamp: dict[str, Any], root: Path, jobs: list[str], changed: dict[str, str] | None = None
) -> bool:
    """True when every fact the stamp recorded is still true of the workspace.

    A file is checked by its stat, and by its content when the stat changed or was too fresh to
    trust: a file touched, or copied back, with the same bytes still holds. Such entries are
    brought up to date in place and ``stamp["refreshed"]`` is set, so the stamp is saved again.
    With ``changed``, a file whose bytes changed (not a tool, not deleted) does not end the
    check: its path and new digest are put there, for the incremental path to take on.
    """
    spec_path, digest = stamp["spec"]
    if (
        stamp.get("format") != FORMAT
        or stamp.get("python") != sys.version
        or stamp["version"] != __version__
        or stamp["root"] != str(root)
        or stamp["jobs"] != jobs
        or stamp["platform"] != platform_name()
        or spec_path != str(root / "shipyard.yaml")
        or spec_digest(Path(spec_path)) != digest
    ):
        return False
    if any(_secret_hash(os.environ.get(n)) != h for n, h in stamp["env"].items()):
        return False
    if any(shutil.which(t) != path for t, path in stamp["tools"].items()):
        return False
    fd = os.open(root, os.O_RDONLY)
    try:
        for entry in stamp["files"]:
            path, size, mtime, ino, value, fresh = entry
            try:
                st = os.stat(path.removeprefix("tool:"), dir_fd=fd)
            except OSError:
                return False
            stat = [st.st_size, st.st_mtime_ns, st.st_ino]
            if stat == [size, mtime, ino] and not fresh:
                continue
            if path.startswith("tool:"):
                return False  # a tool's version is only known by asking it: the full path does
            now = _content(root / path)
            if now != value:
                if changed is None or not now:
                    return False
                changed[path] = now
                value = now
            entry[1:] = [*stat, value, racy(st.st_mtime_ns, time.time_ns())]
            stamp["refreshed"] = True
    finally:
        os.close(fd)
    if stamp["listings"]:
        from shipyard.adapters.files import Workspace

        ws = Workspace(root)
        if any(ws.listing(base) != d for base, d in stamp["listings"].items()):
            return False
    return True


def _content(path: Path) -> str:
    from shipyard.adapters.cas.digest import digest_file

    try:
        return digest_file(path)
    except OSError:
        return ""


def answer(argv: list[str]) -> tuple[RunHead, str, bool] | None:
    """Record an up-to-date `shipyard run`: its summary without the steps, the steps as JSON,
    and whether JSON output was asked for.

    None means the check could not vouch for the workspace and the run must go the full way.
    """
    from shipyard.settings import Settings, find_project_root

    opts = options(argv)
    root = find_project_root() if opts is not None else None
    if opts is None or root is None:
        return None
    settings = Settings.load(root)
    url = settings.database_url
    if settings.server_url or not url.startswith(("sqlite:///", "postgresql")):
        return None  # through a server, runs are recorded by the server
    if url.startswith("sqlite:///") and not os.path.isfile(url.removeprefix("sqlite:///")):
        return None  # a database that is not there yet needs creating: the full path does it
    from shipyard.adapters.runlock import RunLock

    lock = RunLock(settings.home)
    try:
        stamp = marshal.loads((settings.home / STAMP).read_bytes())
        if not lock.acquire(wait=False, claim=False):
            return None  # a run is writing the workspace: the full path waits for it
        changed: dict[str, str] = {}
        if not holds(stamp, root, opts[1], changed):
            return None
        if changed:  # a few files changed: only their steps' keys are computed again
            from shipyard.services.pipelines import incremental

            done = incremental.answer(settings, stamp, root, changed, lock)
            if done is None:
                return None
            return done[0], done[1], opts[0]
        summary = record(url, stamp, root, lock.previous, home=settings.home)
    except (OSError, ValueError, EOFError, KeyError, TypeError, AttributeError, StoreError):
        return None  # no stamp, a damaged one, or a busy database: the full path decides
    finally:
        lock.release()
    if stamp.pop("refreshed", False):
        with contextlib.suppress(OSError):  # recorded already; the next check hashes again
            save(settings.home, stamp)
    return summary, steps_json(stamp["step_entries"]), opts[0]


def record(
    url: str,
    stamp: dict[str, Any],
    root: Path,
    previous_holder: int | None = None,
    *,
    home: Path,
) -> RunHead:
    """One run whose trigger names the stamped run (whose steps it repeats), and its events.

    ``previous_holder`` is the run the workspace's lock last named: if it is still `running`,
    its process died, and it is marked abandoned in the same transaction.
    """
    from shipyard.adapters.vcs.head import head_commit
    from shipyard.store.append import utcnow
    from shipyard.store.runlog import RunLog

    t0 = time.monotonic()
    commit = head_commit(root)
    summary: RunHead = stamp["summary"]
    jobs, trigger = stamp["jobs"], stamp["trigger"]
    project, previous = stamp["project"], stamp["run_id"]
    from shipyard.identity import actor as resolve

    actor = resolve(root)
    log = RunLog(url, home)
    try:
        with log.begin() as tx:
            if tx.heads() != SCHEMA_HEADS:
                raise ValueError("the database needs migrating")
            if tx.run_status(previous, project) != "success":
                raise ValueError(f"run {previous} is not in the database as stamped")
            if previous_holder is not None:
                tx.abandon(previous_holder, actor)
            started = utcnow()
            run_id = tx.create_run(
                project=project, commit=commit, trigger=trigger, jobs=jobs, now=started
            )
            subject = f"run:{run_id}"
            duration = time.monotonic() - t0
            begun = {"commit": commit, "jobs": jobs, "trigger": trigger}
            finished = {
                "status": "success",
                "duration_s": round(duration, 6),
                "steps": summary["counts"]["total"],
                "cached": summary["counts"]["cached"],
                "critical_path_s": 0.0,
                "same_as": previous,  # the run whose steps this one's are
            }
            tx.events(
                [
                    ("run.started", subject, actor, begun, project, started),
                    ("run.finished", subject, actor, finished, project, None),
                ]
            )
            tx.finish_run(run_id, status="success", now=utcnow(), duration=duration)
    finally:
        log.close()
    return {**summary, "run_id": run_id, "duration_s": round(time.monotonic() - t0, 3)}
