"""Pipeline runs recorded through the database driver itself, without SQLAlchemy.

`shipyard run` reads the action cache, then writes a run, thousands of step rows and cache
entries, and an event for each step; importing SQLAlchemy alone took a fifth of a large run's
start-up. This module does that work with the DB-API of the store's database (sqlite3 or
psycopg), in transactions with their events as the rest of the store does, and so does the
up-to-date check. Everything else reads these tables through SQLAlchemy (store/pipelines.py).
A database that needs migrating is left to ``Store.open``, which runs Alembic.
"""

from __future__ import annotations

import contextlib
import json
import re
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypedDict

from shipyard.errors import DatabaseUnreachable, StoreError
from shipyard.store.append import NewEvent, append_events, read_frontier, utcnow
from shipyard.store.heads import SCHEMA_HEADS

# A run the up-to-date check answered has no step rows of its own: its trigger names the run
# whose steps it repeated, all from the cache, so thousands of identical rows are not copied.
UP_TO_DATE = "up-to-date:"

STEP_COLUMNS = (
    "run_id",
    "node",
    "job",
    "matrix",
    "status",
    "cached",
    "key",
    "manifest",
    "duration",
    "queued",
    "attempt",
    "log_digest",
    "outputs",
    "reason",
    "finished_at",
)
CACHE_COLUMNS = (
    "key",
    "project",
    "node",
    "files",
    "outputs",
    "log_digest",
    "duration",
    "size",
    "created_at",
    "last_used",
)


def redact(url: str) -> str:
    """The URL without its password, for messages."""
    return re.sub(r"(//[^:/@]*):[^@]*@", r"\1:***@", url)


def _json(value: Any) -> str:
    return json.dumps(value, sort_keys=True) if value else "{}"


if TYPE_CHECKING:  # `shipyard run` imports this module: its types cost nothing at run time

    class CacheEntry(TypedDict):
        """An action-cache entry as a run reads it."""

        key: str
        files: dict[str, str]  # relative path -> digest
        outputs: dict[str, str]
        log_digest: str | None
        duration: float

    class NewCacheEntry(CacheEntry):
        """An entry as a run writes it: with its step, and the bytes of its blobs."""

        node: str
        size: int

    class NewStep(TypedDict):
        """A step row as a run writes it: the columns of ``pipeline_steps``."""

        run_id: int
        node: str
        job: str
        matrix: Mapping[str, Any]
        status: str
        cached: bool
        key: str | None
        manifest: str | None  # canonical JSON, as the key was computed over it
        duration: float
        queued: float
        attempt: int
        log_digest: str | None
        outputs: dict[str, str]
        reason: str
        finished_at: str


def _entry(
    key: str, files: str, outputs: str, log_digest: str | None, duration: float
) -> CacheEntry:
    return {
        "key": key,
        "files": json.loads(files),
        "outputs": json.loads(outputs),
        "log_digest": log_digest,
        "duration": duration,
    }


class RunLog:
    """A connection to the store's database for recording runs; ``close()`` when done."""

    def __init__(self, url: str, home: Path | None = None) -> None:
        self.url = url
        self.home = home  # the state folder, whose signing key seals the log (store/seal.py)
        self.postgres = url.startswith("postgresql")
        if self.postgres:
            try:
                import psycopg
            except ImportError as exc:
                raise DatabaseUnreachable(
                    "PostgreSQL stores need the psycopg driver",
                    "pip install 'shipyard[postgres]'",
                ) from exc

            self.errors: tuple[type[Exception], ...] = (psycopg.Error,)
            conninfo = "postgresql:" + url.split(":", 1)[1]  # without SQLAlchemy's "+psycopg"
            try:
                self.conn: Any = psycopg.connect(conninfo, connect_timeout=5)
            except psycopg.Error as exc:
                raise self._error(exc) from exc
            return
        if not url.startswith("sqlite:///"):
            raise DatabaseUnreachable(f"'{redact(url)}' is not a database URL this can record to")
        import sqlite3

        self.errors = (sqlite3.Error,)
        path = Path(url.removeprefix("sqlite:///"))
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            self.conn = sqlite3.connect(path, timeout=30, isolation_level=None)
            for pragma in ("journal_mode=WAL", "synchronous=FULL", "foreign_keys=ON"):
                self.conn.execute(f"PRAGMA {pragma}")  # as the store's engine sets them
        except (OSError, sqlite3.Error) as exc:
            raise self._error(exc) from exc

    def close(self) -> None:
        self.conn.close()

    def current(self, home: Path) -> bool:
        """Whether the schema is at the heads. An empty SQLite database is made current from
        the fresh script first; anything else out of date needs the store's migrations."""
        with self.read() as tx:
            heads = tx.heads()
        if heads == SCHEMA_HEADS:
            return True
        if self.postgres or heads:
            return False
        from shipyard.store import fresh

        with fresh.lock(home):
            return fresh.create(self.conn)

    @contextlib.contextmanager
    def begin(self, statement: str = "BEGIN IMMEDIATE") -> Iterator[Tx]:
        """A transaction: everything inside commits together, events included, or nothing does.
        On SQLite it takes the write lock up front, as the store's writers do."""
        try:
            if not self.postgres:
                self.conn.execute(statement)
            try:
                yield Tx(self.conn.cursor(), self.postgres, self.errors, self.home)
            except BaseException:
                self.conn.rollback()
                raise
            self.conn.commit()
        except self.errors as exc:
            raise self._error(exc) from exc

    def read(self) -> contextlib.AbstractContextManager[Tx]:
        return self.begin("BEGIN")

    def _error(self, exc: Exception) -> StoreError:
        reason = (str(exc).strip().splitlines() or [type(exc).__name__])[0][:200]
        return database_error(reason, redact(self.url))


