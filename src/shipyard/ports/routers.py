"""Routers: what every router offers, and the routing table they share.

A router sends each request to one pool of backends: first by header route (ring 0, e.g.
``x-ring: internal``), then by the client's sticky cookie if that pool still gets traffic,
else by weight. ``RouteTable`` holds that state as one immutable value, so a router swaps it
whole and a request in flight keeps the table it started with.

``Router`` is a router in this process (``adapters/routers/``: the built-in one, nginx).
``Routers`` and ``RouterControl`` are what the rollout controller drives: an environment's
router running apart from it (it keeps serving the last weights while no controller runs),
adopted from its record or started. The real ones are ``adapters/routers/local.py``'s
``ProcessRouters`` (``RouterClient`` over the built-in router's admin API, ``NginxClient``);
``tests/fakes.py`` has one in memory.
"""

from __future__ import annotations

import random
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

from shipyard.errors import InputError, ShipyardError

COOKIE = "shipyard_pool"
_POOL_CHARS = set("abcdefghijklmnopqrstuvwxyz0123456789-_")


class RouterError(ShipyardError):
    code = "router-failed"


class RouterConfigInvalid(InputError):
    code = "router-config-invalid"


class WeightsInvalid(RouterConfigInvalid):
    code = "weights-invalid"
    default_hint = "give each pool a whole percentage from 0 to 100; together they make 100"


@dataclass(frozen=True)
class HeaderRoute:
    header: str  # lowercase
    value: str
    pool: str


@dataclass(frozen=True)
class RouteTable:
    """Pools with their backends (``host:port``), weights in percent, and a header route."""

    pools: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    weights: Mapping[str, int] = field(default_factory=dict)
    header_route: HeaderRoute | None = None

    def with_pool(self, pool: str, backends: Sequence[str]) -> RouteTable:
        check_pool_name(pool)
        for b in backends:
            check_backend(b)
        return replace(self, pools={**self.pools, pool: tuple(backends)})

    def with_weights(self, weights: Mapping[str, int]) -> RouteTable:
        check_weights(weights, self.pools)
        return replace(self, weights=dict(weights))

    def with_header_route(self, header: str, value: str, pool: str) -> RouteTable:
        if pool not in self.pools:
            raise RouterConfigInvalid(
                f"header route to unknown pool '{pool}'", f"pools are {_names(self.pools)}"
            )
        if not header or not value or any(c in header for c in " :\r\n"):
            raise RouterConfigInvalid(
                f"header route '{header}: {value}' needs a header name and a value",
                "e.g. x-ring: internal",
            )
        return replace(self, header_route=HeaderRoute(header.lower(), value, pool))

    def without_header_route(self) -> RouteTable:
        return replace(self, header_route=None)

    def choose(
        self, header: Any, cookie: str | None, rng: random.Random
    ) -> tuple[str | None, bool]:
        """The pool for one request and whether to set the sticky cookie.

        ``header`` is a callable ``name -> value or None`` over the request's headers.
        Returns ``(None, False)`` when no pool gets traffic.
        """
        route = self.header_route
        if route is not None and header(route.header) == route.value and self.pools.get(route.pool):
            return route.pool, False
        if cookie is not None and self.weights.get(cookie, 0) > 0 and self.pools.get(cookie):
            return cookie, False
        # A pool without backends (all ejected, or not started yet) gets no traffic: its
        # share goes to the weighted pools that have some.
        live = [(p, w) for p, w in self.weights.items() if w > 0 and self.pools.get(p)]
        roll = rng.random() * sum(w for _, w in live)
        upto = 0.0
        for pool, weight in live:
            upto += weight
            if roll < upto:
                return pool, True
        return (live[-1][0], True) if live else (None, False)  # float rounding at the top

    def to_dict(self) -> dict[str, Any]:
        r = self.header_route
        return {
            "pools": {k: list(v) for k, v in self.pools.items()},
            "weights": dict(self.weights),
            "header_route": None
            if r is None
            else {"header": r.header, "value": r.value, "pool": r.pool},
        }


