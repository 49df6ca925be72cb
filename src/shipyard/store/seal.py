"""The tree head's seal: a MAC over (size, root) under a key only the signing key file gives.

Every write to the event log checks the seal of the head it extends and seals the new head, in
the same transaction. Someone who can write to the database but not read the signing key (or,
in organisation mode, the master key) cannot append, truncate or rewrite and then recompute a
head that verifies: the seal will not match, `shipyard audit verify` names it, and Shipyard
refuses to extend that head.

A MAC rather than an Ed25519 signature because `shipyard run` appends events before it loads
anything heavy (store/runlog.py): HMAC-SHA-256 is in the standard library and costs
microseconds, where loading the signature library costs tens of milliseconds. The seal key is
derived from the Ed25519 seed, so there is still one secret to protect; signatures anyone can
check with the public key are the checkpoints (services/compliance/audit.py).

Standard library only, and the key file is read without the cryptography package: an Ed25519
PKCS#8 PEM holds the 32-byte seed as the OCTET STRING at its end (RFC 8410).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import os
from pathlib import Path

from shipyard.errors import AuditTampered, ShipyardError

KEY_FILE = "ed25519.pem"
_PKCS8_PREFIX = bytes.fromhex("302e020100300506032b657004220420")  # RFC 8410, section 7
_cache: dict[tuple[str, float], bytes] = {}


def key_path(home: Path) -> tuple[Path, bool]:
    """The signing key's file, and whether the user named it (SHIPYARD_SIGNING_KEY_FILE)."""
    named = os.environ.get("SHIPYARD_SIGNING_KEY_FILE")
    return (Path(named), True) if named else (home / "keys" / KEY_FILE, False)


def seed_of(pem: bytes, where: Path) -> bytes:
    """The 32-byte Ed25519 seed of a PKCS#8 PEM private key."""
    try:
        body = b"".join(
            line for line in pem.strip().splitlines() if line and not line.startswith(b"-----")
        )
        der = base64.b64decode(body, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise _invalid(where) from exc
    marker = der.find(b"\x04\x22\x04\x20")  # OCTET STRING { OCTET STRING (32) }
    if b"\x06\x03\x2b\x65\x70" not in der or marker < 0 or len(der) < marker + 36:
        raise _invalid(where)
    return der[marker + 4 : marker + 36]


def _invalid(where: Path) -> ShipyardError:
    return ShipyardError(
        f"{where} is not an Ed25519 private key",
        "remove it to have a new one made, or set SHIPYARD_SIGNING_KEY_FILE",
        code="signing-key-invalid",
    )


def new_key_pem(seed: bytes) -> bytes:
    der = _PKCS8_PREFIX + seed
    b64 = base64.encodebytes(der).decode().replace("\n", "")
    return f"-----BEGIN PRIVATE KEY-----\n{b64}\n-----END PRIVATE KEY-----\n".encode()


def load_seed(home: Path, *, create: bool = True) -> bytes | None:
    """The signing key's seed, made (owner-only, first writer wins) when missing and allowed."""
    path, named = key_path(home)
    try:
        if path.exists():
            return seed_of(path.read_bytes(), path)
        if named:
            raise ShipyardError(
                f"the signing key {path} (SHIPYARD_SIGNING_KEY_FILE) does not exist",
                "point SHIPYARD_SIGNING_KEY_FILE at the project's Ed25519 PEM key, or unset it "
                "to use .shipyard/keys/ed25519.pem",
                code="signing-key-missing",
            )
        if not create:
            return None
        path.parent.mkdir(parents=True, exist_ok=True)
        seed = os.urandom(32)
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:
            return seed_of(path.read_bytes(), path)  # another process made it first
        with os.fdopen(fd, "wb") as fh:
            fh.write(new_key_pem(seed))
        return seed
    except OSError as exc:
        raise ShipyardError(
            f"cannot use the signing key at {path}: {exc.__class__.__name__}",
            "check the file's permissions, or set SHIPYARD_SIGNING_KEY_FILE",
            code="signing-key-invalid",
        ) from exc


def seal_key(home: Path, *, create: bool = True) -> bytes | None:
    """The MAC key for tree heads: derived from SHIPYARD_SIGNING_KEY_FILE's seed, else from
    SHIPYARD_MASTER_KEY (organisation mode: it outlives key rotations), else from the state
    folder's own key file. Every process that writes one log needs the same."""
    named = os.environ.get("SHIPYARD_SIGNING_KEY_FILE")
    master = os.environ.get("SHIPYARD_MASTER_KEY", "").strip()
    if master and not named:
        return hashlib.sha256(b"shipyard tree-head seal v1 master\n" + master.encode()).digest()
    path, _ = key_path(home)
    try:
        stamp = (str(path), path.stat().st_mtime)
    except OSError:
        stamp = None
    if stamp is not None and stamp in _cache:
        return _cache[stamp]
    seed = load_seed(home, create=create)
    if seed is None:
        return None
    key = hashlib.sha256(b"shipyard tree-head seal v1\n" + seed).digest()
    if stamp is not None:
        _cache[stamp] = key
    return key


def seal(key: bytes, size: int, root: bytes) -> bytes:
    return hmac.new(key, f"{size}\n{root.hex()}\n".encode(), hashlib.sha256).digest()


def holds(key: bytes, size: int, root: bytes, stored: bytes | None) -> bool:
    """Whether ``stored`` seals this head. An empty log is unsealed until its first event."""
    if stored is None:
        return size == 0
    return hmac.compare_digest(seal(key, size, root), bytes(stored))


def broken(size: int) -> AuditTampered:
    return AuditTampered(
        f"the event log's tree head (size {size}) does not carry the seal of this store's "
        "signing key: the log was changed outside Shipyard, or this process seals with "
        "another key; nothing was written",
        "run `shipyard audit verify`; every process writing this log needs the same "
        "SHIPYARD_SIGNING_KEY_FILE or SHIPYARD_MASTER_KEY (docs/audit.md)",
    )
