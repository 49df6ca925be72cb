"""Edits of the registry's rows are caught by `artifacts verify` (exit 4, each named), because
a row is checked against the `artifact.published` event that recorded it, that event against
the log's signed tree head, and the signing key against the keys trusted from outside the
database (the same trust anchor as `audit verify`)."""

from __future__ import annotations

import base64
import hashlib
import json
import shutil
import sqlite3
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from tests import gitrepo
from tests.e2e.helpers import as_json, shipyard


@pytest.fixture(scope="module")
def published(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """app@1.0.0 and app@2.0.0 published (other bytes), and a signed checkpoint."""
    root = gitrepo.init(tmp_path_factory.mktemp("tamper") / "app")
    gitrepo.commit(
        root, "feat: a", {"shipyard.yaml": "project: app\n", ".gitignore": ".shipyard/\n"}
    )
    for version in ("1.0.0", "2.0.0"):
        (root / "app.zip").write_text(f"app {version}")
        args = ("artifacts", "publish", "app", "app.zip", "--version", version)
        assert shipyard(*args, cwd=root).returncode == 0
    assert shipyard("audit", "checkpoint", cwd=root).returncode == 0
    return root


@pytest.fixture
def repo(published: Path, tmp_path: Path) -> Path:
    """A copy of the published repository, for one test to edit."""
    return Path(shutil.copytree(published, tmp_path / "app", symlinks=True))


def _db(root: Path) -> sqlite3.Connection:
    return sqlite3.connect(root / ".shipyard" / "state.db")


def _row(root: Path, version: str) -> dict[str, str]:
    with _db(root) as db:
        db.row_factory = sqlite3.Row
        got = db.execute("SELECT * FROM artifacts WHERE version = ?", (version,)).fetchone()
        return dict(got)


def _put_blob(root: Path, data: bytes) -> str:
    """Write bytes into the content-addressed store the way Shipyard lays it out."""
    hexd = hashlib.sha256(data).hexdigest()
    path = root / ".shipyard" / "cas" / "blobs" / hexd[:2] / hexd
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return "sha256:" + hexd


def _verify(root: Path) -> tuple[int, dict[str, bool]]:
    proc = shipyard("artifacts", "verify", "app@1.0.0", "--json", cwd=root)
    data = as_json(proc)
    checks = data["error"]["details"]["checks"] if "error" in data else data["checks"]
    return proc.returncode, {c["name"]: c["ok"] for c in checks}


def test_untouched_registry_verifies_against_its_events(repo: Path) -> None:
    """An untouched artifact verifies, naming its event and the signed tree head it is in."""
    proc = shipyard("artifacts", "verify", "app@1.0.0", "--json", cwd=repo)
    data = as_json(proc)
    assert proc.returncode == 0 and data["ok"] is True
    detail = {c["name"]: c["detail"] for c in data["checks"]}
    assert "included in signed tree head" in detail["published-event"]
    assert "is a trusted key" in detail["signing-key"]
    kinds = as_json(shipyard("audit", "log", "--kind", "key.registered", "--json", cwd=repo))
    assert len(kinds["events"]) == 1


def test_row_pointed_at_another_versions_files(repo: Path) -> None:
    """app@1.0.0's row pointed at app@2.0.0's bytes, envelope and SBOM: exit 4, the three
    recorded digests named, though every file is genuine and `audit verify` passes."""
    other = _row(repo, "2.0.0")
    with _db(repo) as db:
        db.execute(
            "UPDATE artifacts SET digest = ?, size = ?, provenance_digest = ?, sbom_digest = ? "
            "WHERE version = '1.0.0'",
            (other["digest"], other["size"], other["provenance_digest"], other["sbom_digest"]),
        )
    assert shipyard("audit", "verify", cwd=repo).returncode == 0
    status, checks = _verify(repo)
    assert status == 4
    assert not checks["recorded-digest"] and not checks["recorded-provenance"]
    assert not checks["recorded-sbom"]
    assert checks["digest"] and checks["signature"] and checks["subject"]


def test_sbom_swapped_with_its_digest(repo: Path) -> None:
    """Another SBOM written into the store and its digest put in the row: exit 4, recorded-sbom."""
    sbom = json.loads(shipyard("artifacts", "sbom", "app@1.0.0", cwd=repo).stdout)
    sbom["components"] = [{"type": "library", "name": "innocent", "version": "1.0"}]
    digest = _put_blob(repo, json.dumps(sbom).encode())
    with _db(repo) as db:
        db.execute("UPDATE artifacts SET sbom_digest = ? WHERE version = '1.0.0'", (digest,))
    status, checks = _verify(repo)
    assert status == 4 and not checks["recorded-sbom"] and checks["sbom-digest"]
    proc = shipyard("artifacts", "verify", "app@1.0.0", cwd=repo)
    assert "recorded-sbom" in proc.stderr and "error[artifact-tampered]" in proc.stderr


def test_key_added_and_envelope_resigned(repo: Path) -> None:
    """A key inserted into the key table and a re-signed, altered envelope put in the row:
    exit 4, with the untrusted key and the recorded provenance and key named."""
    envelope = json.loads(shipyard("artifacts", "attestation", "app@1.0.0", cwd=repo).stdout)
    statement = json.loads(base64.b64decode(envelope["payload"]))
    statement["predicate"]["buildDefinition"]["externalParameters"]["job"] = "trusted-ci"
    payload = json.dumps(statement, sort_keys=True, separators=(",", ":")).encode()
    key = Ed25519PrivateKey.generate()
    public = key.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)
    keyid = hashlib.sha256(public).hexdigest()[:16]
    ptype = envelope["payloadType"].encode()
    sig = key.sign(b"DSSEv1 %d %s %d %s" % (len(ptype), ptype, len(payload), payload))
    forged = {
        "payloadType": envelope["payloadType"],
        "payload": base64.b64encode(payload).decode(),
        "signatures": [{"keyid": keyid, "sig": base64.b64encode(sig).decode()}],
    }
    digest = _put_blob(repo, json.dumps(forged).encode())
    with _db(repo) as db:
        db.execute(
            "INSERT INTO signing_keys (key_id, public_key, created_at) VALUES (?, ?, ?)",
            (keyid, public, "2026-01-01T00:00:00.000000Z"),
        )
        db.execute("UPDATE artifacts SET provenance_digest = ? WHERE version = '1.0.0'", (digest,))
    assert shipyard("audit", "verify", cwd=repo).returncode == 0
    status, checks = _verify(repo)
    assert status == 4
    assert not checks["recorded-provenance"] and not checks["signing-key"]
    assert not checks["recorded-key"] and not checks["signature"]


