"""FlagsClient: evaluate flags in-process on a snapshot kept current by the server.

The snapshot is an immutable ``FeatureState`` swapped whole on each update, so evaluation takes
no lock: a reader sees the old snapshot or the new one, never half of each. Updates come over
the server's stream (``/api/client/streaming``, Unleash's delta events); when the stream is
down the client polls ``/api/client/features`` with its ETag and tries the stream again later.
A bootstrap file (the client features JSON, e.g. from ``shipyard flags export``) lets a
service start, and keep answering, with no server at all.

Evaluation counts are batched and sent to ``/api/client/metrics`` every ``metrics_interval``.
Pre-fork servers (gunicorn, uWSGI) fork after the client is made: threads do not survive a
fork, so the child restarts them (``os.register_at_fork``) and counts from zero.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import socket
import threading
import uuid
import weakref
from collections.abc import Iterator, Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from shipyard_sdk.errors import InputError
from shipyard_sdk.flags import (
    CONTEXT_FIELDS,
    KNOWN_STRATEGIES,
    FeatureState,
    UnleashContext,
    Variant,
    hydrate_delta,
    is_enabled,
    load_state,
)

log = logging.getLogger("shipyard_sdk")
SDK_VERSION = "shipyard-python:0.1.0"
_FAST_KEYS = frozenset({"userId", "sessionId", "remoteAddress", "properties"})
ContextLike = UnleashContext | Mapping[str, Any] | None


def _now_iso() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def read_bootstrap(path: str | Path) -> FeatureState:
    """A snapshot from a client features (or delta) JSON file."""
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise InputError(
            f"cannot read flag bootstrap file {path}: {exc}",
            "write one with `shipyard flags export --env ENV -o FILE`",
            code="flag-bootstrap-invalid",
        ) from exc
    return load_state(data)


def _uses_time(state: FeatureState) -> bool:
    """Whether any constraint reads the time, so evaluation needs ``now``."""
    constraints = [c for s in state.segments.values() for c in s.constraints]
    for feature in state.features.values():
        for strategy in feature.strategies:
            constraints.extend(strategy.constraints)
    return any(
        c.operator.startswith("DATE_") or c.context_name == "currentTime" for c in constraints
    )


class _Evaluator:
    """Local evaluation over the current snapshot, counting what it answers."""

    def __init__(self, env: str, app_name: str, state: FeatureState | None) -> None:
        self.env = env
        self.app_name = app_name
        self._ready = threading.Event()
        self._local = threading.local()
        self._set_state(state if state is not None else FeatureState())
        if state is None:
            self._ready.clear()
        self._new_counts()

    def _new_counts(self) -> None:
        self._counts: dict[str, list[int]] = {}
        self._variants: dict[str, dict[str, int]] = {}
        self._bucket_start = _now_iso()

    @property
    def state(self) -> FeatureState:
        return self._state

    def _set_state(self, state: FeatureState) -> None:
        # Reading the clock costs as much as a rollout; only snapshots with date
        # constraints pay for it.
        self._timed = _uses_time(state)
        self._state = state
        self._ready.set()

    def _context(self, context: ContextLike) -> UnleashContext:
        if context is None:
            return UnleashContext(environment=self.env, app_name=self.app_name)
        if isinstance(context, UnleashContext):
            return context
        # The common case (a user id, a session, properties) skips the general reader: same
        # result. One context per thread is refilled rather than built, and the caller's
        # properties dict is used as it is, not copied (evaluation reads non-text values as
        # the reader would): evaluation neither keeps nor changes either, and building them
        # cost three quarters of a call.
        if type(context) is dict and context.keys() <= _FAST_KEYS:
            user = context.get("userId")
            session = context.get("sessionId")
            address = context.get("remoteAddress")
            props = context.get("properties")
            if (
                (user is None or type(user) is str)
                and (session is None or type(session) is str)
                and (address is None or type(address) is str)
                # Standard field names among the properties are lifted by the general reader.
                and (props is None or (type(props) is dict and CONTEXT_FIELDS.isdisjoint(props)))
            ):
                try:
                    ctx: UnleashContext = self._local.ctx
                except AttributeError:
                    ctx = self._local.ctx = UnleashContext(
                        environment=self.env, app_name=self.app_name
                    )
                ctx.user_id = user
                ctx.session_id = session
                ctx.remote_address = address
                ctx.properties = props or None
                return ctx
        return UnleashContext.from_dict(
            {"environment": self.env, "appName": self.app_name, **context}
        )

    def is_enabled(self, name: str, context: ContextLike = None) -> bool:
        """Whether ``name`` is on for ``context`` (a dict as Unleash SDKs take, or a context)."""
        now = datetime.now(UTC) if self._timed else None
        result = is_enabled(self._state, name, self._context(context), now=now)
        # Counting without a lock can lose a count under heavy contention; counts are a
        # usage signal, and a lock here would cost more than evaluating.
        count = self._counts.get(name)
        if count is None:
            count = self._counts[name] = [0, 0]
        count[0 if result else 1] += 1
        return result

    def get_variant(self, name: str, context: ContextLike = None) -> Variant:
        now = datetime.now(UTC) if self._timed else None
        variant = self._state.get_variant(name, self._context(context), now=now)
        count = self._counts.get(name)
        if count is None:
            count = self._counts[name] = [0, 0]
        count[0 if variant.feature_enabled else 1] += 1
        seen = self._variants.setdefault(name, {})
        seen[variant.name] = seen.get(variant.name, 0) + 1
        return variant

    def _take_counts(self, instance_id: str) -> dict[str, Any] | None:
        counts, variants, start = self._counts, self._variants, self._bucket_start
        self._new_counts()
        if not counts:
            return None
        toggles = {
            name: {"yes": yes, "no": no, "variants": variants.get(name, {})}
            for name, (yes, no) in counts.items()
        }
        return {
            "appName": self.app_name,
            "instanceId": instance_id,
            "environment": self.env,
            "bucket": {"start": start, "stop": _now_iso(), "toggles": toggles},
        }


def _sse(lines: Iterator[str]) -> Iterator[tuple[str, str]]:
    """(event, data) pairs from server-sent event lines."""
    event = "message"
    data: list[str] = []
    for line in lines:
        if not line:
            if data:
                yield event, "\n".join(data)
            event, data = "message", []
        elif line.startswith(":"):
            continue
        else:
            field, _, value = line.partition(":")
            value = value.removeprefix(" ")
            if field == "event":
                event = value
            elif field == "data":
                data.append(value)


def _apply(state: FeatureState, event: str, data: str) -> FeatureState | None:
    if event not in ("unleash-connected", "unleash-updated"):
        return None
    events = json.loads(data)["events"]
    return hydrate_delta(events, None if event == "unleash-connected" else state)


_CLIENTS: weakref.WeakSet[FlagsClient] = weakref.WeakSet()


def _after_fork() -> None:
    for client in list(_CLIENTS):
        client._reinit_after_fork()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_after_fork)


class FlagsClient(_Evaluator):
    """Flags of one environment, evaluated locally; see the module docstring.

    ``url`` is the server (``http://host:8080``) or None to run on the bootstrap alone;
    ``token`` a client token for ``env`` (`shipyard flags token create --env ENV`).
    """

    def __init__(
        self,
        url: str | None,
        token: str | None,
        env: str,
        *,
        bootstrap: str | Path | None = None,
        app_name: str = "shipyard-sdk",
        instance_id: str | None = None,
        refresh_interval: float = 15.0,
        metrics_interval: float = 60.0,
        stream: bool = True,
        stream_retry: float = 30.0,
        timeout: float = 10.0,
        start: bool = True,
    ) -> None:
        super().__init__(env, app_name, read_bootstrap(bootstrap) if bootstrap else None)
        self.url = url.rstrip("/") if url else None
        self.token = token
        self.instance_id = instance_id or f"{socket.gethostname()}-{uuid.uuid4().hex[:8]}"
        self.refresh_interval = refresh_interval
        self.metrics_interval = metrics_interval
        self.stream = stream
        self.stream_retry = stream_retry
        self.timeout = timeout
        self.etag: str | None = None
        self.streaming = False
        self._started = False
        self._closed = False
        self._init_runtime()
        _CLIENTS.add(self)
        if start:
            self.start()

    # -- lifecycle ---------------------------------------------------------------------------

    def _init_runtime(self) -> None:
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []
        self._response: Any = None
        self._http: Any = None

    def _client(self) -> Any:
        if self._http is None:
            import httpx

            headers = {
                "Authorization": self.token or "",
                "Unleash-AppName": self.app_name,
                "Unleash-InstanceId": self.instance_id,
                "Unleash-Sdk": SDK_VERSION,
            }
            self._http = httpx.Client(
                base_url=self.url or "", headers=headers, timeout=self.timeout
            )
        return self._http

    def start(self) -> None:
        """Register, fetch once, and start the updater and the metrics reporter."""
        if self._started or self.url is None:
            return
        self._started = True
        self._register()
        self.refresh()
        self._spawn()

    def _spawn(self) -> None:
        for target, name in ((self._update_loop, "updates"), (self._metrics_loop, "metrics")):
            thread = threading.Thread(target=target, name=f"shipyard-flags-{name}", daemon=True)
            thread.start()
            self._threads.append(thread)

    def _reinit_after_fork(self) -> None:
        # The parent's threads and sockets are not ours: start over, counting from zero.
        self._init_runtime()
        self._new_counts()
        self.streaming = False
        if self._started and not self._closed:
            self._spawn()

    def close(self, flush: bool = True) -> None:
        """Stop updating; send the counts not yet sent."""
        if self._closed:
            return
        self._closed = True
        self._stop.set()
        response = self._response
        if response is not None:
            # Closing the response does not wake a thread blocked reading it; shutting the
            # socket down does. A broken stream may fail either way.
            with contextlib.suppress(Exception):
                stream = response.extensions["network_stream"]
                stream.get_extra_info("socket").shutdown(socket.SHUT_RDWR)
            with contextlib.suppress(Exception):
                response.close()
        for thread in self._threads:
            thread.join(timeout=2)
        if flush and self.url is not None:
            self.flush_metrics()
        if self._http is not None:
            self._http.close()

    def __enter__(self) -> FlagsClient:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()

    def wait_until_ready(self, timeout: float = 10.0) -> bool:
        """True once a snapshot (bootstrap or server) is loaded."""
        return self._ready.wait(timeout)

    # -- talking to the server -----------------------------------------------------------------

    def _register(self) -> None:
        body = {
            "appName": self.app_name,
            "instanceId": self.instance_id,
            "sdkVersion": SDK_VERSION,
            "strategies": sorted(KNOWN_STRATEGIES),
            "started": _now_iso(),
            "interval": int(self.metrics_interval * 1000),
        }
        try:
            self._client().post("/api/client/register", json=body)
        except Exception as exc:  # the server being down must not stop a service
            log.warning("flag client registration failed: %s", exc)

    def refresh(self) -> bool:
        """Poll the server once (with the ETag); True when the snapshot changed."""
        if self.url is None:
            return False
        headers = {"If-None-Match": self.etag} if self.etag else {}
        try:
            resp = self._client().get(
                "/api/client/features", headers=headers, params={"environment": self.env}
            )
        except Exception as exc:
            log.warning("flag refresh failed: %s", exc)
            return False
        if resp.status_code == 304:
            return False
        if resp.status_code != 200:
            log.warning("flag refresh answered %s: %s", resp.status_code, resp.text[:200])
            return False
        self._set_state(FeatureState.from_payload(resp.json()))
        self.etag = resp.headers.get("etag")
        return True

    def _stream_once(self) -> None:
        """Follow the stream until it ends or the client closes."""
        with self._client().stream(
            "GET",
            "/api/client/streaming",
            params={"environment": self.env},
            timeout=self._stream_timeout(),
        ) as resp:
            if resp.status_code != 200:
                raise RuntimeError(f"stream answered {resp.status_code}")
            self._response = resp
            self.streaming = True
            for event, data in _sse(resp.iter_lines()):
                if self._stop.is_set():
                    return
                new = _apply(self._state, event, data)
                if new is not None:
                    self._set_state(new)

    def _stream_timeout(self) -> Any:
        import httpx

        # The server sends a comment every 15 s; silence for longer means a dead connection.
        return httpx.Timeout(self.timeout, read=45.0)

    def _update_loop(self) -> None:
        while not self._stop.is_set():
            if self.stream:
                try:
                    self._stream_once()
                except Exception as exc:  # fall back to polling
                    if not self._stop.is_set():
                        log.info("flag stream unavailable, polling: %s", exc)
                finally:
                    self.streaming = False
                    self._response = None
            # Poll until it is time to try the stream again.
            waited = 0.0
            while not self._stop.is_set() and (not self.stream or waited < self.stream_retry):
                self.refresh()
                self._stop.wait(self.refresh_interval)
                waited += self.refresh_interval

    def _metrics_loop(self) -> None:
        while not self._stop.wait(self.metrics_interval):
            self.flush_metrics()

    def flush_metrics(self) -> bool:
        """Send the counts gathered since the last send; True when the server took them."""
        body = self._take_counts(self.instance_id)
        if body is None or self.url is None:
            return False
        try:
            resp = self._client().post("/api/client/metrics", json=body)
        except Exception as exc:
            log.warning("flag metrics not sent: %s", exc)
            return False
        return bool(resp.status_code < 300)
