"""The event log on a real database: SQLite and PostgreSQL."""

from __future__ import annotations

import multiprocessing as mp
from pathlib import Path

import pytest
from sqlalchemy import text

from shipyard.domain import merkle
from shipyard.errors import AuditTampered, DatabaseUnreachable, InputError
from shipyard.services.compliance import audit
from shipyard.settings import Settings
from shipyard.store.uow import Store


def _fill(store: Store, n: int, project: str = "p") -> None:
    with store.begin() as uow:
        for i in range(n):
            uow.events.append("test.event", f"thing:{i}", "alice", {"i": i}, project=project)


def test_append_then_verify(store: Store) -> None:
    """Appended events verify, and the tree head equals the RFC 9162 root of their leaves."""
    _fill(store, 25)
    result = audit.verify(store).report
    assert result.ok and result.size == 25
    with store.read() as uow:
        assert merkle.root(uow.events.leaves(25)) == result.root_hash


def test_events_roll_back_with_their_transaction(store: Store) -> None:
    """An event appended in a failed transaction is not in the log, which still verifies."""
    _fill(store, 3)
    with pytest.raises(RuntimeError), store.begin() as uow:
        uow.events.append("test.event", "x", "alice", {}, project="p")
        raise RuntimeError("boom")
    _fill(store, 2)
    report = audit.verify(store).report
    assert report.ok and report.size == 5


def test_payload_that_is_not_json_is_refused(store: Store) -> None:
    """A payload that cannot be canonical JSON is an input error and nothing is written."""
    with pytest.raises(InputError) as err, store.begin() as uow:
        uow.events.append("test.event", "x", "alice", {"x": object()}, project="p")
    assert err.value.code == "event-payload-invalid"
    assert audit.verify(store).report.size == 0


@pytest.mark.parametrize(
    ("sql", "bad_seq"),
    [
        ("UPDATE events SET actor = 'mallory' WHERE seq = 4", 4),
        ("UPDATE events SET payload = '{\"i\":100}' WHERE seq = 7", 7),
        ("DELETE FROM events WHERE seq = 2", 2),
        ("UPDATE events SET kind = 'x' WHERE seq = 0", 0),
    ],
)
def test_hand_edited_rows_are_caught(store: Store, sql: str, bad_seq: int) -> None:
    """Editing or deleting a row by hand fails verification, naming the first bad event."""
    _fill(store, 10)
    with store.engine.begin() as conn:
        conn.exec_driver_sql(sql)
    report = audit.verify(store).report
    assert not report.ok and report.first_bad_seq == bad_seq
    with pytest.raises(AuditTampered) as err:
        audit.verify_or_raise(store)
    assert err.value.code == "audit-tampered" and err.value.exit_code == 4


def test_swapped_rows_are_caught(store: Store) -> None:
    """Swapping the contents of two rows (a reordering) is caught at the earlier one."""
    _fill(store, 6)
    with store.engine.begin() as conn:
        conn.execute(text("UPDATE events SET seq = -1 WHERE seq = 2"))
        conn.execute(text("UPDATE events SET seq = 2 WHERE seq = 3"))
        conn.execute(text("UPDATE events SET seq = 3 WHERE seq = -1"))
    report = audit.verify(store).report
    assert not report.ok and report.first_bad_seq == 2


def test_proofs_verify_with_the_rfc_verifier(store: Store) -> None:
    """Inclusion and consistency proofs from the store verify with the RFC 9162 algorithms."""
    _fill(store, 13)
    for seq in (0, 6, 12):
        p = audit.prove_inclusion(store, seq)
        assert merkle.verify_inclusion(
            bytes.fromhex(p["leaf_hash"]),
            p["leaf_index"],
            p["tree_size"],
            [bytes.fromhex(h) for h in p["audit_path"]],
            bytes.fromhex(p["root_hash"]),
        )
    c = audit.prove_consistency(store, 5, 13)
    assert merkle.verify_consistency(
        5,
        13,
        bytes.fromhex(c["first_root"]),
        bytes.fromhex(c["second_root"]),
        [bytes.fromhex(h) for h in c["proof"]],
    )
    with pytest.raises(InputError) as err:
        audit.prove_inclusion(store, 13)
    assert err.value.code == "audit-seq-out-of-range"


def test_checkpoints_are_signed_and_hold_the_log_to_them(store: Store) -> None:
    """A signed checkpoint verifies, covering the key.registered event of the key that signs
    it; forging its root afterwards fails verification."""
    _fill(store, 4)
    cp = audit.checkpoint(store, "ops@example.com")
    assert cp["tree_size"] == 5 and len(bytes.fromhex(cp["signature"])) == 64
    with store.read() as uow:
        assert list(audit.registered_keys(uow)) == [cp["key_id"]]
    assert audit.verify(store).report.checkpoints_checked == 1
    with store.engine.begin() as conn:
        conn.execute(
            text("UPDATE checkpoints SET root_hash = leaf_hash FROM events WHERE events.seq = 0")
            if store.dialect == "postgresql"
            else text(
                "UPDATE checkpoints SET root_hash = (SELECT leaf_hash FROM events WHERE seq = 0)"
            )
        )
    report = audit.verify(store).report
    assert not report.ok and "signature" in report.problem


def _append_many(url: str, home: str, n: int, who: str) -> None:
    store = Store.open(Settings(home=Path(home), database_url=url))
    for i in range(n):
        with store.begin() as uow:
            uow.events.append("race", f"{who}:{i}", who, {"i": i}, project="p")
    store.dispose()


def test_two_processes_appending_at_once_make_one_valid_log(settings: Settings) -> None:
    """Concurrent writers in two processes leave no gap, no duplicate seq and a valid tree."""
    Store.open(settings).dispose()  # migrate first so both writers start together
    ctx = mp.get_context("spawn")
    procs = [
        ctx.Process(target=_append_many, args=(settings.database_url, str(settings.home), 60, w))
        for w in ("a", "b")
    ]
    for p in procs:
        p.start()
    for p in procs:
        p.join(120)
        assert p.exitcode == 0
    store = Store.open(settings)
    report = audit.verify(store).report
    assert report.ok and report.size == 120
    with store.read() as uow:
        seqs = [e.seq for e in uow.events.query(limit=1000)]
    assert seqs == list(range(120))
    store.dispose()


@pytest.mark.parametrize(
    "url",
    [
        "postgresql+psycopg://nobody@127.0.0.1:1/none",
        "mysql://x@localhost/db",
        "not a url",
    ],
)
def test_unusable_database_url_is_a_clear_error(url: str, tmp_path: Path) -> None:
    """A database that cannot be reached or is not supported gives database-unreachable."""
    with pytest.raises(DatabaseUnreachable) as err:
        Store.open(Settings(home=tmp_path, database_url=url))
    assert err.value.code == "database-unreachable"
    assert err.value.exit_code == 3
