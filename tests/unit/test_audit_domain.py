"""The event log's bytes and its pure verification."""

from __future__ import annotations

import pytest

from shipyard.domain import audit, canonical, merkle


def _rows(n: int) -> list[tuple]:
    rows, f = [], merkle.Frontier()
    for seq in range(n):
        payload = canonical.canonical_json({"n": seq, "name": 'é"x'})
        leaf = merkle.leaf_hash(
            canonical.event_bytes(
                seq, f"2026-01-01T00:00:{seq:02d}.000000Z", "p", "k", f"s{seq}", "alice", payload
            )
        )
        f.append(leaf)
        rows.append(
            (
                seq,
                f"2026-01-01T00:00:{seq:02d}.000000Z",
                "p",
                "k",
                f"s{seq}",
                "alice",
                payload,
                leaf,
                f.root(),
            )
        )
    return rows


@pytest.mark.parametrize(
    "fields",
    [
        ("kind", "subject", "actor", {"b": 1, "a": [1, 2]}),
        ('k"ind', "sübject\n", "act\\or", {"ü": "\u2028", "z": None, "f": 1.5}),
    ],
)
def test_event_bytes_equal_canonical_json_of_the_whole_event(fields: tuple) -> None:
    """The hand-built leaf bytes are exactly the canonical JSON of the event as a mapping."""
    kind, subject, actor, payload = fields
    got = canonical.event_bytes(
        7,
        "2026-01-01T00:00:00.000000Z",
        "proj",
        kind,
        subject,
        actor,
        canonical.canonical_json(payload),
    )
    want = canonical.canonical_json(
        {
            "seq": 7,
            "ts": "2026-01-01T00:00:00.000000Z",
            "project": "proj",
            "kind": kind,
            "subject": subject,
            "actor": actor,
            "payload": payload,
        }
    ).encode()
    assert got == want


def test_intact_log_verifies() -> None:
    """An untouched log verifies and reports its size and root."""
    rows = _rows(20)
    report = audit.verify(rows, [], 20, rows[-1][8])
    assert report.ok and report.size == 20 and report.root_hash == rows[-1][8]


def _edit(rows: list[tuple], i: int, col: int, value: object) -> list[tuple]:
    out = list(rows)
    r = list(out[i])
    r[col] = value
    out[i] = tuple(r)
    return out


@pytest.mark.parametrize(
    ("tamper", "bad_seq", "words"),
    [
        (lambda r: _edit(r, 5, 5, "mallory"), 5, "altered"),
        (lambda r: _edit(r, 3, 6, '{"n":99}'), 3, "altered"),
        (lambda r: r[:7] + r[8:], 7, "missing"),
        (lambda r: r[:4] + [r[5], r[4]] + r[6:], 4, "missing"),
        (lambda r: r[:19], 19, "missing"),
    ],
)
def test_tampering_names_the_first_bad_event(tamper, bad_seq: int, words: str) -> None:
    """Edited, deleted and reordered events are caught at the first bad sequence number."""
    rows = _rows(20)
    report = audit.verify(tamper(rows), [], 20, rows[-1][8])
    assert not report.ok
    assert report.first_bad_seq == bad_seq
    assert words in report.problem


def test_rewritten_leaf_hashes_are_caught_by_the_tree_head() -> None:
    """Recomputing an edited event's leaf hash does not help: the tree head no longer matches."""
    rows = _rows(20)
    r = list(rows[9])
    r[5] = "mallory"
    r[7] = merkle.leaf_hash(canonical.event_bytes(*r[:7]))
    forged = rows[:9] + [tuple(r)] + rows[10:]
    report = audit.verify(forged, [], 20, rows[-1][8])
    assert not report.ok and report.first_bad_seq == 9


def test_a_rewritten_history_fails_the_signed_checkpoint() -> None:
    """A log rebuilt with consistent hashes still fails against an earlier signed checkpoint."""
    rows = _rows(10)
    cp = audit.Checkpoint(10, rows[-1][8], True)
    forged = _rows(10)
    forged = [tuple(list(x[:5]) + ["mallory"] + list(x[6:])) for x in forged]
    rebuilt, f = [], merkle.Frontier()
    for x in forged:
        leaf = merkle.leaf_hash(canonical.event_bytes(*x[:7]))
        f.append(leaf)
        rebuilt.append((*x[:7], leaf, f.root()))
    report = audit.verify(rebuilt, [cp], 10, f.root())
    assert not report.ok and "checkpoint" in report.problem


def test_bad_checkpoint_signature_fails_verification() -> None:
    """A checkpoint whose signature does not verify fails the whole log."""
    rows = _rows(3)
    report = audit.verify(rows, [audit.Checkpoint(3, rows[-1][8], False)], 3, rows[-1][8])
    assert not report.ok and "signature" in report.problem
