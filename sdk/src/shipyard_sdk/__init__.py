"""Shipyard's Python SDK: feature flags evaluated in-process.

``FlagsClient`` (threads) and ``AsyncFlagsClient`` (asyncio); the OpenFeature provider is in
``shipyard_sdk.openfeature`` so that importing the SDK does not need ``openfeature-sdk``.
"""

from __future__ import annotations

from typing import Any

__all__ = ["AsyncFlagsClient", "FlagsClient"]


def __getattr__(name: str) -> Any:
    # Imported on first use: the SDK package itself stays cheap to import.
    if name == "FlagsClient":
        from shipyard_sdk.client import FlagsClient

        return FlagsClient
    if name == "AsyncFlagsClient":
        from shipyard_sdk.aio import AsyncFlagsClient

        return AsyncFlagsClient
    raise AttributeError(name)
