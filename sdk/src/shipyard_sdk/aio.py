"""AsyncFlagsClient: the FlagsClient for asyncio services.

Evaluation is the same local, lock-free lookup (plain methods: nothing to await); the stream,
the polling fallback and the metrics reporter run as tasks on the caller's event loop.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
import uuid
from pathlib import Path
from typing import Any

from shipyard_sdk.client import SDK_VERSION, _apply, _Evaluator, _now_iso, _sse, read_bootstrap
from shipyard_sdk.flags import KNOWN_STRATEGIES, FeatureState

log = logging.getLogger("shipyard_sdk")


class AsyncFlagsClient(_Evaluator):
    """``async with AsyncFlagsClient(url, token, env) as flags: flags.is_enabled(...)``."""

    def __init__(
        self,
        url: str | None,
        token: str | None,
        env: str,
        *,
        bootstrap: str | Path | None = None,
        app_name: str = "shipyard-sdk",
        refresh_interval: float = 15.0,
        metrics_interval: float = 60.0,
        stream: bool = True,
        stream_retry: float = 30.0,
        timeout: float = 10.0,
    ) -> None:
        super().__init__(env, app_name, read_bootstrap(bootstrap) if bootstrap else None)
        self.url = url.rstrip("/") if url else None
        self.token = token
        self.instance_id = f"{socket.gethostname()}-{uuid.uuid4().hex[:8]}"
        self.refresh_interval = refresh_interval
        self.metrics_interval = metrics_interval
        self.stream = stream
        self.stream_retry = stream_retry
        self.timeout = timeout
        self.etag: str | None = None
        self.streaming = False
        self._tasks: list[asyncio.Task[None]] = []
        self._http: Any = None

    async def start(self) -> None:
        if self.url is None or self._http is not None:
            return
        import httpx

        self._http = httpx.AsyncClient(
            base_url=self.url,
            timeout=self.timeout,
            headers={
                "Authorization": self.token or "",
                "Unleash-AppName": self.app_name,
                "Unleash-InstanceId": self.instance_id,
                "Unleash-Sdk": SDK_VERSION,
            },
        )
        with contextlib.suppress(Exception):
            await self._http.post(
                "/api/client/register",
                json={
                    "appName": self.app_name,
                    "instanceId": self.instance_id,
                    "sdkVersion": SDK_VERSION,
                    "strategies": sorted(KNOWN_STRATEGIES),
                    "started": _now_iso(),
                    "interval": int(self.metrics_interval * 1000),
                },
            )
        await self.refresh()
        self._tasks = [
            asyncio.create_task(self._update_loop()),
            asyncio.create_task(self._metrics_loop()),
        ]

    async def aclose(self) -> None:
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        self._tasks = []
        if self._http is not None:
            await self.flush_metrics()
            await self._http.aclose()
            self._http = None

    async def __aenter__(self) -> AsyncFlagsClient:
        await self.start()
        return self

    async def __aexit__(self, *_exc: object) -> None:
        await self.aclose()

    async def wait_until_ready(self, timeout: float = 10.0) -> bool:
        return await asyncio.to_thread(self._ready.wait, timeout)

    async def refresh(self) -> bool:
        """Poll once with the ETag; True when the snapshot changed."""
        if self._http is None:
            return False
        headers = {"If-None-Match": self.etag} if self.etag else {}
        try:
            resp = await self._http.get(
                "/api/client/features", headers=headers, params={"environment": self.env}
            )
        except Exception as exc:  # the server being down must not stop a service
            log.warning("flag refresh failed: %s", exc)
            return False
        if resp.status_code != 200:
            return False
        self._set_state(FeatureState.from_payload(resp.json()))
        self.etag = resp.headers.get("etag")
        return True

    async def _stream_once(self) -> None:
        import httpx

        timeout = httpx.Timeout(self.timeout, read=45.0)
        async with self._http.stream(
            "GET", "/api/client/streaming", params={"environment": self.env}, timeout=timeout
        ) as resp:
            if resp.status_code != 200:
                raise RuntimeError(f"stream answered {resp.status_code}")
            self.streaming = True
            pending: list[str] = []
            async for line in resp.aiter_lines():
                pending.append(line)
                if line:
                    continue
                # A blank line ends one event: hand what came before it to the parser.
                for event, data in _sse(iter(pending)):
                    new = _apply(self._state, event, data)
                    if new is not None:
                        self._set_state(new)
                pending = []

    async def _update_loop(self) -> None:
        while True:
            if self.stream:
                try:
                    await self._stream_once()
                except asyncio.CancelledError:
                    raise
                except Exception as exc:  # fall back to polling
                    log.info("flag stream unavailable, polling: %s", exc)
                finally:
                    self.streaming = False
            waited = 0.0
            while not self.stream or waited < self.stream_retry:
                await self.refresh()
                await asyncio.sleep(self.refresh_interval)
                waited += self.refresh_interval

    async def _metrics_loop(self) -> None:
        while True:
            await asyncio.sleep(self.metrics_interval)
            await self.flush_metrics()

    async def flush_metrics(self) -> bool:
        body = self._take_counts(self.instance_id)
        if body is None or self._http is None:
            return False
        try:
            resp = await self._http.post("/api/client/metrics", json=body)
        except Exception as exc:
            log.warning("flag metrics not sent: %s", exc)
            return False
        return bool(resp.status_code < 300)
