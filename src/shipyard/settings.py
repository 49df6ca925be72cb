"""Where state lives. Read from the environment once, passed down explicitly."""

from __future__ import annotations

import os
from pathlib import Path
from typing import NamedTuple

SPEC_NAME = "shipyard.yaml"
STATE_DIR = ".shipyard"


def find_project_root(start: Path | None = None) -> Path | None:
    """Walk up from ``start`` to the first folder holding shipyard.yaml, as git does for .git."""
    here = (start or Path.cwd()).resolve()
    for folder in (here, *here.parents):
        if (folder / SPEC_NAME).is_file():
            return folder
    return None


def private_home(home: Path) -> None:
    """Create the state folder readable by its owner only (it holds the database, the signing
    key, logs), and tighten one that is open to others; a folder that is not ours, or cannot
    be changed, is left as it is (the store then says what is wrong)."""
    try:
        home.mkdir(mode=0o700, parents=True, exist_ok=True)
        status = home.stat()
        if status.st_uid == os.getuid() and status.st_mode & 0o077:
            home.chmod(0o700)
    except OSError:
        pass


class Settings(NamedTuple):  # not a dataclass: `shipyard run`'s up-to-date check reads it
    home: Path  # the .shipyard folder: database, CAS, keys, logs
    database_url: str
    server_url: str | None = None
    token: str | None = None
    blobs: str = "disk"  # SHIPYARD_BLOBS: disk, postgres or s3://BUCKET[/PREFIX]
    shared: bool = False  # a server or worker on PostgreSQL: nothing may be bound to its host
    pipeline_blobs: str = "disk"  # where the pipeline cache is shared, behind the local disk

    @property
    def key_dir(self) -> Path:
        return self.home / "keys"

    @property
    def cas_dir(self) -> Path:
        return self.home / "cas"

    @classmethod
    def load(cls, project_root: Path | None = None, *, server: bool = False) -> Settings:
        """The settings of this process; ``server`` for `shipyard server` and `shipyard worker`,
        which on PostgreSQL share everything through the database (docs/server.md)."""
        env = os.environ
        if env.get("SHIPYARD_HOME"):
            home = Path(env["SHIPYARD_HOME"]).expanduser().resolve()
        else:
            root = project_root or find_project_root() or Path.cwd()
            home = root / STATE_DIR
        url = env.get("SHIPYARD_DATABASE_URL") or f"sqlite:///{home / 'state.db'}"
        shared = server and url.startswith("postgresql")
        return cls(
            home=home,
            database_url=url,
            server_url=env.get("SHIPYARD_SERVER") or None,
            token=env.get("SHIPYARD_TOKEN") or None,
            # Artifacts' bytes live beside the rows that name them: a CLI's on the shared
            # database too, or what it publishes would be unreadable from any other machine.
            blobs=env.get("SHIPYARD_BLOBS")
            or ("postgres" if url.startswith("postgresql") else "disk"),
            shared=shared,
            # The pipeline cache is the local disk unless it is shared on purpose: a CLI keeps
            # its up-to-date and incremental paths, which read the disk alone.
            pipeline_blobs=env.get("SHIPYARD_BLOBS") or ("postgres" if shared else "disk"),
        )
