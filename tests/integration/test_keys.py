"""The signing key shared by replicas: sealed in the database under the master key, or a
file every replica is given; rotation keeps what the old key signed verifiable."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest

from shipyard.adapters.signing import Signer
from shipyard.domain.provenance import BuildInfo
from shipyard.errors import ShipyardError
from shipyard.services import keys
from shipyard.services.releases import artifacts
from shipyard.store.uow import Store

MASTER = "correct horse battery staple and more"


def _shared(store: Store, home: Path) -> Store:
    """Another replica: its own home, the same database (blobs too), organisation mode."""
    return replace(store, home=home, shared=True, blobs_url="postgres")


@pytest.fixture
def no_key_env(monkeypatch: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    monkeypatch.delenv("SHIPYARD_SIGNING_KEY_FILE", raising=False)
    monkeypatch.delenv("SHIPYARD_MASTER_KEY", raising=False)
    return monkeypatch


def _code(call: object) -> str:
    with pytest.raises(ShipyardError) as err:
        call()  # type: ignore[operator]
    return err.value.code


def test_nothing_configured_is_refused(store: Store, tmp_path: Path, no_key_env: object) -> None:
    """A shared store with no key file and no master key has no signer; none is minted."""
    replica = _shared(store, tmp_path / "r1")
    assert _code(lambda: replica.signer) == "signing-key-missing"
    assert not (tmp_path / "r1" / "keys").exists()


def test_sealed_key_is_shared_and_rotation_keeps_old_signatures(
    store: Store, tmp_path: Path, no_key_env: pytest.MonkeyPatch
) -> None:
    """Two replicas open the one sealed key; after rotation they sign with the new one, the old
    one is retired but what it signed verifies; a wrong or short master key is refused."""
    monkeypatch = no_key_env
    monkeypatch.setenv("SHIPYARD_MASTER_KEY", "short")
    assert _code(lambda: keys.create(store, "ops")) == "master-key-invalid"
    monkeypatch.setenv("SHIPYARD_MASTER_KEY", MASTER)
    assert _code(lambda: _shared(store, tmp_path / "r0").signer) == "signing-key-missing"
    first = keys.create(store, "ops")["key_id"]
    assert _code(lambda: keys.create(store, "ops")) == "signing-key-exists"
    one, two = _shared(store, tmp_path / "r1"), _shared(store, tmp_path / "r2")
    assert one.signer.key_id == two.signer.key_id == first
    wheel = tmp_path / "app-1.0.0.tar.gz"
    wheel.write_bytes(b"release bytes")
    artifacts.publish(one, "shop", "app", wheel, "1.0.0", BuildInfo(pipeline="shop", job="b"))
    monkeypatch.setenv("SHIPYARD_MASTER_KEY", "w" * 40)
    assert _code(lambda: _shared(store, tmp_path / "r3").signer) == "master-key-wrong"
    assert _code(lambda: keys.rotate(store, "ops")) == "master-key-wrong"
    monkeypatch.setenv("SHIPYARD_MASTER_KEY", MASTER)
    rotated = keys.rotate(store, "ops")
    assert rotated["previous"] == first
    three = _shared(store, tmp_path / "r3")
    assert three.signer.key_id == rotated["key_id"] != first
    assert artifacts.verify(three, "shop", "app@1.0.0")["ok"]
    listed = keys.list_keys(store)
    assert [(k["key_id"], k["active"]) for k in listed] == [
        (rotated["key_id"], True),
        (first, False),
    ]
    assert all("sealed" not in k for k in listed)
    with store.read() as uow:
        kinds = [e.kind for e in uow.events.query(project="*")]
    assert kinds.count("key.registered") == 2 and kinds.count("key.rotated") == 1
    assert not any((tmp_path / r / "keys").exists() for r in ("r0", "r1", "r2", "r3"))


def test_a_key_file_is_shared(store: Store, tmp_path: Path, no_key_env: pytest.MonkeyPatch) -> None:
    """SHIPYARD_SIGNING_KEY_FILE given to every replica makes them sign alike; a missing or
    foreign file is refused, never replaced."""
    pem = tmp_path / "signing.pem"
    pem.write_bytes(Signer.generate().private_pem())
    no_key_env.setenv("SHIPYARD_SIGNING_KEY_FILE", str(pem))
    one, two = _shared(store, tmp_path / "r1"), _shared(store, tmp_path / "r2")
    assert one.signer.key_id == two.signer.key_id == Signer.load_file(pem).key_id
    no_key_env.setenv("SHIPYARD_SIGNING_KEY_FILE", str(tmp_path / "gone.pem"))
    assert _code(lambda: _shared(store, tmp_path / "r3").signer) == "signing-key-missing"
    (tmp_path / "rsa.pem").write_text(
        "-----BEGIN PRIVATE KEY-----\nnope\n-----END PRIVATE KEY-----\n"
    )
    no_key_env.setenv("SHIPYARD_SIGNING_KEY_FILE", str(tmp_path / "rsa.pem"))
    assert _code(lambda: _shared(store, tmp_path / "r4").signer) == "signing-key-invalid"
    assert not (tmp_path / "gone.pem").exists()
