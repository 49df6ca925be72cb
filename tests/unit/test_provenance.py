"""DSSE pre-authentication encoding, the provenance statement's shape, and envelope checks."""

from __future__ import annotations

import base64
import json

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from shipyard.adapters import signing
from shipyard.domain import provenance as p

DIGEST = "sha256:" + "ab" * 32
BUILD = p.BuildInfo(
    pipeline="checkout",
    job="build",
    matrix={"python": "3.12"},
    commit="c0ffee" * 6 + "c0ff",
    repository="/src/checkout",
    inputs={"app.py": "sha256:" + "01" * 32},
    run_id="42",
    started_on="2026-11-01T10:00:00Z",
    finished_on="2026-11-01T10:01:00Z",
    builder_version="0.1.0",
)


@pytest.mark.parametrize(
    ("payload_type", "payload", "expected"),
    [
        # The worked example in the DSSE protocol document.
        (
            "http://example.com/HelloWorld",
            b"hello world",
            b"DSSEv1 29 http://example.com/HelloWorld 11 hello world",
        ),
        ("", b"", b"DSSEv1 0  0 "),
        ("t", "é".encode(), b"DSSEv1 1 t 2 \xc3\xa9"),  # lengths count bytes, not characters
    ],
)
def test_pae_matches_the_dsse_spec(payload_type: str, payload: bytes, expected: bytes) -> None:
    """PAE is "DSSEv1 LEN(type) type LEN(body) body" with byte lengths in decimal."""
    assert p.pae(payload_type, payload) == expected


def test_statement_has_the_slsa_v1_shape() -> None:
    """The statement names the bytes as subject and carries buildDefinition and runDetails."""
    s = p.statement("checkout.zip", DIGEST, BUILD)
    assert s["_type"] == "https://in-toto.io/Statement/v1"
    assert s["predicateType"] == "https://slsa.dev/provenance/v1"
    assert s["subject"] == [{"name": "checkout.zip", "digest": {"sha256": "ab" * 32}}]
    bd = s["predicate"]["buildDefinition"]
    assert bd["externalParameters"] == {
        "pipeline": "checkout",
        "job": "build",
        "matrix": {"python": "3.12"},
    }
    assert bd["resolvedDependencies"][0] == {
        "uri": "git+file:///src/checkout",
        "digest": {"gitCommit": BUILD.commit},
    }
    assert bd["resolvedDependencies"][1] == {"name": "app.py", "digest": {"sha256": "01" * 32}}
    rd = s["predicate"]["runDetails"]
    assert rd["builder"]["id"] and rd["builder"]["version"] == {"shipyard": "0.1.0"}
    assert rd["metadata"] == {
        "invocationId": "42",
        "startedOn": "2026-11-01T10:00:00Z",
        "finishedOn": "2026-11-01T10:01:00Z",
    }


@pytest.mark.parametrize(
    ("location", "uri"),
    [
        ("/src/checkout", "git+file:///src/checkout"),
        ("/srv/my repo/ü", "git+file:///srv/my%20repo/%C3%BC"),
        ("https://github.com/acme/checkout.git", "git+https://github.com/acme/checkout.git"),
        (
            "https://x-access-token:ghp_s3cr3t@github.com/acme/c.git",
            "git+https://github.com/acme/c.git",
        ),
        ("git+https://bot:tok@git.example.com/c", "git+https://git.example.com/c"),
        ("git@github.com:acme/checkout.git", "git+ssh://git@github.com/acme/checkout.git"),
        (
            "ssh://git@git.example.com:2222/acme/c.git",
            "git+ssh://git@git.example.com:2222/acme/c.git",
        ),
        ("file:///srv/git/c.git", "git+file:///srv/git/c.git"),
    ],
)
def test_source_uri_is_a_uri_without_secrets(location: str, uri: str) -> None:
    """The source dependency's uri is an absolute git+ URI, with no credentials in it."""
    assert p.source_uri(location) == uri
    deps = p.statement("x", DIGEST, p.BuildInfo("c", "b", commit="ab" * 20, repository=location))
    assert deps["predicate"]["buildDefinition"]["resolvedDependencies"][0]["uri"] == uri


def test_source_without_a_repository_has_no_made_up_uri() -> None:
    """A commit published without a repository is named, not given a uri that is not one."""
    s = p.statement("x", DIGEST, p.BuildInfo("c", "b", commit="ab" * 20))
    dep = s["predicate"]["buildDefinition"]["resolvedDependencies"][0]
    assert dep == {"name": "source", "digest": {"gitCommit": "ab" * 20}}


def _key() -> tuple[Ed25519PrivateKey, str, p.Verifier]:
    key = Ed25519PrivateKey.generate()
    pub = key.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)
    kid = signing.key_id(pub)

    def verify(keyid: str, msg: bytes, sig: bytes) -> bool:
        return keyid == kid and signing.verify(pub, msg, sig)

    return key, kid, verify


def _failed(checks: list[p.Check]) -> set[str]:
    return {c.name for c in checks if not c.ok}


def test_signed_envelope_verifies() -> None:
    """An envelope signed over PAE verifies: well formed, signed, right types, right subject."""
    key, kid, verify = _key()
    env = p.envelope(p.statement("a", DIGEST, BUILD), kid, key.sign)
    assert env["payloadType"] == "application/vnd.in-toto+json"
    checks = p.check_envelope(json.dumps(env).encode(), verify, DIGEST)
    assert _failed(checks) == set()
    assert [c.name for c in checks] == ["envelope", "signature", "statement", "subject"]


def test_changed_payload_breaks_the_signature() -> None:
    """A statement swapped for another under the old signature fails the signature check."""
    key, kid, verify = _key()
    env = p.envelope(p.statement("a", DIGEST, BUILD), kid, key.sign)
    other = p.statement("a", "sha256:" + "cd" * 32, BUILD)
    env["payload"] = base64.b64encode(p.canonical(other)).decode()
    checks = p.check_envelope(json.dumps(env).encode(), verify, "sha256:" + "cd" * 32)
    assert _failed(checks) == {"signature"}


def test_other_bytes_fail_the_subject_check() -> None:
    """Provenance for one digest does not vouch for bytes with another."""
    key, kid, verify = _key()
    env = p.envelope(p.statement("a", DIGEST, BUILD), kid, key.sign)
    checks = p.check_envelope(json.dumps(env).encode(), verify, "sha256:" + "00" * 32)
    assert _failed(checks) == {"subject"}


def test_unknown_key_fails_the_signature_check() -> None:
    """A signature by a key the project does not know is not accepted."""
    key, _kid, _ = _key()
    _other, _okid, verify = _key()
    env = p.envelope(p.statement("a", DIGEST, BUILD), "stranger", key.sign)
    assert _failed(p.check_envelope(json.dumps(env).encode(), verify, DIGEST)) == {"signature"}


@pytest.mark.parametrize("raw", [b"", b"{}", b"not json", b'{"payload": "!!", "signatures": []}'])
def test_garbage_is_not_an_envelope(raw: bytes) -> None:
    """Anything that is not a DSSE envelope fails the envelope check and nothing else runs."""
    _, _, verify = _key()
    checks = p.check_envelope(raw, verify, DIGEST)
    assert [(c.name, c.ok) for c in checks] == [("envelope", False)]
