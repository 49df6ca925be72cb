"""The project's Ed25519 signing key, kept in a file readable by its owner only."""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass
from pathlib import Path

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from shipyard.errors import ShipyardError

KEY_FILE = "ed25519.pem"


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
    def load_or_create(cls, folder: Path) -> Signer:
        named = os.environ.get("SHIPYARD_SIGNING_KEY_FILE")
        path = Path(named or folder / KEY_FILE)
        if named and not path.exists():
            # A key the user named is never replaced by a new one: signatures made with it
            # would silently stop verifying.
            raise ShipyardError(
                f"the signing key {path} (SHIPYARD_SIGNING_KEY_FILE) does not exist",
                "point SHIPYARD_SIGNING_KEY_FILE at the project's Ed25519 PEM key, or unset it "
                "to use .shipyard/keys/ed25519.pem",
                code="signing-key-missing",
            )
        try:
            if path.exists():
                key = serialization.load_pem_private_key(path.read_bytes(), password=None)
                if not isinstance(key, Ed25519PrivateKey):
                    raise ShipyardError(
                        f"{path} is not an Ed25519 private key",
                        "remove it to have a new one made, or set SHIPYARD_SIGNING_KEY_FILE",
                        code="signing-key-invalid",
                    )
                return cls(key)
            path.parent.mkdir(parents=True, exist_ok=True)
            key = Ed25519PrivateKey.generate()
            pem = key.private_bytes(
                serialization.Encoding.PEM,
                serialization.PrivateFormat.PKCS8,
                serialization.NoEncryption(),
            )
            # O_EXCL: if another process made the key first, use theirs.
            try:
                fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            except FileExistsError:
                return cls.load_or_create(folder)
            with os.fdopen(fd, "wb") as fh:
                fh.write(pem)
            return cls(key)
        except (OSError, ValueError) as exc:
            raise ShipyardError(
                f"cannot use the signing key at {path}: {exc.__class__.__name__}",
                "check the file's permissions, or set SHIPYARD_SIGNING_KEY_FILE",
                code="signing-key-invalid",
            ) from exc


def verify(public_key: bytes, message: bytes, signature: bytes) -> bool:
    try:
        Ed25519PublicKey.from_public_bytes(public_key).verify(signature, message)
    except (InvalidSignature, ValueError):
        return False
    return True
