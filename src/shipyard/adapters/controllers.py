"""Rollout controllers as processes of their own (the ``Controllers`` port of
``shipyard.ports.controllers``): ``shipyard rollout drive ID`` in a session of its own, so it
outlives the command that started it; what it prints goes to a file beside the state."""

from __future__ import annotations

import sys
from pathlib import Path

from shipyard.adapters.processes import start_detached


class ProcessControllers:
    def __init__(self, root: Path, logs: Path) -> None:
        self.root, self.logs = root, logs  # the project's folder; where the output goes

    def start(self, deployment_id: str) -> None:
        self.logs.mkdir(parents=True, exist_ok=True)
        start_detached(
            [sys.executable, "-m", "shipyard.cli.main", "rollout", "drive", deployment_id],
            cwd=self.root,
            log=self.logs / f"controller-{deployment_id}.log",
        )
