"""`shipyard artifacts attestation` and `artifacts sbom` print the stored DSSE envelope and
CycloneDX SBOM, byte for byte, so other verifiers can check them; embedded and via a server."""

from __future__ import annotations

import base64
import hashlib
import json
import os
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from cryptography.hazmat.primitives.serialization import load_pem_public_key
from cyclonedx.schema import SchemaVersion
from cyclonedx.validation.json import JsonStrictValidator

from tests import gitrepo
from tests.e2e.helpers import as_json, running_server, shipyard


def _published(root: Path) -> Path:
    """A repository with shop@1.0.0 published."""
    gitrepo.init(root)
    gitrepo.commit(
        root, "feat: a", {"shipyard.yaml": "project: shop\n", ".gitignore": ".shipyard/\n"}
    )
    (root / "shop.zip").write_bytes(b"shop bytes")
    published = shipyard("artifacts", "publish", "shop", "shop.zip", "--version", "1.0.0", cwd=root)
    assert published.returncode == 0, published.stderr
    return root


@pytest.fixture(scope="module")
def repo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Shared by the tests that only read it."""
    return _published(tmp_path_factory.mktemp("docs") / "shop")


def _sha256(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def _verify_dsse(envelope: dict[str, str | list[dict[str, str]]], pem: bytes) -> dict:
    """DSSE v1 verification written from the spec, independent of Shipyard's code."""
    payload = base64.b64decode(str(envelope["payload"]))
    ptype = str(envelope["payloadType"]).encode()
    pae = b"DSSEv1 %d %s %d %s" % (len(ptype), ptype, len(payload), payload)
    key = load_pem_public_key(pem)
    assert isinstance(key, Ed25519PublicKey)
    signatures = envelope["signatures"]
    assert isinstance(signatures, list) and signatures
    key.verify(base64.b64decode(signatures[0]["sig"]), pae)  # raises when it does not verify
    return json.loads(payload)


def test_attestation_is_the_signed_envelope(repo: Path, tmp_path: Path) -> None:
    """The printed envelope hashes to the registered provenance digest, its signature verifies
    with `audit public-key` by a DSSE check written from the spec, and its subject is the
    artifact's bytes; -o writes the same bytes."""
    shown = as_json(shipyard("artifacts", "show", "shop@1.0.0", "--json", cwd=repo))
    proc = shipyard("artifacts", "attestation", "shop@1.0.0", cwd=repo)
    assert proc.returncode == 0, proc.stderr
    raw = proc.stdout.rstrip("\n").encode()
    assert _sha256(raw) == shown["provenance_digest"]
    pem = shipyard("audit", "public-key", cwd=repo).stdout.encode()
    statement = _verify_dsse(json.loads(raw), pem)
    assert statement["_type"] == "https://in-toto.io/Statement/v1"
    assert statement["subject"][0]["digest"] == {"sha256": shown["digest"].removeprefix("sha256:")}
    out = tmp_path / "shop.intoto.json"
    assert (
        shipyard("artifacts", "attestation", "shop@1.0.0", "-o", str(out), cwd=repo).returncode == 0
    )
    assert out.read_bytes() == raw


def test_sbom_is_the_registered_cyclonedx_document(repo: Path, tmp_path: Path) -> None:
    """The printed SBOM hashes to the registered SBOM digest and passes CycloneDX 1.6 schema
    validation; -o writes the same bytes."""
    shown = as_json(shipyard("artifacts", "show", "shop@1.0.0", "--json", cwd=repo))
    proc = shipyard("artifacts", "sbom", "shop@1.0.0", cwd=repo)
    assert proc.returncode == 0, proc.stderr
    raw = proc.stdout.rstrip("\n").encode()
    assert _sha256(raw) == shown["sbom_digest"]
    assert JsonStrictValidator(SchemaVersion.V1_6).validate_str(raw.decode()) is None
    out = tmp_path / "shop.cdx.json"
    assert shipyard("artifacts", "sbom", "shop@1.0.0", "-o", str(out), cwd=repo).returncode == 0
    assert out.read_bytes() == raw


@pytest.mark.parametrize(
    ("args", "status", "code"),
    [
        (("artifacts", "attestation", "shop@9.9.9"), 6, "artifact-not-found"),
        (("artifacts", "sbom", "shop"), 2, "artifact-ref-invalid"),
    ],
)
def test_bad_refs(repo: Path, args: tuple[str, ...], status: int, code: str) -> None:
    """An unknown version exits 6 and a malformed ref exits 2, each with its code."""
    proc = shipyard(*args, "--json", cwd=repo)
    assert proc.returncode == status and as_json(proc)["error"]["code"] == code


def test_a_changed_envelope_is_not_printed(tmp_path: Path) -> None:
    """If the stored envelope's bytes changed, `attestation` exits 4 instead of printing them."""
    repo = _published(tmp_path / "shop")
    shown = as_json(shipyard("artifacts", "show", "shop@1.0.0", "--json", cwd=repo))
    hexd = shown["provenance_digest"].removeprefix("sha256:")
    blob = repo / ".shipyard" / "cas" / "blobs" / hexd[:2] / hexd
    os.chmod(blob, 0o644)
    blob.write_bytes(blob.read_bytes().replace(b"payload", b"Payload", 1))
    proc = shipyard("artifacts", "attestation", "shop@1.0.0", cwd=repo)
    assert proc.returncode == 4 and proc.stdout == ""


def test_through_a_server(repo: Path) -> None:
    """With SHIPYARD_SERVER set, both commands fetch the same bytes over the API."""
    local = {
        part: shipyard("artifacts", part, "shop@1.0.0", cwd=repo).stdout
        for part in ("attestation", "sbom")
    }
    token = as_json(shipyard("token", "create", "--role", "viewer", "--json", cwd=repo))["token"]
    with running_server(repo) as url:
        env = {"SHIPYARD_SERVER": url, "SHIPYARD_TOKEN": token}
        for part, text in local.items():
            proc = shipyard("artifacts", part, "shop@1.0.0", cwd=repo, env=env)
            assert proc.returncode == 0, proc.stderr
            assert proc.stdout == text
        missing = shipyard("artifacts", "sbom", "shop@2.0.0", "--json", cwd=repo, env=env)
        assert missing.returncode == 6 and as_json(missing)["error"]["code"] == "artifact-not-found"
