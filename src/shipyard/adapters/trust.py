"""The keys verification trusts, read from outside the database it verifies.

A key in the database's ``signing_keys`` table, or one a ``key.registered`` event names, is
never trusted by itself: whoever can write the database could have put it there. Trusted keys
come from, in order:

1. ``--trusted-keys`` on the command line, else ``SHIPYARD_TRUSTED_KEYS``: entries separated by
   commas or newlines, each a verifier key (``name+hexid+base64``, as `shipyard audit
   public-key` prints it) or the path of a file of PEM public keys and verifier keys (one per
   line; ``#`` starts a comment);
2. otherwise the public half of the configured signing key (``SHIPYARD_SIGNING_KEY_FILE``, or
   ``.shipyard/keys/ed25519.pem``), a file beside the database but not in it; for a server
   whose keys are sealed in the database under ``SHIPYARD_MASTER_KEY``, every key there that
   opens under the master key (retired ones too, so what they signed still verifies): a key
   row added without the master key does not open.
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, TypedDict

from shipyard.domain import signednote
from shipyard.errors import InputError

if TYPE_CHECKING:
    from shipyard.store.uow import Store

ENV = "SHIPYARD_TRUSTED_KEYS"


@dataclass(frozen=True, slots=True)
class TrustedKey:
    vkey: signednote.VerifierKey
    source: str

    @property
    def public_key(self) -> bytes:
        return self.vkey.public_key

    @property
    def key_id(self) -> str:
        """The id the key table, DSSE envelopes and stored checkpoints use."""
        return hashlib.sha256(self.public_key).hexdigest()[:16]


class TrustedKeyOut(TypedDict):
    """A trusted key as verification reports it."""

    key_id: str
    vkey: str
    source: str


@dataclass(frozen=True, slots=True)
class TrustSet:
    keys: tuple[TrustedKey, ...]
    source: str  # where they came from, said in every failure that names an untrusted key

    def by_key_id(self) -> dict[str, bytes]:
        return {k.key_id: k.public_key for k in self.keys}

    def vkeys(self) -> list[signednote.VerifierKey]:
        return [k.vkey for k in self.keys]

    def describe(self) -> list[TrustedKeyOut]:
        return [{"key_id": k.key_id, "vkey": k.vkey.text(), "source": k.source} for k in self.keys]


def origin() -> str:
    """The log's name in checkpoints (C2SP origin and key name); set it once, before the first
    checkpoint, e.g. to ``shipyard.example.com/audit``."""
    name = os.environ.get("SHIPYARD_LOG_ORIGIN") or "shipyard"
    if not signednote.valid_name(name):
        raise InputError(
            f"SHIPYARD_LOG_ORIGIN '{name[:80]}' is not a log name",
            "use a schema-less URL without spaces or '+', e.g. shipyard.example.com/audit",
            code="log-origin-invalid",
        )
    return name


def load(store: Store | None, option: str | None = None) -> TrustSet:
    """The trusted keys: ``option`` (--trusted-keys), SHIPYARD_TRUSTED_KEYS, or the signing key
    (none without a store: a client of a server must say which keys it trusts)."""
    spec = option if option is not None else os.environ.get(ENV)
    if spec:
        where = "--trusted-keys" if option is not None else ENV
        keys: list[TrustedKey] = []
        for entry in spec.replace("\n", ",").split(","):
            entry = entry.strip()
            if entry:
                keys += _entry(entry)
        if not keys:
            raise _no_keys(f"{where} names no key")
        return TrustSet(tuple(keys), where)
    if store is None:
        raise _no_keys(f"no trusted keys: {ENV} is not set")
    if store.shared and not os.environ.get("SHIPYARD_SIGNING_KEY_FILE"):
        return _sealed_in_database(store)
    from shipyard.store.seal import key_path, load_seed

    # Named without its path: verification answers go to API clients.
    _path, named = key_path(store.home)
    where = "the signing key (SHIPYARD_SIGNING_KEY_FILE)" if named else "the signing key file"
    seed = load_seed(store.home, create=False)
    if seed is None:
        return TrustSet((), f"{where} (missing)")
    key = TrustedKey(signednote.VerifierKey(origin(), _public_of(seed)), where)
    return TrustSet((key,), where)


def _public_of(seed: bytes) -> bytes:
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
    from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

    pub = Ed25519PrivateKey.from_private_bytes(seed).public_key()
    return pub.public_bytes(Encoding.Raw, PublicFormat.Raw)


def _sealed_in_database(store: Store) -> TrustSet:
    """The keys sealed in the database that open under SHIPYARD_MASTER_KEY."""
    from sqlalchemy import select

    from shipyard.adapters import keyseal
    from shipyard.adapters.signing import Signer
    from shipyard.errors import ShipyardError
    from shipyard.store.keys import server_keys

    master = os.environ.get("SHIPYARD_MASTER_KEY", "")
    where = "the keys sealed under SHIPYARD_MASTER_KEY"
    if not master:
        return TrustSet((), f"{where} (SHIPYARD_MASTER_KEY is not set)")
    with store.read() as uow:
        rows = uow.conn.execute(select(server_keys.c.key_id, server_keys.c.sealed)).all()
    keys: list[TrustedKey] = []
    for key_id, sealed in rows:
        try:
            signer = Signer.from_pem(keyseal.unseal(bytes(sealed), master, key_id))
        except ShipyardError:
            continue  # does not open: not a key the master key made
        keys.append(TrustedKey(signednote.VerifierKey(origin(), signer.public_key), where))
    return TrustSet(tuple(keys), where)


def _no_keys(message: str) -> InputError:
    return InputError(
        message,
        f"set {ENV} to a verifier key or a file of them: `shipyard audit public-key` prints one",
        code="trusted-keys-invalid",
    )


def _entry(entry: str) -> list[TrustedKey]:
    if entry.count("+") >= 2 and not Path(entry).exists():
        return [TrustedKey(signednote.parse_vkey(entry), "verifier key")]
    path = Path(entry).expanduser()
    try:
        text = path.read_text()
    except (OSError, UnicodeDecodeError) as exc:
        raise _no_keys(
            f"cannot read the trusted keys file {path}: {exc.__class__.__name__}"
        ) from exc
    keys: list[TrustedKey] = []
    pem: list[str] = []
    for n, line in enumerate(text.splitlines(), 1):
        line = line.split("#", 1)[0].strip() if not pem else line.strip()
        if line.startswith("-----BEGIN"):
            pem = [line]
        elif pem:
            pem.append(line)
            if line.startswith("-----END"):
                keys.append(TrustedKey(_pem_key("\n".join(pem), f"{path}:{n}"), f"{ENV} file"))
                pem = []
        elif line:
            try:
                keys.append(TrustedKey(signednote.parse_vkey(line), f"{ENV} file, line {n}"))
            except InputError as exc:
                raise _no_keys(f"{path}:{n}: {exc.message}") from exc
    if not keys:
        raise _no_keys(f"{path} holds no PEM public key and no verifier key")
    return keys


def _pem_key(pem: str, where: str) -> signednote.VerifierKey:
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
    from cryptography.hazmat.primitives.serialization import (
        Encoding,
        PublicFormat,
        load_pem_public_key,
    )

    if "PRIVATE KEY" in pem:
        raise _no_keys(
            f"{where} is a private key: trust the public key, never copy the private one"
        )
    try:
        key = load_pem_public_key(pem.encode())
    except ValueError as exc:
        raise _no_keys(f"{where} is not a PEM public key") from exc
    if not isinstance(key, Ed25519PublicKey):
        raise _no_keys(f"{where} is not an Ed25519 public key")
    return signednote.VerifierKey(origin(), key.public_bytes(Encoding.Raw, PublicFormat.Raw))
