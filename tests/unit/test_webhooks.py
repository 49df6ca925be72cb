"""Git host webhooks: what a push or pull/merge request asks to run, and their signatures."""

from __future__ import annotations

import hashlib
import hmac
from typing import Any

import pytest

from shipyard.domain import webhooks as w

SHA = "c" * 40
GH_REPO = {"repository": {"full_name": "acme/shop"}}
GL_REPO = {"project": {"path_with_namespace": "acme/web/shop"}}


@pytest.mark.parametrize(
    ("host", "event", "payload", "expected"),
    [
        (
            "github",
            "push",
            {**GH_REPO, "after": SHA, "ref": "refs/heads/main"},
            w.Push("acme/shop", SHA, "refs/heads/main", "github:push"),
        ),
        (
            "github",
            "push",
            {**GH_REPO, "after": "0" * 40, "ref": "refs/heads/gone"},
            w.Ignored("acme/shop", "a deleted branch"),
        ),
        (
            "github",
            "pull_request",
            {
                **GH_REPO,
                "action": "synchronize",
                "pull_request": {"number": 5, "head": {"sha": SHA}},
            },
            w.Push("acme/shop", SHA, "pull/5", "github:pull_request"),
        ),
        (
            "github",
            "pull_request",
            {**GH_REPO, "action": "closed", "pull_request": {"number": 5, "head": {"sha": SHA}}},
            w.Ignored("acme/shop", "pull request closed"),
        ),
        ("github", "ping", GH_REPO, w.Ignored("acme/shop", "ping")),
        ("github", "issues", GH_REPO, w.Ignored("acme/shop", "event issues")),
        (
            "gitlab",
            "Push Hook",
            {**GL_REPO, "checkout_sha": SHA, "ref": "refs/heads/main"},
            w.Push("acme/web/shop", SHA, "refs/heads/main", "gitlab:push"),
        ),
        (
            "gitlab",
            "Push Hook",
            {**GL_REPO, "checkout_sha": None, "after": "0" * 40, "ref": "refs/heads/x"},
            w.Ignored("acme/web/shop", "a deleted branch"),
        ),
        (
            "gitlab",
            "Merge Request Hook",
            {
                **GL_REPO,
                "object_attributes": {"action": "update", "iid": 3, "last_commit": {"id": SHA}},
            },
            w.Push("acme/web/shop", SHA, "merge-requests/3", "gitlab:merge_request"),
        ),
        (
            "gitlab",
            "Merge Request Hook",
            {**GL_REPO, "object_attributes": {"action": "merge", "iid": 3}},
            w.Ignored("acme/web/shop", "merge request merge"),
        ),
    ],
)
def test_event_of(host: str, event: str, payload: dict[str, Any], expected: object) -> None:
    """Each event names its repository and the commit to run, or why it runs nothing."""
    assert w.event_of(host, event, payload) == expected


@pytest.mark.parametrize(
    ("host", "event", "payload"),
    [
        ("github", "push", {**GH_REPO, "after": "nope", "ref": "refs/heads/main"}),
        ("github", "push", {**GH_REPO, "after": SHA}),
        ("github", "push", {"after": SHA, "ref": "r"}),
        (
            "gitlab",
            "Merge Request Hook",
            {**GL_REPO, "object_attributes": {"action": "open", "last_commit": {"id": "x"}}},
        ),
    ],
)
def test_malformed_payloads_are_refused(host: str, event: str, payload: dict[str, Any]) -> None:
    """A commit that is not a full id, a missing ref or repository is PayloadInvalid."""
    with pytest.raises(w.PayloadInvalid):
        w.event_of(host, event, payload)


def test_github_signature() -> None:
    """Only the HMAC-SHA256 of the exact body under the secret passes."""
    body = b'{"a": 1}'
    good = "sha256=" + hmac.new(b"secret-0123456789", body, hashlib.sha256).hexdigest()
    headers = {"x-hub-signature-256": good}
    assert w.signed("github", headers, body, "secret-0123456789")
    assert not w.signed("github", headers, body + b" ", "secret-0123456789")
    assert not w.signed("github", headers, body, "another-secret-000")
    assert not w.signed("github", {}, body, "secret-0123456789")
    assert not w.signed("github", headers, body, "")


def test_gitlab_token() -> None:
    """GitLab's token is compared with the secret itself."""
    assert w.signed(
        "gitlab", {"x-gitlab-token": "tok-0123456789abcdef"}, b"", "tok-0123456789abcdef"
    )
    assert not w.signed("gitlab", {"x-gitlab-token": "tok"}, b"", "tok-0123456789abcdef")


@pytest.mark.parametrize(
    ("headers", "host"),
    [
        ({"x-github-event": "push"}, "github"),
        ({"x-gitlab-event": "Push Hook"}, "gitlab"),
        ({}, None),
    ],
)
def test_host_of(headers: dict[str, str], host: str | None) -> None:
    """The host is told by its event header."""
    assert w.host_of(headers) == host
