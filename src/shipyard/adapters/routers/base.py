"""The router port (``shipyard.ports.routers``), named here too for the routers and their
tests: the ``Router`` protocol, the ``RouteTable`` they share and their errors."""

from __future__ import annotations

from shipyard.ports.routers import (
    COOKIE,
    HeaderRoute,
    Router,
    RouterConfigInvalid,
    RouterError,
    RouteTable,
    WeightsInvalid,
    check_backend,
    check_pool_name,
    check_weights,
)

__all__ = [
    "COOKIE",
    "HeaderRoute",
    "RouteTable",
    "Router",
    "RouterConfigInvalid",
    "RouterError",
    "WeightsInvalid",
    "check_backend",
    "check_pool_name",
    "check_weights",
]
