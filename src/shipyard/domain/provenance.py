"""SLSA provenance v1 in an in-toto Statement v1, wrapped in a DSSE envelope.

Pure: signing and verifying are handed in as functions, so no key or clock lives here.
References: in-toto attestation spec (Statement v1), SLSA v1.0 provenance, DSSE v1.0 protocol.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import PurePosixPath
from typing import Any, TypedDict
from urllib.parse import urlsplit, urlunsplit

STATEMENT_TYPE = "https://in-toto.io/Statement/v1"
PREDICATE_TYPE = "https://slsa.dev/provenance/v1"
PAYLOAD_TYPE = "application/vnd.in-toto+json"
BUILD_TYPE = "urn:shipyard:buildtype:pipeline:v1"
BUILDER_ID = "urn:shipyard:builder"


def pae(payload_type: str, payload: bytes) -> bytes:
    """DSSE pre-authentication encoding: what is signed, binding the type to the bytes.

    ``"DSSEv1" SP LEN(type) SP type SP LEN(body) SP body``, lengths in ASCII decimal bytes.
    """
    t = payload_type.encode()
    return b"DSSEv1 %d %s %d %s" % (len(t), t, len(payload), payload)


@dataclass(frozen=True)
class BuildInfo:
    """How an artifact was built, as the pipeline (or a person publishing by hand) tells it."""

    pipeline: str  # the project or spec file the build came from
    job: str
    matrix: Mapping[str, Any] = field(default_factory=dict)
    commit: str | None = None
    repository: str | None = None
    inputs: Mapping[str, str] = field(default_factory=dict)  # path -> sha256:<hex>
    run_id: str | None = None
    started_on: str | None = None
    finished_on: str | None = None
    builder_version: str = ""


def statement(subject_name: str, digest: str, build: BuildInfo) -> dict[str, Any]:
    """The in-toto Statement whose subject is the artifact's bytes (``sha256:<hex>``)."""
    deps: list[dict[str, Any]] = []
    if build.commit:
        source: dict[str, Any] = (
            {"uri": source_uri(build.repository)} if build.repository else {"name": "source"}
        )
        deps.append(source | {"digest": {"gitCommit": build.commit}})
    for path, d in sorted(build.inputs.items()):
        deps.append({"name": path, "digest": _digest_map(d)})
    metadata: dict[str, Any] = {}
    if build.run_id:
        metadata["invocationId"] = build.run_id
    if build.started_on:
        metadata["startedOn"] = build.started_on
    if build.finished_on:
        metadata["finishedOn"] = build.finished_on
    run_details: dict[str, Any] = {
        "builder": {"id": BUILDER_ID, "version": {"shipyard": build.builder_version}}
    }
    if metadata:
        run_details["metadata"] = metadata
    return {
        "_type": STATEMENT_TYPE,
        "subject": [{"name": subject_name, "digest": _digest_map(digest)}],
        "predicateType": PREDICATE_TYPE,
        "predicate": {
            "buildDefinition": {
                "buildType": BUILD_TYPE,
                "externalParameters": {
                    "pipeline": build.pipeline,
                    "job": build.job,
                    "matrix": dict(build.matrix),
                },
                "resolvedDependencies": deps,
            },
            "runDetails": run_details,
        },
    }


_SCP_LIKE_RE = re.compile(r"^(?:(?P<user>[^@/:]+)@)?(?P<host>[^@/:]{2,}):(?P<path>[^/].*|/.*)$")


