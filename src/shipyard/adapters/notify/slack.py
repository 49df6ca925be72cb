"""Slack-compatible incoming webhooks: ``{"text", "blocks"}``; the URL is the secret."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from shipyard.adapters.notify.webhook import Poster

_ICONS = {
    "deployment.finished": ":rocket:",
    "freeze.added": ":snowflake:",
    "freeze.removed": ":sunny:",
}


def summary(event: Mapping[str, Any]) -> str:
    """One line a person reads in a channel."""
    kind, p = str(event.get("kind", "")), event.get("payload") or {}
    project = event.get("project", "")
    if kind == "deployment.finished":
        return (
            f"{p.get('service', project)} {p.get('version', '?')} to {p.get('environment', '?')}: "
            f"{p.get('status', '?')}" + (f" ({p['reason']})" if p.get("reason") else "")
        )
    if kind == "freeze.added":
        return f"{project}: deploy freeze {event.get('subject', '')} added: {p.get('describe', '')}"
    if kind.startswith("break-glass."):
        what = kind.split(".", 1)[1]
        gates = ", ".join(p.get("gates", []))
        return f"{project}: break-glass {what} for {p.get('environment', '?')} ({gates}) by " + str(
            event.get("actor", "?")
        )
    return f"{project}: {kind} {event.get('subject', '')} by {event.get('actor', '?')}"


def payload(event: Mapping[str, Any]) -> dict[str, Any]:
    kind = str(event.get("kind", ""))
    icon = _ICONS.get(kind, ":rotating_light:" if kind.startswith("break-glass.") else ":bell:")
    text = f"{icon} {summary(event)}"
    return {
        "text": text,
        "blocks": [
            {"type": "section", "text": {"type": "mrkdwn", "text": text}},
            {
                "type": "context",
                "elements": [
                    {"type": "mrkdwn", "text": f"event {event.get('seq')} · {event.get('ts')}"}
                ],
            },
        ],
    }


@dataclass
class SlackSink:
    url: str
    poster: Poster | None = None

    @property
    def name(self) -> str:
        # The URL is a credential: name the sink by a digest of it.
        return "slack:" + hashlib.sha256(self.url.encode()).hexdigest()[:8]

    def send(self, event: Mapping[str, Any]) -> int:
        body = json.dumps(payload(event)).encode()
        return (self.poster or Poster(self.url)).post(body, {"Content-Type": "application/json"})
