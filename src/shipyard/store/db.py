"""Opening the store: SQLite (WAL, durable commits) or PostgreSQL, migrated on first use."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, create_engine, event, text
from sqlalchemy.engine import Connection, make_url
from sqlalchemy.exc import ArgumentError, OperationalError, ProgrammingError, SQLAlchemyError

from shipyard.errors import DatabaseUnreachable, StoreError
from shipyard.store.heads import SCHEMA_HEADS

MIGRATIONS = Path(__file__).with_name("migrations")


def redact(url: str) -> str:
    """The URL without its password, for messages."""
    try:
        return make_url(url).render_as_string(hide_password=True)
    except ArgumentError:
        return "<unparseable database URL>"


def create(url: str) -> Engine:
    try:
        parsed = make_url(url)
    except ArgumentError as exc:
        raise DatabaseUnreachable(
            f"'{redact(url)}' is not a database URL",
            "use sqlite:///path/state.db or postgresql+psycopg://user@host/db",
        ) from exc
    if parsed.get_backend_name() == "sqlite":
        if parsed.database and parsed.database != ":memory:":
            Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
        # A server's thread pool reads from up to a few dozen threads at once (the remote
        # cache); connections past the pool are closed on return and their pragmas paid again.
        engine = create_engine(
            url, connect_args={"timeout": 30, "isolation_level": None}, pool_size=16
        )

        @event.listens_for(engine, "connect")
        def _pragmas(dbapi_conn: Any, _record: Any) -> None:
            cur = dbapi_conn.cursor()
            cur.execute("PRAGMA journal_mode=WAL")
            cur.execute("PRAGMA synchronous=FULL")  # a committed event survives power loss
            cur.execute("PRAGMA foreign_keys=ON")
            cur.execute("PRAGMA busy_timeout=30000")
            cur.close()

        @event.listens_for(engine, "begin")
        def _begin(conn: Connection) -> None:
            # pysqlite's own transaction handling defers the write lock, which lets two
            # writers both read the log head; BEGIN IMMEDIATE takes it up front.
            statement = conn.info.pop("sqlite_begin", "BEGIN IMMEDIATE")
            conn.connection.driver_connection.execute(statement)  # type: ignore[union-attr]

        return engine
    if parsed.get_backend_name() == "postgresql":
        engine = create_engine(url, connect_args={"connect_timeout": 5})
        _ping_when_idle(engine)
        return engine
    raise DatabaseUnreachable(
        f"unsupported database '{parsed.get_backend_name()}'", "use SQLite or PostgreSQL"
    )


IDLE_PING_S = 1.0  # a pooled connection idle longer than this is checked before use


def _ping_when_idle(engine: Engine) -> None:
    """SQLAlchemy's ``pool_pre_ping``, for connections that sat idle: a connection handed
    back a moment ago is alive, and pinging it cost a busy server a round trip per
    checkout (two per API request). One that fails the ping is replaced, so a server still
    answers after PostgreSQL restarts."""
    import time

    from sqlalchemy.exc import DisconnectionError

    @event.listens_for(engine, "connect")
    def _made(_dbapi_conn: Any, record: Any) -> None:
        record.info["returned"] = time.monotonic()

    @event.listens_for(engine, "checkin")
    def _returned(_dbapi_conn: Any, record: Any) -> None:
        record.info["returned"] = time.monotonic()

    @event.listens_for(engine, "checkout")
    def _checked_out(dbapi_conn: Any, record: Any, _proxy: Any) -> None:
        if time.monotonic() - record.info.get("returned", 0.0) <= IDLE_PING_S:
            return
        try:
            alive = engine.dialect.do_ping(dbapi_conn)
        except Exception as exc:  # the driver's own error: the connection is gone
            raise DisconnectionError(str(exc)) from exc
        if not alive:
            raise DisconnectionError("the connection failed its ping")


def check_connection(engine: Engine) -> None:
    try:
        with engine.connect() as conn:
            conn.info["sqlite_begin"] = "BEGIN"
            conn.execute(text("SELECT 1"))
    except SQLAlchemyError as exc:
        reason = str(getattr(exc, "orig", exc)).strip().splitlines()[0][:200]
        raise DatabaseUnreachable(f"cannot connect to {redact(str(engine.url))}: {reason}") from exc


def current_heads(engine: Engine) -> frozenset[str]:
    try:
        with engine.connect() as conn:
            conn.info["sqlite_begin"] = "BEGIN"
            rows = conn.execute(text("SELECT version_num FROM alembic_version")).scalars()
            return frozenset(rows)
    except (OperationalError, ProgrammingError):
        return frozenset()


@contextlib.contextmanager
def _migration_lock(engine: Engine, lock_dir: Path | None) -> Iterator[None]:
    """Two processes opening a fresh store at once must not both create the tables."""
    if engine.dialect.name == "postgresql":
        with engine.connect() as conn:
            conn.execute(text("SELECT pg_advisory_lock(727274)"))
            try:
                yield
            finally:
                conn.execute(text("SELECT pg_advisory_unlock(727274)"))
                conn.commit()
        return
    from shipyard.store import fresh

    with fresh.lock(lock_dir or Path(".")):
        yield


def upgrade(engine: Engine, lock_dir: Path | None = None, revision: str = "heads") -> list[str]:
    """Apply Alembic migrations up to ``revision``; returns the revisions now in force."""
    from alembic import command
    from alembic.config import Config

    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    if lock_dir is not None:  # the state folder: its signing key seals the head (0012_trust)
        from shipyard.store.seal import seal_key

        folder = lock_dir
        cfg.attributes["seal_key"] = lambda: seal_key(folder)  # read only for a log with events
    with _migration_lock(engine, lock_dir):
        try:
            with engine.begin() as conn:
                cfg.attributes["connection"] = conn
                command.upgrade(cfg, revision)
        except SQLAlchemyError as exc:
            raise StoreError(
                f"migrating the database failed: {str(getattr(exc, 'orig', exc))[:200]}",
                "the database is unchanged; check its permissions and run `shipyard db upgrade`",
                code="migration-failed",
            ) from exc
    return sorted(current_heads(engine))


def ensure_schema(engine: Engine, lock_dir: Path | None = None) -> None:
    check_connection(engine)
    if current_heads(engine) == SCHEMA_HEADS:
        return
    if engine.dialect.name == "sqlite":
        from shipyard.store import fresh

        with _migration_lock(engine, lock_dir):
            raw = engine.raw_connection()
            try:
                if fresh.create(raw.driver_connection):  # type: ignore[arg-type]
                    return
            finally:
                raw.close()
    upgrade(engine, lock_dir)


def dump_fresh() -> str:
    """The script a new SQLite store is made from (store/fresh.py): a database migrated by
    Alembic to the heads, dumped as SQL."""
    import tempfile

    with tempfile.TemporaryDirectory() as tmp:
        engine = create(f"sqlite:///{tmp}/state.db")
        try:
            upgrade(engine, Path(tmp))
            raw = engine.raw_connection()
            try:
                driver = raw.driver_connection
                assert driver is not None
                return "\n".join(driver.iterdump()) + "\n"
            finally:
                raw.close()
        finally:
            engine.dispose()


if __name__ == "__main__":  # after adding a migration: python -m shipyard.store.db
    from shipyard.store import fresh

    fresh.SQL.write_text(dump_fresh())
    print(f"wrote {fresh.SQL}")