def test_event_edited_to_match_the_row(repo: Path) -> None:
    """Editing the artifact.published event too is caught by both `artifacts verify`
    (the event no longer hashes to its leaf) and `audit verify`."""
    other = _row(repo, "2.0.0")
    with _db(repo) as db:
        db.execute(
            "UPDATE artifacts SET sbom_digest = ? WHERE version = '1.0.0'", (other["sbom_digest"],)
        )
        (payload,) = db.execute(
            "SELECT payload FROM events WHERE subject = 'artifact:app@1.0.0'"
        ).fetchone()
        edited = json.loads(payload) | {"sbom": other["sbom_digest"]}
        db.execute(
            "UPDATE events SET payload = ? WHERE subject = 'artifact:app@1.0.0'",
            (json.dumps(edited, sort_keys=True, separators=(",", ":")),),
        )
    status, checks = _verify(repo)
    assert status == 4 and not checks["published-event"] and checks["recorded-sbom"]
    assert shipyard("audit", "verify", cwd=repo).returncode == 4


def test_row_without_an_event(repo: Path) -> None:
    """A registry row inserted by hand, copying a real one, has no event: exit 4."""
    row = _row(repo, "2.0.0") | {"version": "3.0.0"}
    with _db(repo) as db:
        cols = ", ".join(f'"{c}"' for c in row)
        db.execute(
            f"INSERT INTO artifacts ({cols}) VALUES ({', '.join('?' * len(row))})",
            tuple(row.values()),
        )
    proc = shipyard("artifacts", "verify", "app@3.0.0", "--json", cwd=repo)
    failed = [c["name"] for c in as_json(proc)["error"]["details"]["checks"] if not c["ok"]]
    assert proc.returncode == 4 and failed == ["published-event"]
