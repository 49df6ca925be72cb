"""Notification sinks: where selected events go as they are written (a webhook, Slack,
email). ``services/coordination/notify.py`` keeps each sink's place in the event log and hands
it each wanted event once; a sink that cannot deliver raises ``NotifyFailed`` and gets the
event again on the next pass. Backends: ``adapters/notify/``; ``tests/fakes.py`` has one that
records."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Protocol, runtime_checkable

from shipyard.errors import ShipyardError


class NotifyFailed(ShipyardError):
    code = "notify-failed"
    default_hint = "check that the endpoint is up; the delivery is retried on the next dispatch"


@runtime_checkable
class Sink(Protocol):
    @property
    def name(self) -> str:
        """The sink in the delivery log (its host only, never a token in its address)."""
        ...

    def send(self, event: Mapping[str, Any]) -> int:
        """Deliver one event (``Event.to_dict()``); how many attempts it took."""
        ...
