"""A generic webhook: POST the event as JSON, signed with HMAC-SHA256, retried with backoff.

Receivers verify ``X-Shipyard-Signature: sha256=<hex>`` as HMAC-SHA256(secret, raw body).
Errors name the host only: webhook URLs often carry tokens in their path or query.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from shipyard.errors import ShipyardError

SIGNATURE_HEADER = "X-Shipyard-Signature"


class NotifyFailed(ShipyardError):
    code = "notify-failed"
    default_hint = "check that the endpoint is up; the delivery is retried on the next dispatch"


def redact(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.hostname or '?'}" + (f":{parts.port}" if parts.port else "")


def sign(secret: str, body: bytes) -> str:
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def _retryable(status: int) -> bool:
    return status == 429 or status >= 500


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

    def send(self, event: dict[str, Any]) -> int:
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
