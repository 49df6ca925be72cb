"""A generic webhook: POST the event as JSON, signed with HMAC-SHA256, retried with backoff.

Receivers verify ``X-Shipyard-Signature: sha256=<hex>`` as HMAC-SHA256(secret, raw body).
Errors name the host only: webhook URLs often carry tokens in their path or query.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from shipyard.ports.notify import NotifyFailed as NotifyFailed

SIGNATURE_HEADER = "X-Shipyard-Signature"


def redact(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.hostname or '?'}" + (f":{parts.port}" if parts.port else "")


def sign(secret: str, body: bytes) -> str:
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def _retryable(status: int) -> bool:
    return status == 429 or status >= 500


def check_destination(url: str) -> None:
    """Refuse a URL whose host resolves to an address the policy keeps notifications from
    (domain/inputs.py): link-local, cloud metadata, or outside SHIPYARD_NOTIFY_ALLOWED_NETWORKS.
    Redirects are not followed, so the address checked is the one posted to (up to DNS)."""
    import os
    import socket

    from shipyard.domain.inputs import destination_problem

    parts = urlsplit(url)
    allowed = [n.strip() for n in os.environ.get("SHIPYARD_NOTIFY_ALLOWED_NETWORKS", "").split(",")]
    allowed = [n for n in allowed if n]
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise NotifyFailed(
            f"{redact(url)} is not an http(s) URL",
            "notify by http:// or https:// URLs only",
            code="notify-destination-refused",
        )
    try:
        found = socket.getaddrinfo(parts.hostname, parts.port or 443, proto=socket.IPPROTO_TCP)
    except (OSError, UnicodeError) as exc:
        raise NotifyFailed(f"cannot resolve {redact(url)}: {exc.__class__.__name__}") from exc
    try:
        problems = [destination_problem(str(info[4][0]), allowed) for info in found]
    except ValueError as exc:
        raise NotifyFailed(
            "SHIPYARD_NOTIFY_ALLOWED_NETWORKS holds something that is not a network",
            "give comma-separated networks such as 10.0.0.0/8, 192.168.1.20/32",
            code="notify-destination-refused",
        ) from exc
    problem = next((p for p in problems if p), None)
    if problem is not None:
        raise NotifyFailed(
            f"notifications to {redact(url)} are refused: {problem}",
            "notify a service outside the server's own link-local and metadata ranges, or "
            "allow its network in SHIPYARD_NOTIFY_ALLOWED_NETWORKS",
            code="notify-destination-refused",
        )


@dataclass
class Poster:
    """POST with retries; shared by the webhook and Slack sinks."""

    url: str
    timeout: float = 5.0
    attempts: int = 3
    backoff: float = 0.5  # seconds before the second attempt, doubled each time
    sleep: Callable[[float], None] = field(default=time.sleep, repr=False)

    def post(self, body: bytes, headers: dict[str, str]) -> int:
        """Deliver; returns the number of attempts, or raises ``notify-failed``."""
        import httpx

        check_destination(self.url)
        last = ""
        for attempt in range(1, self.attempts + 1):
            try:
                resp = httpx.post(self.url, content=body, headers=headers, timeout=self.timeout)
            except httpx.HTTPError as exc:
                last = exc.__class__.__name__  # the message may echo the URL
            else:
                if resp.status_code < 300:
                    return attempt
                last = f"HTTP {resp.status_code}"
                if not _retryable(resp.status_code):
                    break
            if attempt < self.attempts:
                self.sleep(self.backoff * 2 ** (attempt - 1))
        raise NotifyFailed(
            f"delivery to {redact(self.url)} failed after {attempt} attempt(s): {last}",
            details={"attempts": attempt},
        )


@dataclass
class WebhookSink:
    url: str
    secret: str | None = None
    poster: Poster | None = None

    @property
    def name(self) -> str:
        return "webhook:" + redact(self.url).split("://", 1)[1]

    def send(self, event: Mapping[str, Any]) -> int:
        body = json.dumps(event, sort_keys=True, separators=(",", ":")).encode()
        headers = {
            "Content-Type": "application/json",
            "User-Agent": "shipyard",
            "X-Shipyard-Event": str(event.get("kind", "")),
            "X-Shipyard-Delivery": str(event.get("seq", "")),
        }
        if self.secret:
            headers[SIGNATURE_HEADER] = sign(self.secret, body)
        return (self.poster or Poster(self.url)).post(body, headers)
