"""The event log's trust does not rest on the database it protects.

An attacker here can write to the database (a stolen backup, a compromised replica, an
operator) but holds neither the signing key file nor the checkpoints exported out of the
database. Each attack from the issue is made with SQL and the log's own hashing, as such an
attacker would, and `shipyard audit verify` (the real command, on SQLite and PostgreSQL) must
fail naming why.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
from sqlalchemy import create_engine, text
from sqlalchemy.engine import Connection

from shipyard.adapters.signing import verify
from shipyard.domain import canonical, merkle
from shipyard.domain.signednote import VerifierKey, open_note, parse_vkey
from shipyard.services.compliance import audit
from shipyard.settings import Settings
from shipyard.store.uow import Store
from tests import gitrepo
from tests.e2e.helpers import as_json, running_server, shipyard
from tests.witness import Witness, running


@dataclass
class Log:
    repo: Path
    env: dict[str, str]
    url: str
    exported: Path  # the git repository checkpoints are committed to

    def run(self, *args: str, env: dict[str, str] | None = None) -> Any:
        return shipyard(*args, cwd=self.repo, env={**self.env, **(env or {})})

    def ok(self, *args: str) -> Any:
        proc = self.run(*args)
        assert proc.returncode == 0, proc.stderr
        return proc

    def verify(self, *args: str, env: dict[str, str] | None = None) -> tuple[int, str]:
        proc = self.run("audit", "verify", *args, env=env)
        return proc.returncode, proc.stderr + proc.stdout

    def sql(self) -> Iterator[Connection]:
        engine = create_engine(self.url)
        try:
            with engine.begin() as conn:
                yield conn
        finally:
            engine.dispose()


@pytest.fixture
def log(database_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Log:
    """A project whose log holds a few events and two signed checkpoints, exported to a git
    repository outside the database. Made in-process, as the commands would make it, to keep
    each attack's test short; `test_the_log_extends_a_checkpoint_seen_before` makes its
    checkpoints with the command."""
    repo = gitrepo.init(tmp_path / "anchor")
    gitrepo.commit(repo, "chore: start", {"shipyard.yaml": "project: anchor\n"})
    exported = gitrepo.init(tmp_path / "checkpoints")
    env = {"SHIPYARD_DATABASE_URL": database_url, "SHIPYARD_CHECKPOINT_DIR": str(exported)}
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    store = Store.open(Settings(home=repo / ".shipyard", database_url=database_url))
    try:
        for batch in (["first"], ["second", "third"]):
            with store.begin() as uow:
                for name in batch:
                    uow.events.append("token.created", f"token:{name}", "alice", {}, project="*")
            audit.checkpoint(store, "alice")
    finally:
        store.dispose()
    return Log(repo, env, database_url, exported)


def _rows(conn: Connection) -> list[list[Any]]:
    q = "SELECT seq, ts, project, kind, subject, actor, payload FROM events ORDER BY seq"
    return [list(r) for r in conn.execute(text(q))]


def _rewrite(conn: Connection, rows: list[list[Any]]) -> bytes:
    """Write ``rows`` as the whole log with fresh leaf and tree hashes, and recompute the head
    (the seal is the one thing the attacker cannot make); returns the new root."""
    conn.execute(text("DELETE FROM events"))
    frontier = merkle.Frontier()
    for seq, ts, project, kind, subject, actor, payload in rows:
        event = canonical.event_bytes(seq, ts, project, kind, subject, actor, payload)
        leaf = merkle.leaf_hash(event)
        frontier.append(leaf)
        conn.execute(
            text(
                "INSERT INTO events (seq, project, ts, kind, subject, actor, payload, leaf_hash,"
                " root_hash) VALUES (:seq, :project, :ts, :kind, :subject, :actor, :payload,"
                " :leaf, :root)"
            ),
            {
                "seq": seq,
                "project": project,
                "ts": ts,
                "kind": kind,
                "subject": subject,
                "actor": actor,
                "payload": payload,
                "leaf": leaf,
                "root": frontier.root(),
            },
        )
    conn.execute(
        text("UPDATE log_head SET size = :size, root_hash = :root, frontier = :frontier"),
        {"size": frontier.size, "root": frontier.root(), "frontier": b"".join(frontier.nodes)},
    )
    return frontier.root()


def _checkpoint_sizes(conn: Connection) -> list[int]:
    return [int(n) for (n,) in conn.execute(text("SELECT tree_size FROM checkpoints"))]


def test_forged_append_with_a_recomputed_head_is_caught(log: Log) -> None:
    """An event appended by hand with the tree head recomputed fails verification (the head
    lacks the signing key's seal), and Shipyard refuses to write on top of it."""
    for conn in log.sql():
        rows = _rows(conn)
        n = len(rows)
        forged = [n, rows[-1][1], "anchor", "release.approved", "release:9.9.9", "mallory", "{}"]
        _rewrite(conn, [*rows, forged])
    status, out = log.verify()
    assert status == 4 and "audit-tampered" in out
    assert "does not carry the signing key's seal" in out
    refused = log.run("token", "create", "--role", "viewer", "--name", "after")
    assert refused.returncode == 4 and "seal" in refused.stderr
    for conn in log.sql():
        assert len(_rows(conn)) == n + 1  # nothing written on top of the forged head


def test_truncation_below_a_signed_checkpoint_is_caught(log: Log) -> None:
    """Events removed from the tail and the head recomputed, while a signed checkpoint for a
    larger tree exists, fail as a truncation, naming both sizes."""
    for conn in log.sql():
        rows = _rows(conn)
        largest = max(_checkpoint_sizes(conn))
        _rewrite(conn, rows[: largest - 2])
    status, out = log.verify()
    assert status == 4 and "truncated" in out
    assert f"holds {largest - 2} events" in out and f"saw {largest}" in out


def test_truncation_with_the_checkpoints_deleted_is_caught_by_the_exported_one(log: Log) -> None:
    """Truncating and deleting every checkpoint row is still a truncation: the checkpoint
    exported to the folder (a git repository) saw the larger tree."""
    for conn in log.sql():
        rows = _rows(conn)
        conn.execute(text("DELETE FROM checkpoints"))
        _rewrite(conn, rows[:2])
    status, out = log.verify()
    assert status == 4 and "truncated" in out
    assert str(log.exported / "checkpoint") in out


def test_history_rewritten_and_checkpoints_deleted_is_caught(log: Log) -> None:
    """A rewritten history with fresh hashes and no checkpoint rows left fails against the
    exported checkpoint, given with --checkpoint (file) or found in SHIPYARD_CHECKPOINT_DIR;
    and, with no exported checkpoint at all, on the head's missing seal."""
    saved = log.exported / "checkpoint"
    kept = log.repo.parent / "seen-before.note"
    kept.write_bytes(saved.read_bytes())
    for conn in log.sql():
        rows = _rows(conn)
        rows[1][5] = "mallory"
        _rewrite(conn, rows)
        conn.execute(text("DELETE FROM checkpoints"))
    status, out = log.verify()
    assert status == 4 and "was rewritten" in out and str(saved) in out
    no_folder = {"SHIPYARD_CHECKPOINT_DIR": ""}
    status, out = log.verify("--checkpoint", str(kept), env=no_folder)
    assert status == 4 and "was rewritten" in out and str(kept) in out
    status, out = log.verify(env=no_folder)
    assert status == 4 and "does not carry the signing key's seal" in out


def test_attacker_key_inserted_and_checkpoints_resigned_is_caught(log: Log) -> None:
    """A rewritten history whose checkpoints are re-signed with a key the attacker put in the
    key table fails: only keys configured outside the database are trusted."""
    mallory = Ed25519PrivateKey.generate()
    public = mallory.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)
    key_id = hashlib.sha256(public).hexdigest()[:16]
    for conn in log.sql():
        rows = _rows(conn)
        rows[0][5] = "mallory"
        sizes = _checkpoint_sizes(conn)
        _rewrite(conn, rows)
        conn.execute(
            text("INSERT INTO signing_keys VALUES (:k, :p, '2026-01-01T00:00:00.000000Z')"),
            {"k": key_id, "p": public},
        )
        for size in sizes:
            frontier = merkle.Frontier()
            for (leaf,) in conn.execute(
                text("SELECT leaf_hash FROM events WHERE seq < :n ORDER BY seq"), {"n": size}
            ):
                frontier.append(bytes(leaf))
            body = canonical.checkpoint_body("shipyard", size, frontier.root())
            conn.execute(
                text(
                    "UPDATE checkpoints SET root_hash = :r, key_id = :k, signature = :s"
                    " WHERE tree_size = :n"
                ),
                {"r": frontier.root(), "k": key_id, "s": mallory.sign(body), "n": size},
            )
    status, out = log.verify(env={"SHIPYARD_CHECKPOINT_DIR": ""})
    assert status == 4 and f"signed by key {key_id}, which is not a trusted key" in out


