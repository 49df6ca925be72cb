"""HTTP to this machine's own processes: instances' readiness paths, the router's admin port
and its ``/metrics``, asked every fifth of a second by the rollout controller and the
supervisor.

httpx builds a TLS context for every client it makes, loading the trusted certificates each
time (tens of milliseconds of CPU), even for a plain ``http://`` URL. These loops make a client
per probe, so they share one context, made once per process."""

from __future__ import annotations

import functools
import ssl
from typing import Any

import httpx


@functools.cache
def tls() -> ssl.SSLContext:
    """The TLS context every local call shares (the default one httpx would build)."""
    return httpx.create_ssl_context()


def client(timeout: float) -> httpx.Client:
    return httpx.Client(timeout=timeout, verify=tls())


def get(url: str, timeout: float) -> httpx.Response:
    return httpx.get(url, timeout=timeout, verify=tls())


def request(method: str, url: str, *, timeout: float, json: Any = None) -> httpx.Response:
    return httpx.request(method, url, json=json, timeout=timeout, verify=tls())
