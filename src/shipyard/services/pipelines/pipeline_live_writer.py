"""The run's side of live step logs (pipeline_live.py reads them): apart from the readers,
which read recorded runs too, so that the pipeline does not import what reads it."""

from __future__ import annotations

import json
import os
import shutil
import time
from collections.abc import Iterable
from pathlib import Path
from typing import Any

EVERY_S = 0.5


def folder(home: Path, run_id: int) -> Path:
    return home / "live" / str(run_id)


class Writer:
    """The run's side: called from its loop; cheap when nothing changed."""

    def __init__(self, home: Path, run_id: int) -> None:
        self.folder = folder(home, run_id)
        self.files: dict[str, str] = {}
        self.running: frozenset[str] = frozenset()
        self.last = 0.0

    def tick(self, executor: Any, running: Iterable[str]) -> None:
        now = time.monotonic()
        if now - self.last < EVERY_S:
            return
        self.last = now
        peek = getattr(executor, "output", None)
        chunks: dict[str, bytes] = peek() if peek is not None else {}
        nodes = frozenset(running)
        if not chunks and nodes == self.running:
            return
        self.folder.mkdir(parents=True, exist_ok=True)
        for node, data in chunks.items():
            if not data:
                continue
            name = self.files.setdefault(node, f"{len(self.files)}.log")
            with open(self.folder / name, "ab") as fh:
                fh.write(data)
        self.running = nodes
        tmp = self.folder / "index.json.tmp"
        tmp.write_text(json.dumps({"running": sorted(nodes), "files": self.files}))
        os.replace(tmp, self.folder / "index.json")

    def close(self) -> None:
        shutil.rmtree(self.folder, ignore_errors=True)