def source_uri(location: str) -> str:
    """A repository's location as the ``git+`` URI SLSA's resource descriptors use (SPDX's
    download location syntax, e.g. ``git+https://github.com/org/repo.git``).

    An absolute path becomes ``git+file:///abs/path``; git's ``user@host:path`` becomes
    ``git+ssh://user@host/path``; credentials in an http(s) URL are dropped, because
    provenance is published and a token must never be.
    """
    location = location.removeprefix("git+")
    if "://" in location:
        parts = urlsplit(location)
        host = parts.hostname or ""
        if ":" in host:
            host = f"[{host}]"  # IPv6
        netloc = host + (f":{parts.port}" if parts.port else "")
        if parts.username and parts.scheme not in ("http", "https"):
            netloc = f"{parts.username}@{netloc}"  # ssh://git@host: a user name, not a secret
        return "git+" + urlunsplit((parts.scheme, netloc, parts.path, "", ""))
    scp = _SCP_LIKE_RE.match(location)
    if scp is not None and not location.startswith(("/", ".")):
        user = f"{scp.group('user')}@" if scp.group("user") else ""
        path = scp.group("path").lstrip("/")
        return f"git+ssh://{user}{scp.group('host')}/{path}"
    return "git+" + PurePosixPath("/" + location.lstrip("/")).as_uri()


def _digest_map(digest: str) -> dict[str, str]:
    algo, _, hexpart = digest.partition(":")
    return {algo: hexpart}


def canonical(obj: Any) -> bytes:
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def envelope(stmt: Mapping[str, Any], keyid: str, sign: Callable[[bytes], bytes]) -> dict[str, Any]:
    """A DSSE envelope: base64 payload, its type, and one signature over PAE(type, payload)."""
    payload = canonical(stmt)
    sig = sign(pae(PAYLOAD_TYPE, payload))
    return {
        "payloadType": PAYLOAD_TYPE,
        "payload": base64.b64encode(payload).decode(),
        "signatures": [{"keyid": keyid, "sig": base64.b64encode(sig).decode()}],
    }


class CheckOut(TypedDict):
    name: str
    ok: bool
    detail: str


@dataclass(frozen=True)
class Check:
    name: str
    ok: bool
    detail: str

    def to_dict(self) -> CheckOut:
        return {"name": self.name, "ok": self.ok, "detail": self.detail}


Verifier = Callable[[str, bytes, bytes], bool]  # (keyid, message, signature) -> valid


def check_envelope(raw: bytes, verify: Verifier, digest: str) -> list[Check]:
    """Is the envelope well formed, signed by a known key, and about exactly these bytes?"""
    try:
        env = json.loads(raw)
        payload_type = env["payloadType"]
        payload = base64.b64decode(env["payload"], validate=True)
        sigs: Sequence[Mapping[str, str]] = env["signatures"]
        decoded = [(s.get("keyid", ""), base64.b64decode(s["sig"], validate=True)) for s in sigs]
    except (ValueError, KeyError, TypeError, AttributeError, binascii.Error) as exc:
        return [Check("envelope", False, f"not a DSSE envelope: {exc.__class__.__name__}")]
    checks = [Check("envelope", True, f"DSSE envelope, {len(decoded)} signature(s)")]
    message = pae(payload_type, payload)
    good = [k for k, s in decoded if verify(k, message, s)]
    checks.append(
        Check("signature", True, f"signed by key {good[0]}")
        if good
        else Check("signature", False, "no signature verifies with a known project key")
    )
    try:
        stmt = json.loads(payload)
        subjects = stmt["subject"]
        ok_types = (
            payload_type == PAYLOAD_TYPE
            and stmt["_type"] == STATEMENT_TYPE
            and stmt["predicateType"] == PREDICATE_TYPE
        )
    except (ValueError, KeyError, TypeError) as exc:
        checks.append(Check("statement", False, f"payload is not a statement: {exc}"))
        return checks
    checks.append(
        Check("statement", ok_types, "in-toto Statement v1, SLSA provenance v1")
        if ok_types
        else Check("statement", False, "wrong payload, statement or predicate type")
    )
    want = _digest_map(digest)
    matches = any(isinstance(s, dict) and s.get("digest") == want for s in subjects)
    checks.append(
        Check("subject", True, f"subject digest is {digest}")
        if matches
        else Check("subject", False, f"no provenance subject has digest {digest}")
    )
    return checks


def read_statement(raw: bytes) -> dict[str, Any]:
    """The statement inside an envelope, for display; the caller verifies separately."""
    env = json.loads(raw)
    result: dict[str, Any] = json.loads(base64.b64decode(env["payload"]))
    return result