def database_error(reason: str, where: str) -> StoreError:
    """A driver's error as the store reports it: the database is busy, or unreachable."""
    if "locked" in reason or "could not serialize" in reason:
        return StoreError(
            f"the database is busy: {reason}",
            "retry; another process held it too long",
            code="database-busy",
        )
    return DatabaseUnreachable(f"database error on {where}: {reason}")


class Tx:
    """The statements of a run's transaction, on the driver's cursor."""

    def __init__(
        self,
        cur: Any,
        postgres: bool,
        errors: tuple[type[Exception], ...] = (),
        home: Path | None = None,
    ) -> None:
        self.cur = cur
        self.home = home
        self.postgres = postgres
        self.errors = errors  # the driver's, for a statement that may fail harmlessly
        self.m = "%s" if postgres else "?"
        self._frontier: Any = None

    def heads(self) -> set[str]:
        try:
            self.cur.execute("SELECT version_num FROM alembic_version")
        except self.errors:  # no such table: a database not created yet
            if self.postgres:
                self.cur.connection.rollback()
            return set()
        return {r[0] for r in self.cur.fetchall()}

    def base_for(self, project: str, jobs: list[str]) -> tuple[int | None, int | None]:
        """The run a new run of these jobs is recorded against and the newest such run.

        The base is the newest finished run of the project that asked for the same jobs and
        has a row for every step (no base of its own, not an up-to-date answer, not pruned);
        the newest may be one recorded against that base since.
        """
        m = self.m
        self.cur.execute(
            f"SELECT id, base_run FROM pipeline_runs WHERE project = {m} AND jobs = {m}"
            " AND status IN ('success', 'failure', 'cancelled') AND pruned_at IS NULL"
            f" AND trigger NOT LIKE {m} ORDER BY id DESC LIMIT 1",
            (project, json.dumps(jobs), UP_TO_DATE + "%"),
        )
        row = self.cur.fetchone()
        if row is None:
            return None, None
        newest, base = int(row[0]), row[1]
        if base is None:
            return newest, newest
        self.cur.execute(
            f"SELECT id FROM pipeline_runs WHERE id = {m} AND pruned_at IS NULL", (base,)
        )
        return (int(base), newest) if self.cur.fetchone() else (None, newest)

    def step_keys(self, run_id: int) -> dict[str, tuple[str | None, str]]:
        """Each recorded step of a run: node -> (key, status)."""
        self.cur.execute(
            f"SELECT node, key, status FROM pipeline_steps WHERE run_id = {self.m}", (run_id,)
        )
        return {node: (key, status) for node, key, status in self.cur.fetchall()}

    def cache_of_runs(self, run_ids: list[int]) -> tuple[dict[str, CacheEntry], dict[str, float]]:
        """The action-cache entries of the keys these runs' steps had, and each node's duration
        when its entry was made (what critical-path-first ordering needs): a run loads the
        entries it will likely hit, not the whole table."""
        if not run_ids:
            return {}, {}
        marks = ", ".join([self.m] * len(run_ids))
        self.cur.execute(
            "SELECT s.node, c.key, c.files, c.outputs, c.log_digest, c.duration"
            " FROM pipeline_steps s JOIN action_cache c ON c.key = s.key"
            f" WHERE s.run_id IN ({marks}) ORDER BY s.run_id",
            tuple(run_ids),
        )
        entries: dict[str, CacheEntry] = {}
        durations: dict[str, float] = {}
        for node, key, files, outputs, log_digest, duration in self.cur.fetchall():
            entries[key] = _entry(key, files, outputs, log_digest, duration)
            durations[node] = float(duration)
        return entries, durations

    def cache_empty(self, project: str) -> bool:
        """Whether the project has no action-cache entry at all (a first run asks nothing)."""
        self.cur.execute(f"SELECT 1 FROM action_cache WHERE project = {self.m} LIMIT 1", (project,))
        return self.cur.fetchone() is None

    def cache_get(self, key: str) -> CacheEntry | None:
        """One action-cache entry, or None."""
        self.cur.execute(
            "SELECT key, files, outputs, log_digest, duration FROM action_cache"
            f" WHERE key = {self.m}",
            (key,),
        )
        row = self.cur.fetchone()
        return None if row is None else _entry(*row)

    def run_status(self, run_id: int, project: str) -> str | None:
        m = self.m
        self.cur.execute(
            f"SELECT status FROM pipeline_runs WHERE id = {m} AND project = {m}", (run_id, project)
        )
        row = self.cur.fetchone()
        return None if row is None else str(row[0])

    def ensure_project(self, name: str) -> None:
        m = self.m
        self.cur.execute(f"SELECT 1 FROM projects WHERE name = {m}", (name,))
        if self.cur.fetchone() is None:
            self.cur.execute(
                f"INSERT INTO projects (name, created_at) VALUES ({m}, {m})", (name, utcnow())
            )

    def create_run(
        self, *, project: str, commit: str, trigger: str, jobs: list[str], now: str
    ) -> int:
        m = self.m
        self.cur.execute(
            'INSERT INTO pipeline_runs (project, "commit", trigger, status, jobs, started_at)'
            f" VALUES ({m}, {m}, {m}, 'running', {m}, {m}) RETURNING id",
            (project, commit, trigger, json.dumps(jobs), now),
        )
        return int(self.cur.fetchone()[0])

    def finish_run(
        self, run_id: int, *, status: str, now: str, duration: float, base: int | None = None
    ) -> None:
        m = self.m
        self.cur.execute(
            f"UPDATE pipeline_runs SET status = {m}, finished_at = {m}, duration = {m},"
            f" base_run = {m} WHERE id = {m}",
            (status, now, duration, base, run_id),
        )

    def abandon(self, run_id: int, actor: str) -> bool:
        """Mark a run still ``running`` as ``abandoned``, with its event; False if it is not.

        The caller knows its process is gone (it holds the workspace's run lock). It ends at
        the last moment it was seen alive: its start or its newest recorded step.
        """
        m = self.m
        self.cur.execute(
            f"SELECT project, started_at FROM pipeline_runs WHERE id = {m} AND status = 'running'",
            (run_id,),
        )
        row = self.cur.fetchone()
        if row is None:
            return False
        project, started = row
        self.cur.execute(
            f"SELECT count(*), max(finished_at) FROM pipeline_steps WHERE run_id = {m}", (run_id,)
        )
        steps, last = self.cur.fetchone()
        self.cur.execute(
            f"UPDATE pipeline_runs SET status = 'abandoned', finished_at = {m}"
            f" WHERE id = {m} AND status = 'running'",
            (max(started, last or started), run_id),
        )
        payload = {
            "status": "abandoned",
            "steps": int(steps),
            "reason": "the process recording it ended before the run finished",
        }
        self.events([("run.finished", f"run:{run_id}", actor, payload, project, None)])
        return True

    def events(self, new: list[NewEvent]) -> list[tuple[int, str]]:
        """Append events in order; each one's sequence number and timestamp."""
        from shipyard.store.seal import seal_key

        if self.home is None:
            raise TypeError("a RunLog that appends events needs the state folder")
        key = seal_key(self.home)
        assert key is not None  # made when missing
        if self._frontier is None:
            self._frontier = read_frontier(self.cur, self.postgres, key)
        return append_events(self.cur, self.postgres, self._frontier, new, key)

    def add_steps(self, rows: list[NewStep]) -> None:
        """Insert step rows in one statement: a run records thousands at once."""
        if not rows:
            return
        names = ", ".join(f'"{c}"' for c in STEP_COLUMNS)
        marks = ", ".join([self.m] * len(STEP_COLUMNS))
        batch = []
        for row in rows:
            values = dict(row, matrix=_json(row["matrix"]), outputs=_json(row["outputs"]))
            batch.append(tuple(values[c] for c in STEP_COLUMNS))
        self.cur.executemany(f"INSERT INTO pipeline_steps ({names}) VALUES ({marks})", batch)

    def cache_put(self, entries: list[NewCacheEntry], project: str, now: str) -> None:
        """Store entries, replacing any under the same key (the last write of a key wins)."""
        if not entries:
            return
        names = ", ".join(CACHE_COLUMNS)
        marks = ", ".join([self.m] * len(CACHE_COLUMNS))
        update = ", ".join(f"{c} = excluded.{c}" for c in CACHE_COLUMNS[1:])
        self.cur.executemany(
            f"INSERT INTO action_cache ({names}) VALUES ({marks})"
            f" ON CONFLICT (key) DO UPDATE SET {update}",
            [
                (
                    e["key"],
                    project,
                    e["node"],
                    _json(e["files"]),
                    _json(e["outputs"]),
                    e["log_digest"],
                    e["duration"],
                    e["size"],
                    now,
                    now,
                )
                for e in entries
            ],
        )

    def cache_touch(self, keys: list[str], now: str) -> None:
        if keys:
            m = self.m
            self.cur.executemany(
                f"UPDATE action_cache SET last_used = {m} WHERE key = {m}", [(now, k) for k in keys]
            )

    def cache_delete(self, keys: list[str]) -> None:
        if keys:
            sql = f"DELETE FROM action_cache WHERE key = {self.m}"
            self.cur.executemany(sql, [(k,) for k in keys])
