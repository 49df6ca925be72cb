"""The signing key of a server that many replicas and workers share.

A server or worker on PostgreSQL (``Store.shared``) never mints a key of its own: it signs with
``SHIPYARD_SIGNING_KEY_FILE`` (a PEM file each host is given), or with the key kept in the
database sealed under ``SHIPYARD_MASTER_KEY`` (made by `shipyard key create`, replaced by
`shipyard key rotate`); with neither it refuses to start (``signing-key-missing``). Rotation
retires the old key without deleting it: its public half stays registered, so what it signed
still verifies. The CLI on its own store keeps minting ``.shipyard/keys/ed25519.pem``.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypedDict

from sqlalchemy import select, update

from shipyard.adapters import keyseal
from shipyard.adapters.signing import Signer
from shipyard.errors import Conflict, InputError, ShipyardError
from shipyard.services.compliance.audit import KEYS_PROJECT, register_public
from shipyard.store.append import utcnow
from shipyard.store.keys import server_keys

if TYPE_CHECKING:  # types only: the store imports this module to open its signer
    from shipyard.store.uow import Store, UnitOfWork


class SigningKeyMissing(ShipyardError):
    code = "signing-key-missing"
    default_hint = (
        "set SHIPYARD_SIGNING_KEY_FILE to an Ed25519 PEM key every replica is given, or set "
        "SHIPYARD_MASTER_KEY and run `shipyard key create` once (docs/server.md#signing-keys)"
    )


def _master() -> str:
    master = os.environ.get("SHIPYARD_MASTER_KEY", "")
    if not master:
        raise InputError(
            "SHIPYARD_MASTER_KEY is not set; keys in the database are sealed under it",
            "make one with `openssl rand -base64 32`, keep it in your secret manager and set it "
            "for every replica and worker",
            code="master-key-missing",
        )
    keyseal.check_master(master)
    return master


def _active(uow: UnitOfWork) -> Any:
    c = server_keys.c
    return uow.conn.execute(
        select(server_keys).where(c.retired_at.is_(None)).order_by(c.created_at.desc()).limit(1)
    ).first()


def shared_signer(store: Store) -> Signer:
    """The key every replica and worker signs with (see the module's docstring)."""
    named = os.environ.get("SHIPYARD_SIGNING_KEY_FILE")
    if named:
        return Signer.load_file(Path(named).expanduser())
    master = os.environ.get("SHIPYARD_MASTER_KEY", "")
    if not master:
        raise SigningKeyMissing(
            "a server on PostgreSQL signs with one key shared by every replica, and none is "
            "configured (neither SHIPYARD_SIGNING_KEY_FILE nor SHIPYARD_MASTER_KEY is set)"
        )
    with store.read() as uow:
        row = _active(uow)
    if row is None:
        raise SigningKeyMissing(
            "SHIPYARD_MASTER_KEY is set but the database holds no signing key",
            "run `shipyard key create` once, with this SHIPYARD_DATABASE_URL and master key",
        )
    pem = keyseal.unseal(bytes(row.sealed), master, row.key_id)
    return Signer.from_pem(pem, f"the signing key {row.key_id} in the database")


def _put(uow: UnitOfWork, signer: Signer, master: str, actor: str) -> None:
    uow.conn.execute(
        server_keys.insert(),
        {
            "key_id": signer.key_id,
            "public_key": signer.public_key,
            "sealed": keyseal.seal(signer.private_pem(), master, signer.key_id),
            "created_at": utcnow(),
            "created_by": actor,
            "retired_at": None,
        },
    )
    register_public(uow, signer.key_id, signer.public_key, actor)


class KeyMade(TypedDict):
    """`shipyard key create` and `rotate`: the new signing key, and the key it retired."""

    key_id: str
    public_key: str  # hex
    public_pem: str
    previous: str | None


def _view(signer: Signer, previous: str | None) -> KeyMade:
    return {
        "key_id": signer.key_id,
        "public_key": signer.public_key.hex(),
        "public_pem": signer.public_pem(),
        "previous": previous,
    }


def create(store: Store, actor: str, from_file: Path | None = None) -> KeyMade:
    """Seal a new key (or the PEM key in ``from_file``) into the database as the signing key."""
    master = _master()
    signer = Signer.load_file(from_file) if from_file is not None else Signer.generate()
    with store.begin() as uow:
        active = _active(uow)
        if active is not None:
            raise Conflict(
                f"the database already holds the signing key {active.key_id}",
                "replace it with `shipyard key rotate`; the old key keeps verifying",
                code="signing-key-exists",
            )
        _put(uow, signer, master, actor)
    return _view(signer, previous=None)


def rotate(store: Store, actor: str) -> KeyMade:
    """A new signing key; the one before is retired, and still verifies what it signed."""
    master = _master()
    signer = Signer.generate()
    with store.begin() as uow:
        active = _active(uow)
        previous = active.key_id if active is not None else None
        if active is not None:
            # Opening the old key proves this master key is the one in use before replacing.
            keyseal.unseal(bytes(active.sealed), master, active.key_id)
            uow.conn.execute(
                update(server_keys)
                .where(server_keys.c.key_id == active.key_id)
                .values(retired_at=utcnow())
            )
        _put(uow, signer, master, actor)
        uow.events.append(
            "key.rotated",
            f"key:{signer.key_id}",
            actor,
            {"key_id": signer.key_id, "previous": previous},
            project=KEYS_PROJECT,
        )
    return _view(signer, previous=previous)


class KeyRow(TypedDict):
    """A signing key the database holds, as `shipyard key list` shows it."""

    key_id: str
    public_key: str  # hex
    created_at: str
    created_by: str
    retired_at: str | None
    active: bool


def list_keys(store: Store) -> list[KeyRow]:
    """The keys the database holds, newest first: public halves only."""
    c = server_keys.c
    with store.read() as uow:
        rows = uow.conn.execute(
            select(c.key_id, c.public_key, c.created_at, c.created_by, c.retired_at).order_by(
                c.created_at.desc()
            )
        ).all()
    return [
        {
            "key_id": r.key_id,
            "public_key": bytes(r.public_key).hex(),
            "created_at": r.created_at,
            "created_by": r.created_by,
            "retired_at": r.retired_at,
            "active": r.retired_at is None,
        }
        for r in rows
    ]
