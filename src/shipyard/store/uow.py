"""The store and its unit of work: writes that belong together commit together."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING

from shipyard.errors import StoreError
from shipyard.settings import Settings

if TYPE_CHECKING:  # SQLAlchemy loads with the first transaction: `shipyard run` records without it
    from sqlalchemy import Engine
    from sqlalchemy.engine import Connection
    from sqlalchemy.exc import OperationalError

    from shipyard.ports.blobs import BlobStore
    from shipyard.store.events import EventLog


@dataclass
class UnitOfWork:
    conn: Connection
    events: EventLog


@dataclass
class Store:
    url: str
    home: Path
    _engine: Engine | None = field(default=None, repr=False)
    blobs_url: str = "disk"  # where blobs live: disk, postgres or s3://... (adapters/blobs)
    pipeline_blobs_url: str = "disk"  # the shared store behind the pipeline's local cache
    shared: bool = False  # organisation mode: the signing key must be configured, not minted
    # Checked at the start of every write transaction, in it: a lease holder's fencing token
    # (services/work.py), so a writer that lost its lease has its write refused.
    fence: Callable[[Connection], None] | None = field(default=None, repr=False)

    @classmethod
    def open(cls, settings: Settings, *, migrate: bool = True) -> Store:
        from shipyard.settings import private_home
        from shipyard.store import db

        private_home(settings.home)
        store = cls.of(settings)
        if migrate:
            db.ensure_schema(store.engine, settings.home)
        return store

    @classmethod
    def open_for_runs(cls, settings: Settings) -> Store:
        """A store whose schema is current, checked through the driver (store/runlog.py), so
        that recording a run never loads SQLAlchemy; one that needs migrating is opened as
        ``open`` does, which migrates it."""
        from shipyard.settings import private_home
        from shipyard.store.runlog import RunLog

        private_home(settings.home)
        if not settings.database_url.startswith(("sqlite:///", "postgresql")):
            return cls.open(settings)  # which says what is wrong with the URL
        log = RunLog(settings.database_url)
        try:
            current = log.current(settings.home)
        finally:
            log.close()
        return cls.of(settings) if current else cls.open(settings)

    @classmethod
    def open_server(cls) -> Store:
        """The store of `shipyard server` and `shipyard worker`, with its blob store and
        signing key checked, so a misconfigured one stops the process at start."""
        store = cls.open(Settings.load(server=True))
        store.blobs  # noqa: B018
        store.signer  # noqa: B018
        return store

    @classmethod
    def of(cls, settings: Settings) -> Store:
        return cls(
            settings.database_url,
            settings.home,
            blobs_url=settings.blobs,
            pipeline_blobs_url=settings.pipeline_blobs,
            shared=settings.shared,
        )

    @property
    def engine(self) -> Engine:
        from shipyard.store import db

        if self._engine is None:
            self._engine = db.create(self.url)
        return self._engine

    @property
    def dialect(self) -> str:
        return self.engine.dialect.name

    @cached_property
    def blobs(self) -> BlobStore:
        """Artifacts' bytes, provenance envelopes and SBOMs (``ports/blobs.py``)."""
        from shipyard.adapters.blobs import open_blobs

        return open_blobs(self, "artifacts")

    @cached_property
    def signer(self):  # type: ignore[no-untyped-def]
        """The key this store signs with: in organisation mode the one every replica shares
        (``services/keys.py``), else ``.shipyard/keys/ed25519.pem``, made on first use."""
        if self.shared:
            from shipyard.services.keys import shared_signer

            return shared_signer(self)
        from shipyard.adapters.signing import Signer

        return Signer.load_or_create(self.home)

    def seal_key(self) -> bytes:
        """The key that seals the log's tree head (store/seal.py), made with the signing key."""
        from shipyard.store.seal import seal_key

        key = seal_key(self.home)
        assert key is not None  # made when missing
        return key

    @contextmanager
    def begin(self) -> Iterator[UnitOfWork]:
        """A write transaction: everything inside commits with its events, or nothing does."""
        from sqlalchemy.exc import OperationalError

        from shipyard.store.events import EventLog

        try:
            with self.engine.connect() as conn, conn.begin():
                if self.fence is not None:
                    self.fence(conn)
                yield UnitOfWork(conn, EventLog(conn, self.seal_key))
        except OperationalError as exc:
            raise _translate(exc, self.url) from exc

    @contextmanager
    def read(self, *, snapshot: bool = False) -> Iterator[UnitOfWork]:
        """Reads; with ``snapshot``, every statement sees the database as at the first one
        (REPEATABLE READ on PostgreSQL; SQLite's read transaction gives that anyway)."""
        from sqlalchemy.exc import OperationalError

        from shipyard.store.events import EventLog

        try:
            with self.engine.connect() as conn:
                if conn.dialect.name == "postgresql" and snapshot:
                    conn.execution_options(isolation_level="REPEATABLE READ")
                elif conn.dialect.name == "postgresql":
                    # Under READ COMMITTED each statement takes its own snapshot, in a
                    # transaction or not: BEGIN and COMMIT around reads bought nothing but
                    # two round trips.
                    conn.execution_options(isolation_level="AUTOCOMMIT")
                    yield UnitOfWork(conn, EventLog(conn, self.seal_key))
                    return
                conn.info["sqlite_begin"] = "BEGIN"
                with conn.begin():
                    yield UnitOfWork(conn, EventLog(conn, self.seal_key))
        except OperationalError as exc:
            raise _translate(exc, self.url) from exc

    def dispose(self) -> None:
        if self._engine is not None:
            self._engine.dispose()


def _translate(exc: OperationalError, url: str) -> StoreError:
    from shipyard.store import db
    from shipyard.store.runlog import database_error

    reason = str(exc.orig).strip().splitlines()[0][:200] if exc.orig else str(exc)[:200]
    return database_error(reason, db.redact(url))
