"""The event log's verification, as pure functions over rows (its bytes: ``canonical``)."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from shipyard.domain import merkle
from shipyard.domain.canonical import event_bytes


@dataclass(frozen=True)
class Row:
    seq: int
    ts: str
    project: str
    kind: str
    subject: str
    actor: str
    payload: str
    leaf_hash: bytes
    root_hash: bytes


@dataclass(frozen=True)
class Checkpoint:
    tree_size: int
    root_hash: bytes
    signature_ok: bool
    source: str = "the database"  # where it was read: the database, a file, a URL
    detail: str = ""  # why its signature does not count, when it does not


@dataclass(frozen=True)
class Report:
    ok: bool
    size: int
    root_hash: bytes
    first_bad_seq: int | None = None
    problem: str = ""
    checkpoints_checked: int = 0


def verify(
    rows: Iterable[Sequence[Any]],
    checkpoints: Sequence[Checkpoint],
    head_size: int,
    head_root: bytes,
    head_sealed: bool | None = None,
) -> Report:
    """Recompute every leaf and the tree; name the first sequence number that does not fit.

    ``rows`` are tuples in ``Row`` field order, by ascending seq. ``checkpoints`` are signed
    tree heads, from the database or from outside it; only those whose signature a trusted key
    made may be handed in as ``signature_ok``. ``head_sealed`` says whether the stored head
    carries the signing key's seal (None: not checked, the key is not at hand).

    Fast path: one leaf hash and amortised one node hash per event; stored per-event roots
    are only read back to locate a problem once the tree head is known to be wrong.
    """
    by_size: dict[int, list[Checkpoint]] = {}
    for c in checkpoints:
        if not c.signature_ok:
            why = c.detail or "has a bad signature"
            return Report(
                False,
                0,
                merkle.EMPTY_ROOT,
                None,
                f"the checkpoint at tree size {c.tree_size} in {c.source} {why}",
            )
        by_size.setdefault(c.tree_size, []).append(c)
    frontier = merkle.Frontier()
    leaves: list[bytes] = []
    stored_roots: list[bytes] = []
    good_checkpoint = 0
    expected = 0
    for seq, ts, project, kind, subject, actor, payload, leaf, root in rows:
        if seq != expected:
            if seq > expected:
                return _fail(frontier, expected, f"event {expected} is missing (next is {seq})")
            return _fail(frontier, seq, f"event {seq} appears out of order")
        computed = merkle.leaf_hash(event_bytes(seq, ts, project, kind, subject, actor, payload))
        if computed != leaf:
            return _fail(
                frontier,
                seq,
                f"event {seq} was altered: its content no longer hashes to its recorded leaf hash",
            )
        frontier.append(computed)
        leaves.append(computed)
        stored_roots.append(root)
        expected += 1
        for cp in by_size.get(expected, ()):
            if frontier.root() != cp.root_hash:
                bad = _locate(leaves, stored_roots, good_checkpoint)
                return _fail(
                    frontier,
                    bad,
                    f"the log before tree size {expected} was rewritten: event {bad} does not "
                    f"match the signed checkpoint in {cp.source}",
                )
            good_checkpoint = expected
    beyond = [c for c in checkpoints if c.tree_size > expected]
    if beyond:
        cp = max(beyond, key=lambda c: c.tree_size)
        return _fail(
            frontier,
            expected,
            f"the log was truncated: it holds {expected} events, but the signed checkpoint in "
            f"{cp.source} saw {cp.tree_size}",
        )
    if expected < head_size:
        return _fail(frontier, expected, f"events {expected}..{head_size - 1} are missing")
    if expected > head_size:
        return _fail(frontier, head_size, f"event {head_size} was added outside the log")
    root = frontier.root()
    if root != head_root or (stored_roots and stored_roots[-1] != root):
        bad = _locate(leaves, stored_roots, good_checkpoint)
        return _fail(frontier, bad, f"event {bad} does not match the recorded tree head")
    if head_sealed is False:
        return _fail(
            frontier,
            good_checkpoint,
            f"the tree head (size {expected}) does not carry the signing key's seal: the log was "
            "changed outside Shipyard and its head recomputed (events added, removed or "
            f"rewritten); only events before {good_checkpoint} are vouched for, by a signed "
            "checkpoint",
        )
    return Report(True, expected, root, checkpoints_checked=len(checkpoints))


def _fail(frontier: merkle.Frontier, seq: int, problem: str) -> Report:
    return Report(False, frontier.size, frontier.root(), seq, problem)


def _locate(leaves: list[bytes], stored_roots: list[bytes], start: int) -> int:
    """The first seq whose recorded tree head differs from the recomputed one."""
    frontier = merkle.Frontier()
    for i, (leaf, stored) in enumerate(zip(leaves, stored_roots, strict=True)):
        frontier.append(leaf)
        if i >= start and frontier.root() != stored:
            return i
    return start