def check_pool_name(pool: str) -> None:
    if not pool or not set(pool) <= _POOL_CHARS:
        raise RouterConfigInvalid(
            f"pool name {pool!r} is not allowed",
            "use lowercase letters, digits, '-' and '_' (e.g. stable, canary, blue, green)",
        )


def check_backend(backend: str) -> None:
    host, sep, port = backend.rpartition(":")
    if not sep or not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise RouterConfigInvalid(f"backend {backend!r} is not host:port", "e.g. 127.0.0.1:8001")


def check_weights(weights: Mapping[str, Any], pools: Mapping[str, Sequence[str]]) -> None:
    """Weights are whole percents of known pools that add up to 100. A weighted pool may be
    empty (its instances ejected or not started): its share goes to the others."""
    for pool, w in weights.items():
        if pool not in pools:
            raise WeightsInvalid(f"weight for unknown pool '{pool}'", f"pools are {_names(pools)}")
        if isinstance(w, bool) or not isinstance(w, int) or not 0 <= w <= 100:
            raise WeightsInvalid(f"weight {w!r} for pool '{pool}' is not a whole 0..100")
    total = sum(weights.values())
    if total != 100:
        raise WeightsInvalid(f"weights {dict(weights)} add up to {total}, not 100")


def _names(pools: Mapping[str, Any]) -> str:
    return ", ".join(sorted(pools)) or "(none yet)"


@runtime_checkable
class Router(Protocol):
    """Splits traffic between pools; every call takes effect without dropping a request."""

    @property
    def url(self) -> str:
        """Where clients send requests, e.g. ``http://127.0.0.1:8080``."""
        ...

    def set_pool(self, pool: str, backends: Sequence[str]) -> None: ...

    def set_weights(self, weights: Mapping[str, int]) -> None: ...

    def set_header_route(self, header: str, value: str, pool: str) -> None: ...

    def clear_header_route(self) -> None: ...

    def table(self) -> RouteTable: ...

    def start(self) -> None: ...

    def stop(self) -> None: ...


@runtime_checkable
class RouterControl(Protocol):
    """An environment's router, running apart from the controller that drives it."""

    @property
    def url(self) -> str:
        """Where clients send requests."""
        ...

    @property
    def admin_url(self) -> str:
        """Its admin API, where its metrics are read; "" for a router without one."""
        ...

    def to_dict(self) -> dict[str, Any]:
        """What the environment's row records, for a later controller to adopt it."""
        ...

    def healthy(self) -> bool: ...

    def routes(self) -> dict[str, Any]:
        """Its table now, as ``RouteTable.to_dict`` gives it (pools, weights, header route)."""
        ...

    def set_pool(self, pool: str, backends: Sequence[str]) -> None: ...

    def set_weights(self, weights: Mapping[str, int]) -> None: ...

    def set_header_route(self, header: str, value: str, pool: str) -> None: ...

    def clear_header_route(self) -> None: ...

    def set_preview(self, pool: str, port: int | None, mirror: int) -> int | None:
        """Serve ``pool`` alone on a port of its own, mirroring ``mirror`` percent of the
        other pools' requests to it; the port. ``router-unsupported`` where it cannot."""
        ...

    def clear_preview(self) -> None: ...


@runtime_checkable
class Routers(Protocol):
    """Where an environment's router comes from."""

    def open(
        self, kind: str | None, recorded: Mapping[str, Any] | None, folder: Path
    ) -> RouterControl:
        """The environment's router of ``kind`` (``builtin`` or None, ``nginx``): the
        recorded one if it still runs, else one started now; its files go in ``folder``."""
        ...

    def adopt(self, recorded: Mapping[str, Any]) -> RouterControl:
        """The recorded router (built-in or nginx, as ``recorded`` says), starting nothing: it
        may be down (``healthy`` tells); ``open`` starts it again."""
        ...
