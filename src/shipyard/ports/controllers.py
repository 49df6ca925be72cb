"""Rollout controllers: who drives a recorded deployment when the command that recorded it
does not (``shipyard deploy --detach``). The controller takes the deployment's lease
(``services/deployments/controllers.py``) and drives it to its end through
``services/deployments/rollout_runner.py``; the caller returns at once.
``adapters/controllers.py`` starts a ``shipyard rollout drive`` process of its own;
``tests/fakes.py`` has one that records what it was handed. (On a server the work row recorded
with the deployment is the hand-off: a worker takes it.)"""

from __future__ import annotations

from typing import Protocol, runtime_checkable


@runtime_checkable
class Controllers(Protocol):
    def start(self, deployment_id: str) -> None:
        """Hand the recorded deployment to a controller of its own; return at once."""
        ...
