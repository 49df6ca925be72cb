"""Email over SMTP: one plain-text message per event, retried with backoff on transient errors.

A 4xx reply or a dropped connection is tried again; a 5xx reply (a recipient or sender the
server refuses) is not. Errors name the server only, never the login or password.
"""

from __future__ import annotations

import json
import smtplib
import socket
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from email.message import EmailMessage
from email.utils import formatdate, make_msgid
from typing import Any

from shipyard.adapters.notify.slack import summary
from shipyard.adapters.notify.webhook import NotifyFailed


def message(event: Mapping[str, Any], sender: str, recipients: tuple[str, ...]) -> EmailMessage:
    """The message for one event: the one-line summary as subject, then the event itself."""
    msg = EmailMessage()
    msg["Subject"] = f"[shipyard] {summary(event)}"
    msg["From"] = sender
    msg["To"] = ", ".join(recipients)
    msg["Date"] = formatdate(localtime=False, usegmt=True)
    msg["Message-ID"] = make_msgid(domain="shipyard.invalid")
    msg["X-Shipyard-Event"] = str(event.get("kind", ""))
    msg["X-Shipyard-Delivery"] = str(event.get("seq", ""))
    body = (
        f"{summary(event)}\n\n"
        f"event {event.get('seq')} at {event.get('ts')}: {event.get('kind')} "
        f"{event.get('subject')} by {event.get('actor')}\n\n"
        + json.dumps(event.get("payload") or {}, indent=2, sort_keys=True, default=str)
        + "\n"
    )
    msg.set_content(body)
    return msg


def _transient(exc: Exception) -> bool:
    code = getattr(exc, "smtp_code", None)
    if isinstance(exc, smtplib.SMTPRecipientsRefused):
        codes = [c for c, _ in exc.recipients.values()]
        return bool(codes) and all(400 <= c < 500 for c in codes)
    if isinstance(code, int):
        return 400 <= code < 500
    return isinstance(exc, (smtplib.SMTPServerDisconnected, OSError, socket.timeout))


def _reason(exc: Exception) -> str:
    code = getattr(exc, "smtp_code", None)
    if isinstance(exc, smtplib.SMTPRecipientsRefused):
        return "recipients refused: " + ", ".join(
            f"{r} ({c})" for r, (c, _m) in sorted(exc.recipients.items())
        )
    if isinstance(exc, smtplib.SMTPAuthenticationError):
        return f"SMTP {code}: authentication failed"
    if isinstance(code, int):
        err = getattr(exc, "smtp_error", b"")
        text = err.decode("utf-8", "replace") if isinstance(err, bytes) else str(err)
        return f"SMTP {code}: {text}".strip()
    return exc.__class__.__name__


@dataclass
class EmailSink:
    host: str
    sender: str
    recipients: tuple[str, ...]
    port: int = 25
    username: str | None = None
    password: str | None = None
    starttls: bool = False
    timeout: float = 10.0
    attempts: int = 3
    backoff: float = 0.5  # seconds before the second attempt, doubled each time
    sleep: Callable[[float], None] = field(default=time.sleep, repr=False)

    @property
    def name(self) -> str:
        # Recipients are part of it: each subscription keeps its own delivery cursor.
        return f"email:{self.host}:{self.port}:{','.join(self.recipients)}"

    def _send_once(self, msg: EmailMessage) -> None:
        with smtplib.SMTP(self.host, self.port, timeout=self.timeout) as smtp:
            smtp.ehlo()
            if self.starttls:
                smtp.starttls()
                smtp.ehlo()
            if self.username:
                smtp.login(self.username, self.password or "")
            smtp.send_message(msg, self.sender, list(self.recipients))

    def send(self, event: Mapping[str, Any]) -> int:
        """Deliver; returns the number of attempts, or raises ``notify-failed``."""
        msg = message(event, self.sender, self.recipients)
        last = ""
        attempt = 0
        for attempt in range(1, self.attempts + 1):
            try:
                self._send_once(msg)
            except (smtplib.SMTPException, OSError) as exc:
                last = _reason(exc)
                if not _transient(exc):
                    break
            else:
                return attempt
            if attempt < self.attempts:
                self.sleep(self.backoff * 2 ** (attempt - 1))
        raise NotifyFailed(
            f"email to {', '.join(self.recipients)} via {self.host}:{self.port} failed after "
            f"{attempt} attempt(s): {last}",
            details={"attempts": attempt},
        )
