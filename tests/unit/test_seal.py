"""The tree head's seal key comes from the signing key file without the cryptography package."""

from __future__ import annotations

from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from shipyard.errors import ShipyardError
from shipyard.store import seal


def test_the_seed_read_by_hand_is_the_one_cryptography_reads() -> None:
    """A PKCS#8 PEM written by the cryptography package gives the same 32-byte seed."""
    key = Ed25519PrivateKey.generate()
    pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    raw = key.private_bytes(
        serialization.Encoding.Raw, serialization.PrivateFormat.Raw, serialization.NoEncryption()
    )
    assert seal.seed_of(pem, Path("k.pem")) == raw


def test_a_key_made_by_hand_loads_in_cryptography() -> None:
    """The PEM made for a new key is one the cryptography package loads, with that seed."""
    pem = seal.new_key_pem(bytes(range(32)))
    key = serialization.load_pem_private_key(pem, password=None)
    assert isinstance(key, Ed25519PrivateKey)
    raw = key.private_bytes(
        serialization.Encoding.Raw, serialization.PrivateFormat.Raw, serialization.NoEncryption()
    )
    assert raw == bytes(range(32))


@pytest.mark.parametrize("pem", [b"not a key", b"-----BEGIN PRIVATE KEY-----\nAAAA\n-----END"])
def test_a_file_that_is_not_an_ed25519_key_is_refused(pem: bytes) -> None:
    """Anything but an Ed25519 PKCS#8 key is signing-key-invalid."""
    with pytest.raises(ShipyardError) as err:
        seal.seed_of(pem, Path("k.pem"))
    assert err.value.code == "signing-key-invalid"


@pytest.mark.parametrize(
    ("size", "root", "stored", "holds"),
    [
        (0, b"r" * 32, None, True),  # an empty log is unsealed until its first event
        (1, b"r" * 32, None, False),
        (1, b"r" * 32, seal.seal(b"k" * 32, 1, b"r" * 32), True),
        (2, b"r" * 32, seal.seal(b"k" * 32, 1, b"r" * 32), False),
        (1, b"s" * 32, seal.seal(b"k" * 32, 1, b"r" * 32), False),
        (1, b"r" * 32, seal.seal(b"x" * 32, 1, b"r" * 32), False),
    ],
)
def test_a_seal_holds_only_for_its_head_and_key(
    size: int, root: bytes, stored: bytes | None, holds: bool
) -> None:
    """A seal made for another size, root or key does not hold."""
    assert seal.holds(b"k" * 32, size, root, stored) is holds