def test_the_log_extends_a_checkpoint_seen_before(log: Log, tmp_path: Path) -> None:
    """An untouched log verifies against an earlier exported checkpoint, with a consistency
    proof that RFC 9162's verifier accepts; the checkpoints are commits in the git folder."""
    seen = tmp_path / "seen.note"
    seen.write_bytes((log.exported / "checkpoint").read_bytes())
    log.ok("token", "create", "--role", "viewer", "--name", "later")
    made = as_json(log.ok("audit", "checkpoint", "--json"))
    assert made["exported"] == [str(log.exported / "checkpoint")]
    assert made["note"] == (log.exported / "checkpoint").read_text()
    data = as_json(log.run("audit", "verify", "--checkpoint", str(seen), "--json"))
    assert data["ok"] and data["head_sealed"] is True
    proof = next(p for p in data["consistency"] if p["checkpoint"] == str(seen))
    assert proof["first"] < proof["second"] == data["tree_size"]
    assert merkle.verify_consistency(
        proof["first"],
        proof["second"],
        bytes.fromhex(proof["first_root"]),
        bytes.fromhex(proof["second_root"]),
        [bytes.fromhex(p) for p in proof["proof"]],
    )
    history = gitrepo.git(log.exported, "log", "--format=%s")
    assert history.splitlines() == ["checkpoint 5", "checkpoint 4", "checkpoint 2"]


