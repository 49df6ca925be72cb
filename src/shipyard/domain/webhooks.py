"""Git hosting webhooks: which repository and commit a push or pull/merge request names, and
whether the request is signed with the repository's secret.

GitHub signs the body: ``X-Hub-Signature-256: sha256=<HMAC-SHA256(secret, body) hex>``.
GitLab sends the secret itself: ``X-GitLab-Token: <secret>``. Both are compared in constant
time. Events that start no run (a deleted branch, a closed pull request, a ping) are
``Ignored`` with the reason.
"""

from __future__ import annotations

import hashlib
import hmac
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

_SHA = re.compile(r"[0-9a-f]{40}|[0-9a-f]{64}")
_ZERO = re.compile(r"0+")


@dataclass(frozen=True)
class Push:
    """A commit to run: from a push or a pull/merge request."""

    repository: str  # owner/name (GitHub full_name, GitLab path_with_namespace)
    commit: str
    ref: str
    trigger: str  # github:push, github:pull_request, gitlab:push, gitlab:merge_request


@dataclass(frozen=True)
class Ignored:
    repository: str
    reason: str


class PayloadInvalid(ValueError):
    """A webhook body that is not what its event says it is."""


def host_of(headers: Mapping[str, str]) -> str | None:
    """``github`` or ``gitlab`` from the request's headers (names in lower case), or None."""
    if "x-github-event" in headers:
        return "github"
    if "x-gitlab-event" in headers:
        return "gitlab"
    return None


def repository_of(host: str, payload: Mapping[str, Any]) -> str:
    """The repository a webhook body is about, before its signature can be checked (the
    secret to check it with is that repository's)."""
    if host == "github":
        name = _get(payload, "repository", "full_name")
    else:
        name = _get(payload, "project", "path_with_namespace")
    if not isinstance(name, str) or not name:
        raise PayloadInvalid("the body names no repository")
    return name


def signed(host: str, headers: Mapping[str, str], body: bytes, secret: str) -> bool:
    """Whether the request carries the repository's secret (GitLab) or a signature made with
    it (GitHub)."""
    if not secret:
        return False
    if host == "github":
        given = headers.get("x-hub-signature-256", "")
        want = "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
        return hmac.compare_digest(given.encode(), want.encode())
    return hmac.compare_digest(headers.get("x-gitlab-token", "").encode(), secret.encode())


def event_of(host: str, event: str, payload: Mapping[str, Any]) -> Push | Ignored:
    """The commit a signed webhook asks to run, or why it asks for none."""
    repo = repository_of(host, payload)
    if host == "github":
        if event == "ping":
            return Ignored(repo, "ping")
        if event == "push":
            commit, ref = payload.get("after"), payload.get("ref")
            if isinstance(commit, str) and _ZERO.fullmatch(commit):
                return Ignored(repo, "a deleted branch")
            return Push(repo, _commit(commit), _ref(ref), "github:push")
        if event == "pull_request":
            action = payload.get("action")
            if action not in ("opened", "synchronize", "reopened"):
                return Ignored(repo, f"pull request {action}")
            pr = payload.get("pull_request")
            commit = _get(pr, "head", "sha")
            number = pr.get("number") if isinstance(pr, Mapping) else None
            return Push(repo, _commit(commit), f"pull/{number}", "github:pull_request")
        return Ignored(repo, f"event {event}")
    if event == "Push Hook":
        commit = payload.get("checkout_sha") or payload.get("after")
        if commit is None or (isinstance(commit, str) and _ZERO.fullmatch(commit)):
            return Ignored(repo, "a deleted branch")
        return Push(repo, _commit(commit), _ref(payload.get("ref")), "gitlab:push")
    if event == "Merge Request Hook":
        attrs = payload.get("object_attributes")
        action = attrs.get("action") if isinstance(attrs, Mapping) else None
        if action not in ("open", "update", "reopen"):
            return Ignored(repo, f"merge request {action}")
        commit = _get(attrs, "last_commit", "id")
        iid = attrs.get("iid") if isinstance(attrs, Mapping) else None
        return Push(repo, _commit(commit), f"merge-requests/{iid}", "gitlab:merge_request")
    return Ignored(repo, f"event {event}")


def valid_commit(value: object) -> bool:
    return isinstance(value, str) and _SHA.fullmatch(value) is not None


def _commit(value: object) -> str:
    if not valid_commit(value):
        raise PayloadInvalid(f"{value!r} is not a full commit id")
    return str(value)


def _ref(value: object) -> str:
    if not isinstance(value, str) or not value:
        raise PayloadInvalid("the body names no ref")
    return value


def _get(payload: object, *keys: str) -> object:
    for key in keys:
        if not isinstance(payload, Mapping):
            return None
        payload = payload.get(key)
    return payload
