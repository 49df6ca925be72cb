"""A project admin cannot make the server probe its own network through notifications: the
webhook and Slack sinks refuse link-local and cloud metadata addresses before connecting."""

from __future__ import annotations

import pytest

from shipyard.adapters.notify.slack import SlackSink
from shipyard.adapters.notify.webhook import NotifyFailed, WebhookSink


@pytest.mark.parametrize(
    "url",
    [
        "http://169.254.169.254/latest/meta-data/iam/security-credentials/",
        "http://[fe80::1]:8080/hook",
        "http://[fd00:ec2::254]/latest/meta-data/",
        "http://0.0.0.0:22/",
        "file:///etc/passwd",
    ],
)
def test_metadata_and_link_local_destinations_are_refused(url: str) -> None:
    """Each is notify-destination-refused, naming why, and nothing is sent."""
    with pytest.raises(NotifyFailed) as err:
        WebhookSink(url, secret="s").send({"kind": "deploy.finished", "seq": 1})
    assert err.value.code == "notify-destination-refused"
    assert "meta-data" not in err.value.message  # the path (often a token) is not echoed


def test_an_allow_list_keeps_every_other_network_out(monkeypatch: pytest.MonkeyPatch) -> None:
    """With SHIPYARD_NOTIFY_ALLOWED_NETWORKS set, a Slack URL on loopback is refused too."""
    monkeypatch.setenv("SHIPYARD_NOTIFY_ALLOWED_NETWORKS", "10.0.0.0/8")
    with pytest.raises(NotifyFailed) as err:
        SlackSink("http://127.0.0.1:9/services/T0/B0/secret").send({"kind": "x", "seq": 1})
    assert err.value.code == "notify-destination-refused"
    assert "outside SHIPYARD_NOTIFY_ALLOWED_NETWORKS" in err.value.message