def test_a_checkpoint_is_not_signed_over_a_tampered_log(log: Log) -> None:
    """`audit checkpoint` verifies first: it refuses to sign a rewritten log, and the exported
    checkpoint stays the last good one."""
    before = (log.exported / "checkpoint").read_bytes()
    for conn in log.sql():
        rows = _rows(conn)
        rows[2][5] = "mallory"
        _rewrite(conn, rows)
    proc = log.run("audit", "checkpoint")
    assert proc.returncode == 4 and "audit-tampered" in proc.stderr
    assert (log.exported / "checkpoint").read_bytes() == before


def test_an_untrusted_verifier_key_fails_every_checkpoint(log: Log) -> None:
    """With SHIPYARD_TRUSTED_KEYS naming another key, the log's own checkpoints do not count:
    verification fails and names the trusted key's source."""
    other = Ed25519PrivateKey.generate().public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)
    vkey = VerifierKey("shipyard", other).text()
    status, out = log.verify(env={"SHIPYARD_TRUSTED_KEYS": vkey})
    assert status == 4 and "not a trusted key" in out and "SHIPYARD_TRUSTED_KEYS" in out


def test_checkpoints_go_to_a_witness_with_their_consistency_proof(log: Log) -> None:
    """With SHIPYARD_WITNESS_URLS set, `audit checkpoint` sends a C2SP add-checkpoint request;
    a witness that saw an older size answers 409 with it, gets the consistency proof from that
    size, cosigns, and its cosignature is kept in the exported note (which still verifies)."""
    public = as_json(log.ok("audit", "public-key", "--json"))["vkey"]
    witness = Witness(log_key=parse_vkey(public))
    with running(witness) as url:
        env = {"SHIPYARD_WITNESS_URLS": url}
        first = log.run("audit", "checkpoint", "--json", env=env)
        assert first.returncode == 0, first.stderr
        log.ok("token", "create", "--role", "viewer", "--name", "later")
        second = log.run("audit", "checkpoint", "--json", env=env)
        assert second.returncode == 0, second.stderr
    first_size = as_json(first)["tree_size"]
    assert witness.requests == [(200, 0), (409, 0), (200, first_size)]
    assert as_json(second)["witnesses"] == [{"url": url, "cosignatures": 1}]
    note = (log.exported / "checkpoint").read_text()
    assert f"\u2014 {witness.name} " in note
    cosigner = VerifierKey(witness.name, witness.public)
    assert open_note(note, [cosigner], verify)[0].startswith("shipyard\n")
    assert log.verify()[0] == 0


def test_a_client_checks_the_servers_log_against_its_own_checkpoint(log: Log) -> None:
    """Against a server, `audit verify --checkpoint FILE` passes for an untouched log, with
    the note's signature checked by the client's SHIPYARD_TRUSTED_KEYS; once the server's log
    is rewritten, the client is told so."""
    seen = log.repo.parent / "seen.note"
    seen.write_bytes((log.exported / "checkpoint").read_bytes())
    vkey = as_json(log.ok("audit", "public-key", "--json"))["vkey"]
    token = as_json(log.ok("token", "create", "--role", "viewer", "--json"))["token"]
    # A server on PostgreSQL signs with a configured key: the one this log was made with.
    key = {"SHIPYARD_SIGNING_KEY_FILE": str(log.repo / ".shipyard" / "keys" / "ed25519.pem")}
    with running_server(log.repo, env={**log.env, **key}) as url:
        client = {
            "SHIPYARD_SERVER": url,
            "SHIPYARD_TOKEN": token,
            "SHIPYARD_TRUSTED_KEYS": vkey,
            "SHIPYARD_CHECKPOINT_DIR": "",
        }
        status, out = log.verify("--checkpoint", str(seen), "--json", env=client)
        assert status == 0, out
        for conn in log.sql():
            rows = _rows(conn)
            rows[1][5] = "mallory"
            _rewrite(conn, rows)
            conn.execute(text("DELETE FROM checkpoints"))
        status, out = log.verify("--checkpoint", str(seen), env=client)
    assert status == 4 and "was rewritten" in out
