"""Use cases over the event log: record, verify, prove, checkpoint."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import select

from shipyard.domain import audit, canonical, merkle
from shipyard.errors import AuditTampered, InputError
from shipyard.store.events import utcnow
from shipyard.store.schema import projects, signing_keys
from shipyard.store.uow import Store, UnitOfWork

ORIGIN = "shipyard"


def ensure_project(uow: UnitOfWork, name: str) -> None:
    exists = uow.conn.execute(select(projects.c.name).where(projects.c.name == name)).first()
    if exists is None:
        uow.conn.execute(projects.insert(), {"name": name, "created_at": utcnow()})


KEYS_PROJECT = "*"  # signing keys belong to the whole store, not to one project


def register_key(store: Store, uow: UnitOfWork, actor: str) -> None:
    """Put the store's signing key in the key table and record ``key.registered``.

    Verification trusts a key only through its event, which the log's hashes and signed heads
    protect; a key row added by hand is not trusted. A key row without its event (made before
    keys had events) gets the event the next time this, the configured key, signs something.
    """
    signer = store.signer
    register_public(uow, signer.key_id, signer.public_key, actor)


def register_public(uow: UnitOfWork, key_id: str, public_key: bytes, actor: str) -> None:
    """Put a public key in the key table with its ``key.registered`` event, once."""
    row = uow.conn.execute(
        select(signing_keys.c.key_id).where(signing_keys.c.key_id == key_id)
    ).first()
    if row is None:
        uow.conn.execute(
            signing_keys.insert(),
            {"key_id": key_id, "public_key": public_key, "created_at": utcnow()},
        )
    elif registered_keys(uow).get(key_id) is not None:
        return
    uow.events.append(
        "key.registered",
        f"key:{key_id}",
        actor,  # whoever's action first signed with it
        {"key_id": key_id, "algorithm": "ed25519", "public_key": public_key.hex()},
        project=KEYS_PROJECT,
    )


def registered_keys(uow: UnitOfWork) -> dict[str, bytes]:
    """Key id -> public key, as the ``key.registered`` events recorded them (first wins)."""
    out: dict[str, bytes] = {}
    for e in uow.events.query(project=KEYS_PROJECT, kind="key.registered"):
        try:
            out.setdefault(str(e.payload["key_id"]), bytes.fromhex(e.payload["public_key"]))
        except (KeyError, ValueError, TypeError):
            continue
    return out


def checkpoint(store: Store, actor: str) -> dict[str, Any]:
    """Sign the current tree head and keep it; later verification holds the log to it."""
    signer = store.signer
    with store.begin() as uow:
        register_key(store, uow, actor)
        size, root = uow.events.head()
        sig = signer.sign(canonical.checkpoint_body(ORIGIN, size, root))
        uow.events.add_checkpoint(size, root, signer.key_id, sig)
    return {
        "origin": ORIGIN,
        "tree_size": size,
        "root_hash": root.hex(),
        "key_id": signer.key_id,
        "signature": sig.hex(),
        "note": canonical.checkpoint_body(ORIGIN, size, root).decode(),
    }


@dataclass(frozen=True)
class VerifyResult:
    report: audit.Report

    def to_dict(self) -> dict[str, Any]:
        r = self.report
        return {
            "ok": r.ok,
            "tree_size": r.size,
            "root_hash": r.root_hash.hex(),
            "first_bad_seq": r.first_bad_seq,
            "problem": r.problem,
            "checkpoints_checked": r.checkpoints_checked,
        }


def verify(store: Store) -> VerifyResult:
    from shipyard.adapters import signing  # cryptography: only verification needs it

    with store.read() as uow:
        keys = {
            k: bytes(pk)
            for k, pk in uow.conn.execute(select(signing_keys.c.key_id, signing_keys.c.public_key))
        }
        cps = [
            audit.Checkpoint(
                size,
                root,
                key in keys
                and signing.verify(keys[key], canonical.checkpoint_body(ORIGIN, size, root), sig),
            )
            for size, root, _ts, key, sig in uow.events.checkpoints()
        ]
        head_size, head_root = uow.events.head()
        report = audit.verify(uow.events.rows(), cps, head_size, head_root)
    return VerifyResult(report)


def verify_or_raise(store: Store) -> VerifyResult:
    result = verify(store)
    if not result.report.ok:
        raise AuditTampered(
            f"audit log verification failed at event {result.report.first_bad_seq}: "
            f"{result.report.problem}",
            details=result.to_dict(),
        )
    return result


def prove_inclusion(store: Store, seq: int, tree_size: int | None = None) -> dict[str, Any]:
    with store.read() as uow:
        size, _root = uow.events.head()
        n = size if tree_size is None else tree_size
        if not 0 <= seq < n or n > size:
            raise InputError(
                f"event {seq} is not in a tree of size {n} (the log holds {size} events)",
                f"choose a sequence number from 0 to {size - 1}" if size else "the log is empty",
                code="audit-seq-out-of-range",
            )
        leaves = uow.events.leaves(n)
    proof = merkle.inclusion_proof(leaves, seq, n)
    return {
        "leaf_index": seq,
        "tree_size": n,
        "leaf_hash": leaves[seq].hex(),
        "root_hash": merkle.root(leaves).hex(),
        "audit_path": [p.hex() for p in proof],
    }


def prove_consistency(store: Store, first: int, second: int | None = None) -> dict[str, Any]:
    with store.read() as uow:
        size, _root = uow.events.head()
        n = size if second is None else second
        if not 0 <= first <= n <= size:
            raise InputError(
                f"cannot prove size {first} consistent with size {n} (the log holds {size})",
                "give OLD <= NEW <= the current tree size",
                code="audit-size-out-of-range",
            )
        leaves = uow.events.leaves(n)
    return {
        "first": first,
        "second": n,
        "first_root": merkle.root(leaves[:first]).hex(),
        "second_root": merkle.root(leaves).hex(),
        "proof": [p.hex() for p in merkle.consistency_proof(leaves, first, n)],
    }


def log(
    store: Store,
    *,
    kind: str | None = None,
    subject: str | None = None,
    since: str | None = None,
    limit: int = 100,
    project: str | None = None,
) -> dict[str, Any]:
    cutoff = parse_since(since) if since else None
    with store.read() as uow:
        rows = uow.events.query(
            project=project, kind=kind, subject=subject, since=cutoff, limit=limit, descending=True
        )
    return {"events": [e.to_dict() for e in reversed(rows)]}


def in_project(store: Store, seq: int, project: str) -> bool:
    """Whether event ``seq`` belongs to ``project``."""
    with store.read() as uow:
        found = uow.events.query(project=project, after_seq=seq - 1, limit=1)
    return bool(found) and found[0].seq == seq


def parse_since(value: str) -> str:
    """An ISO date/time, or a duration back from now ('7d'), as the log's timestamp format."""
    from datetime import UTC, datetime

    from shipyard.domain.calendar import parse_duration

    try:
        if value[:1].isdigit() and not value[-1].isdigit() and "-" not in value:
            return (datetime.now(UTC) - parse_duration(value)).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
        when = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except (ValueError, InputError) as exc:
        raise InputError(
            f"--since '{value}' is neither a date nor a duration",
            "use 2026-11-01, 2026-11-01T12:00:00Z or a duration such as 7d or 12h",
            code="since-invalid",
        ) from exc
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return when.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
