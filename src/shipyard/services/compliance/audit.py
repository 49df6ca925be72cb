"""Use cases over the event log: record, verify, prove, checkpoint."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, TypedDict

from sqlalchemy import select

from shipyard.domain import audit, canonical, merkle, signednote
from shipyard.errors import AuditTampered, InputError
from shipyard.store.append import utcnow
from shipyard.store.schema import projects, signing_keys

if TYPE_CHECKING:  # types only: the store opens its signer through keys.py, which uses this
    from shipyard.adapters.checkpoints import Witnessed
    from shipyard.adapters.trust import TrustedKeyOut, TrustSet
    from shipyard.store.events import EventOut
    from shipyard.store.uow import Store, UnitOfWork


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


@dataclass(frozen=True)
class Note:
    """A checkpoint from outside the database: where it came from, and its bytes."""

    source: str
    data: bytes


def _note_checkpoint(note: Note, trust: TrustSet, origin: str) -> audit.Checkpoint:
    """A signed note as a checkpoint to hold the log to; one no trusted key signed, or for
    another log, counts as a bad checkpoint and names why."""
    from shipyard.adapters import signing

    try:
        text, _by = signednote.open_note(note.data, trust.vkeys(), signing.verify)
        cp = signednote.parse_checkpoint(text)
    except InputError as exc:
        return audit.Checkpoint(0, b"", False, note.source, f"does not count: {exc.message}")
    if cp.origin != origin:
        why = f"is for the log '{cp.origin}', not '{origin}' (SHIPYARD_LOG_ORIGIN)"
        return audit.Checkpoint(cp.tree_size, cp.root_hash, False, note.source, why)
    return audit.Checkpoint(cp.tree_size, cp.root_hash, True, note.source)


def exported_notes() -> list[Note]:
    """The newest checkpoint written to SHIPYARD_CHECKPOINT_DIR, if any."""
    from shipyard.adapters import checkpoints as export

    where = export.folder()
    path = where / export.FILE if where is not None else None
    if path is None or not path.exists():
        return []
    return [Note(str(path), export.read(str(path)))]


def note_of(origin: str, size: int, root: bytes, public_key: bytes, sig: bytes) -> str:
    """The C2SP signed note of a stored checkpoint (Ed25519 signs deterministically, so the
    stored signature is the note's)."""
    text = signednote.checkpoint_text(origin, size, root)
    return signednote.sign(text, origin, public_key, lambda _m: sig)


class CheckpointMade(TypedDict):
    """`shipyard audit checkpoint`: the tree head signed, and where it was sent."""

    origin: str
    tree_size: int
    root_hash: str
    key_id: str
    signature: str
    note: str
    exported: list[str]  # files written
    witnesses: list[Witnessed]


def checkpoint(store: Store, actor: str) -> CheckpointMade:
    """Sign the current tree head and keep it; then send it out of the database (a folder,
    witnesses) so that later verification can hold the log to it.

    Refused when the log does not verify: a log signs no checkpoint inconsistent with one it
    signed before (c2sp.org/tlog-checkpoint), nor a head it did not seal.
    """
    from shipyard.adapters import checkpoints as export
    from shipyard.adapters.trust import origin as log_origin
    from shipyard.store import seal

    name = log_origin()
    verify_or_raise(store, exported_notes())
    signer = store.signer
    with store.begin() as uow:
        register_key(store, uow, actor)
        size, root = uow.events.head()
        if not seal.holds(store.seal_key(), size, root, uow.events.head_seal()):
            raise seal.broken(size)
        sig = signer.sign(canonical.checkpoint_body(name, size, root))
        uow.events.add_checkpoint(size, root, signer.key_id, sig)
    note = note_of(name, size, root, signer.public_key, sig)

    def proof_from(old: int) -> list[bytes]:
        with store.read() as uow:
            return merkle.consistency_proof(uow.events.leaves(size), old, size)

    out = export.export(note, size, proof_from)
    return {
        "origin": name,
        "tree_size": size,
        "root_hash": root.hex(),
        "key_id": signer.key_id,
        "signature": sig.hex(),
        "note": out.note,
        "exported": out.files,
        "witnesses": out.witnesses,
    }


class CheckpointKept(TypedDict):
    """The newest checkpoint in the database."""

    tree_size: int
    root_hash: str
    key_id: str
    created_at: str
    note: str | None  # None: its key's ``key.registered`` event is missing


def latest_checkpoint(store: Store) -> CheckpointKept | None:
    """The newest signed checkpoint kept in the database, as a C2SP signed note, or None."""
    from shipyard.adapters.trust import origin as log_origin

    with store.read() as uow:
        kept = uow.events.checkpoints()
        keys = registered_keys(uow)
    if not kept:
        return None
    size, root, created_at, key_id, sig = kept[-1]
    key = keys.get(key_id)
    note = note_of(log_origin(), size, root, key, sig) if key is not None else None
    return {
        "tree_size": size,
        "root_hash": root.hex(),
        "key_id": key_id,
        "created_at": created_at,
        "note": note,
    }


def public_key(store: Store) -> dict[str, str]:
    from shipyard.adapters.trust import origin

    signer = store.signer
    vkey = signednote.VerifierKey(origin(), signer.public_key)
    return {"key_id": signer.key_id, "pem": signer.public_pem(), "vkey": vkey.text()}


class ConsistencyProof(TypedDict):
    """That the tree of size ``first`` is a prefix of the tree of size ``second``."""

    first: int
    second: int
    first_root: str
    second_root: str
    proof: list[str]


class CheckpointHeld(ConsistencyProof):
    """A checkpoint from outside the database, proved consistent with the log's head."""

    checkpoint: str  # where it came from
    verified: bool


class Verification(TypedDict):
    """`shipyard audit verify`: the log against its hashes, sealed head and checkpoints."""

    ok: bool
    tree_size: int
    root_hash: str
    first_bad_seq: int | None
    problem: str
    checkpoints_checked: int
    head_sealed: bool | None  # None: no seal key to check it with
    trusted_keys: list[TrustedKeyOut]
    consistency: list[CheckpointHeld]


@dataclass(frozen=True)
class VerifyResult:
    report: audit.Report
    trust: TrustSet | None = None
    head_sealed: bool | None = None
    consistency: tuple[CheckpointHeld, ...] = ()

    def to_dict(self) -> Verification:
        r = self.report
        return {
            "ok": r.ok,
            "tree_size": r.size,
            "root_hash": r.root_hash.hex(),
            "first_bad_seq": r.first_bad_seq,
            "problem": r.problem,
            "checkpoints_checked": r.checkpoints_checked,
            "head_sealed": self.head_sealed,
            "trusted_keys": self.trust.describe() if self.trust else [],
            "consistency": list(self.consistency),
        }


def verify(
    store: Store,
    notes: Sequence[Note] = (),
    trust: TrustSet | None = None,
    *,
    include_exported: bool = True,
) -> VerifyResult:
    """The log against its own hashes, its sealed head, and every signed checkpoint: those in
    the database and ``notes`` from outside it (plus the newest one in SHIPYARD_CHECKPOINT_DIR),
    each counted only when a key trusted from outside the database signed it."""
    from shipyard.adapters import signing
    from shipyard.adapters import trust as trusted
    from shipyard.store import seal

    trust = trust or trusted.load(store)
    name = trusted.origin()
    keys = trust.by_key_id()
    notes = [*notes, *(exported_notes() if include_exported else [])]
    outside = [_note_checkpoint(n, trust, name) for n in notes]
    with store.read() as uow:
        cps = []
        for size, root, _ts, key, sig in uow.events.checkpoints():
            body = canonical.checkpoint_body(name, size, root)
            if key not in keys:
                why = (
                    f"is signed by key {key}, which is not a trusted key (trusted: "
                    f"{', '.join(keys) or 'none'}, from {trust.source}); a key in the database's "
                    "key table is never trusted by itself"
                )
                cps.append(audit.Checkpoint(size, root, False, "the database", why))
            else:
                ok = signing.verify(keys[key], body, sig)
                cps.append(audit.Checkpoint(size, root, ok, "the database"))
        head_size, head_root = uow.events.head()
        mac_key = seal.seal_key(store.home, create=False)
        sealed = (
            None
            if mac_key is None
            else seal.holds(mac_key, head_size, head_root, uow.events.head_seal())
        )
        report = audit.verify(uow.events.rows(), cps + outside, head_size, head_root, sealed)
        proofs: list[CheckpointHeld] = []
        if report.ok:
            leaves = uow.events.leaves(head_size) if outside else []
            for cp in outside:
                proof = merkle.consistency_proof(leaves, cp.tree_size, head_size)
                held = merkle.verify_consistency(
                    cp.tree_size, head_size, cp.root_hash, head_root, proof
                )
                proofs.append(
                    {
                        "checkpoint": cp.source,
                        "first": cp.tree_size,
                        "second": head_size,
                        "first_root": cp.root_hash.hex(),
                        "second_root": head_root.hex(),
                        "proof": [p.hex() for p in proof],
                        "verified": held,
                    }
                )
    return VerifyResult(report, trust, sealed, tuple(proofs))


def verify_or_raise(store: Store, notes: Sequence[Note] = ()) -> VerifyResult:
    result = verify(store, notes)
    if not result.report.ok:
        raise AuditTampered(
            f"audit log verification failed at event {result.report.first_bad_seq}: "
            f"{result.report.problem}",
            details=result.to_dict(),
        )
    return result


class InclusionProof(TypedDict):
    """That event ``leaf_index`` is in the tree of size ``tree_size`` (RFC 9162)."""

    leaf_index: int
    tree_size: int
    leaf_hash: str
    root_hash: str
    audit_path: list[str]


def prove_inclusion(store: Store, seq: int, tree_size: int | None = None) -> InclusionProof:
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


def prove_consistency(store: Store, first: int, second: int | None = None) -> ConsistencyProof:
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


class EventPage(TypedDict):
    events: list[EventOut]  # oldest first


def log(
    store: Store,
    *,
    kind: str | None = None,
    subject: str | None = None,
    since: str | None = None,
    limit: int = 100,
    project: str | None = None,
) -> EventPage:
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

    from shipyard.domain.calendar import time_or_ago

    try:
        when = time_or_ago(value, datetime.now(UTC))
    except (ValueError, InputError) as exc:
        raise InputError(
            f"--since '{value}' is neither a date nor a duration",
            "use 2026-11-01, 2026-11-01T12:00:00Z or a duration such as 7d or 12h",
            code="since-invalid",
        ) from exc
    return when.strftime("%Y-%m-%dT%H:%M:%S.%fZ")
