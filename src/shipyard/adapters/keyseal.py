"""Sealing a private key under the operator's master key (``SHIPYARD_MASTER_KEY``).

AES-256-GCM with a key derived by scrypt (n=2**14, r=8, p=1) from the master key and a random
16-byte salt per sealed key; the key id is the associated data, so a sealed key moved to
another row does not open. Layout: salt (16) | nonce (12) | ciphertext and tag.
"""

from __future__ import annotations

import os

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.scrypt import Scrypt

from shipyard.errors import InputError, ShipyardError

MIN_LENGTH = 32


def check_master(master: str) -> bytes:
    if len(master) < MIN_LENGTH:
        raise InputError(
            f"SHIPYARD_MASTER_KEY is {len(master)} characters; at least {MIN_LENGTH} are needed",
            "make one with `openssl rand -base64 32` and keep it in your secret manager",
            code="master-key-invalid",
        )
    return master.encode()


def _kek(master: str, salt: bytes) -> AESGCM:
    key = Scrypt(salt=salt, length=32, n=2**14, r=8, p=1).derive(check_master(master))
    return AESGCM(key)


def seal(secret: bytes, master: str, key_id: str) -> bytes:
    salt, nonce = os.urandom(16), os.urandom(12)
    return salt + nonce + _kek(master, salt).encrypt(nonce, secret, key_id.encode())


def unseal(sealed: bytes, master: str, key_id: str) -> bytes:
    salt, nonce, body = sealed[:16], sealed[16:28], sealed[28:]
    try:
        return _kek(master, salt).decrypt(nonce, body, key_id.encode())
    except InvalidTag as exc:
        raise ShipyardError(
            f"the signing key {key_id} in the database does not open with SHIPYARD_MASTER_KEY",
            "set the master key it was created with (every replica and worker needs the same)",
            code="master-key-wrong",
        ) from exc
