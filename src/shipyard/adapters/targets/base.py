"""What the targets share: the ``Target`` port and its errors (``shipyard.ports.targets``,
named here too for the adapters and their tests), and the helpers every target uses.

The deploy service drives a target from the rollout's commands: ``ScaleUp`` and ``ScaleDown``
become ``deploy``/``stop``, and ``Readiness`` observations come from ``ready``.
"""

from __future__ import annotations

from collections.abc import Sequence

from shipyard.ports.targets import (
    Instance,
    Target,
    TargetConfigInvalid,
    TargetError,
    TargetExited,
    TargetNotReady,
)

__all__ = [
    "MASK",
    "Instance",
    "Target",
    "TargetConfigInvalid",
    "TargetError",
    "TargetExited",
    "TargetNotReady",
    "check_count",
    "mask",
]

MASK = "***"


def mask(text: str, secrets: Sequence[str]) -> str:
    """``text`` with every secret value replaced by ``***`` (longest first, so none leaks)."""
    for secret in sorted((s for s in secrets if s), key=len, reverse=True):
        text = text.replace(secret, MASK)
    return text


def check_count(instances: int) -> None:
    if isinstance(instances, bool) or not isinstance(instances, int) or instances < 0:
        raise TargetConfigInvalid(
            f"instance count {instances!r} must be a whole number of at least 0",
            "set `instances:` on the environment's target to 1 or more",
        )
