"""The project's Ed25519 signing key, kept in a file readable by its owner only."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from shipyard.errors import ShipyardError


def key_id(public_key: bytes) -> str:
    return hashlib.sha256(public_key).hexdigest()[:16]


@dataclass
class Signer:
    private_key: Ed25519PrivateKey

    @property
    def public_key(self) -> bytes:
        return self.private_key.public_key().public_bytes(
            serialization.Encoding.Raw, serialization.PublicFormat.Raw
        )

    @property
    def key_id(self) -> str:
        return key_id(self.public_key)

    def sign(self, message: bytes) -> bytes:
        return self.private_key.sign(message)

    def public_pem(self) -> str:
        return (
            self.private_key.public_key()
            .public_bytes(
                serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
            )
            .decode()
        )

    def private_pem(self) -> bytes:
        return self.private_key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )

    @classmethod
    def generate(cls) -> Signer:
        return cls(Ed25519PrivateKey.generate())

    @classmethod
    def from_pem(cls, pem: bytes, where: str = "the key") -> Signer:
        try:
            key = serialization.load_pem_private_key(pem, password=None)
        except (ValueError, TypeError) as exc:
            raise ShipyardError(
                f"{where} is not a PEM private key without a password",
                "give an Ed25519 key, e.g. `openssl genpkey -algorithm ed25519`",
                code="signing-key-invalid",
            ) from exc
        if not isinstance(key, Ed25519PrivateKey):
            raise ShipyardError(
                f"{where} is not an Ed25519 private key",
                "give an Ed25519 key, e.g. `openssl genpkey -algorithm ed25519`",
                code="signing-key-invalid",
            )
        return cls(key)

    @classmethod
    def load_file(cls, path: Path) -> Signer:
        """The key in ``path`` (SHIPYARD_SIGNING_KEY_FILE), which must exist: a named key is
        never replaced by a new one."""
        try:
            pem = path.read_bytes()
        except FileNotFoundError as exc:
            raise ShipyardError(
                f"the signing key {path} (SHIPYARD_SIGNING_KEY_FILE) does not exist",
                "point SHIPYARD_SIGNING_KEY_FILE at an Ed25519 PEM private key",
                code="signing-key-missing",
            ) from exc
        except OSError as exc:
            raise ShipyardError(
                f"cannot read the signing key at {path}: {exc.__class__.__name__}",
                "check the file's permissions, or set SHIPYARD_SIGNING_KEY_FILE",
                code="signing-key-invalid",
            ) from exc
        return cls.from_pem(pem, str(path))

    @classmethod
    def load_or_create(cls, home: Path) -> Signer:
        """The key in the state folder's keys/ or SHIPYARD_SIGNING_KEY_FILE, made
        when missing; a key the user named is never replaced (signatures made with it would
        silently stop verifying)."""
        from shipyard.store.seal import load_seed

        seed = load_seed(home)
        assert seed is not None  # made when missing
        return cls(Ed25519PrivateKey.from_private_bytes(seed))


def verify(public_key: bytes, message: bytes, signature: bytes) -> bool:
    try:
        Ed25519PublicKey.from_public_bytes(public_key).verify(signature, message)
    except (InvalidSignature, ValueError):
        return False
    return True
