"""`shipyard audit`: the tamper-evident event log."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import typer

from shipyard.cli.common import JSON, console, emit, open_store, settings

app = typer.Typer(
    help="Read, verify and prove the event log.", add_completion=False, no_args_is_help=True
)


def _remote(method: str, path: str, **kw: Any) -> Any | None:
    s = settings()
    if not s.server_url:
        return None
    from shipyard.cli.client import call

    return call(s.server_url, s.token, method, path, **kw)


@app.command("log")
def log(
    kind: str | None = typer.Option(None, help="Only this kind (a trailing * matches a prefix)."),
    subject: str | None = typer.Option(None, help="Only events about this subject."),
    since: str | None = typer.Option(None, help="An ISO date/time, or a duration ago: 7d, 12h."),
    limit: int = typer.Option(100, min=1, help="At most this many, newest last."),
    json_: bool = JSON,
) -> None:
    """List events."""
    from shipyard.services.compliance import audit

    params = {"kind": kind, "subject": subject, "since": since, "limit": limit}
    data = _remote(
        "GET", "/api/v1/audit/events", params={k: v for k, v in params.items() if v is not None}
    )
    if data is None:
        data = audit.log(open_store(), kind=kind, subject=subject, since=since, limit=limit)

    def human() -> None:
        from rich.table import Table

        table = Table("seq", "time", "kind", "subject", "actor", "what", box=None)
        table.columns[-1].overflow = "fold"
        for e in data["events"]:
            table.add_row(
                str(e["seq"]),
                e["ts"][:19].replace("T", " "),
                e["kind"],
                e["subject"],
                e["actor"],
                summary(e.get("payload") or {}),
            )
        console().print(table)

    emit(data, json_, human)


def summary(payload: dict[str, Any]) -> str:
    """What an event says in a few words: its environment, version, status or phase, and
    reason (``production 1.1.0 rolled-back: analysis 'errors' failed: ...``)."""
    words = [
        str(payload[k])
        for k in ("environment", "version", "status", "phase", "action")
        if isinstance(payload.get(k), str | int) and payload[k] != ""
    ]
    reason = payload.get("reason")
    text = " ".join(words)
    if isinstance(reason, str) and reason:
        reason = reason if len(reason) <= 160 else reason[:159] + "…"
        text = f"{text}: {reason}" if text else reason
    return text


@app.command()
def verify(
    checkpoint: list[str] = typer.Option(
        [],
        "--checkpoint",
        help="A signed checkpoint seen before (file or URL): the log must extend it. Repeatable.",
    ),
    trusted_keys: str | None = typer.Option(
        None,
        "--trusted-keys",
        help="Verifier keys or files of keys to trust (default: SHIPYARD_TRUSTED_KEYS, else the "
        "signing key file).",
    ),
    json_: bool = JSON,
) -> None:
    """Recompute every hash; hold the log to its sealed head and every signed checkpoint."""
    from shipyard.adapters import checkpoints as export
    from shipyard.errors import AuditTampered
    from shipyard.services.compliance import audit

    notes = [audit.Note(c, export.read(c)) for c in checkpoint]
    s = settings()
    data: Mapping[str, Any]
    if s.server_url:
        data = _remote_verify(notes, trusted_keys)
    else:
        from shipyard.adapters import trust

        store = open_store()
        data = audit.verify(store, notes, trust.load(store, trusted_keys)).to_dict()
    if not data["ok"]:
        raise AuditTampered(
            f"audit log verification failed at event {data['first_bad_seq']}: {data['problem']}",
            details=data,
        )

    def human() -> None:
        c = console()
        sealed = {True: "sealed head", False: "UNSEALED head", None: "head seal not checked"}
        c.print(
            f"[green]verified[/] {data['tree_size']} events, root {data['root_hash']}, "
            f"{data['checkpoints_checked']} signed checkpoint(s), {sealed[data['head_sealed']]}"
        )
        for p in data.get("consistency", []):
            c.print(f"extends {p['checkpoint']} (size {p['first']}): consistency proof verified")

    emit(data, json_, human)


def _remote_verify(notes: list[Any], trusted_keys: str | None) -> dict[str, Any]:
    """The server verifies; each checkpoint seen before is then checked here too: signed by a
    key trusted on this side, and the server's consistency proof from it verified locally."""
    if not notes:
        data = _remote("GET", "/api/v1/audit/verify")
        assert data is not None
        return dict(data)
    from shipyard.adapters import signing, trust
    from shipyard.domain import merkle, signednote

    body = {"checkpoints": [n.data.decode("utf-8", "replace") for n in notes]}
    data = dict(_remote("POST", "/api/v1/audit/verify", json=body) or {})
    if not data.get("ok"):
        return data
    keys = trust.load(None, trusted_keys).vkeys()
    proofs = {p["checkpoint"]: p for p in data["consistency"]}  # the server's own ones too
    for i, note in enumerate(notes):
        proof = proofs[f"checkpoint {i + 1}"]  # as POST /audit/verify names what it was sent
        text, _by = signednote.open_note(note.data, keys, signing.verify)
        cp = signednote.parse_checkpoint(text)
        held = cp.root_hash.hex() == proof["first_root"] and merkle.verify_consistency(
            cp.tree_size,
            int(proof["second"]),
            cp.root_hash,
            bytes.fromhex(proof["second_root"]),
            [bytes.fromhex(p) for p in proof["proof"]],
        )
        if not held or proof["second_root"] != data["root_hash"]:
            data |= {
                "ok": False,
                "first_bad_seq": cp.tree_size,
                "problem": f"the server's log does not extend the checkpoint {note.source}",
            }
    return data


@app.command()
def prove(
    seq: int = typer.Argument(..., help="Sequence number of the event."),
    tree_size: int | None = typer.Option(None, help="Prove against this tree size (default: now)."),
    json_: bool = JSON,
) -> None:
    """An RFC 9162 inclusion proof for one event."""
    from shipyard.services.compliance import audit

    params = {"tree_size": tree_size} if tree_size is not None else {}
    data = _remote("GET", f"/api/v1/audit/proof/inclusion/{seq}", params=params)
    if data is None:
        data = audit.prove_inclusion(open_store(), seq, tree_size)

    def human() -> None:
        head = [
            f"event {seq} in tree of size {data['tree_size']}",
            f"leaf_hash {data['leaf_hash']}\nroot_hash {data['root_hash']}",
        ]
        _print_proof(head, "path", data["audit_path"])

    emit(data, json_, human)


@app.command()
def consistency(
    old: int = typer.Argument(..., help="The earlier tree size."),
    new: int | None = typer.Argument(None, help="The later tree size (default: now)."),
    json_: bool = JSON,
) -> None:
    """An RFC 9162 consistency proof between two tree sizes."""
    from shipyard.services.compliance import audit

    path = f"/api/v1/audit/proof/consistency/{old}" + (f"/{new}" if new is not None else "")
    data = _remote("GET", path)
    if data is None:
        data = audit.prove_consistency(open_store(), old, new)

    def human() -> None:
        head = [
            f"{data['first']} -> {data['second']}",
            f"first_root  {data['first_root']}\nsecond_root {data['second_root']}",
        ]
        _print_proof(head, "proof", data["proof"])

    emit(data, json_, human)


def _print_proof(head: list[str], name: str, hashes: list[str]) -> None:
    """A proof for people: its head lines, then its hashes numbered as ``name[i]``."""
    c = console()
    for line in head:
        c.print(line)
    for i, h in enumerate(hashes):
        c.print(f"  {name}[{i}] {h}")


@app.command()
def checkpoint(json_: bool = JSON) -> None:
    """Sign the current tree head (Ed25519) and keep it."""
    from shipyard.services.compliance import audit

    data = _remote("POST", "/api/v1/audit/checkpoints")
    if data is None:
        from shipyard.identity import actor

        data = audit.checkpoint(open_store(), actor())

    def human() -> None:
        c = console()
        c.print(
            f"signed tree head: size {data['tree_size']}, root {data['root_hash']}, "
            f"key {data['key_id']}"
        )
        for where in data.get("exported", []):
            c.print(f"written to {where}")
        for w in data.get("witnesses", []):
            c.print(f"sent to witness {w['url']} ({w['cosignatures']} cosignature(s))")

    emit(data, json_, human)


@app.command("public-key")
def public_key(json_: bool = JSON) -> None:
    """Print the public key that signs checkpoints: PEM, and the verifier key to trust it with
    (SHIPYARD_TRUSTED_KEYS)."""
    data = _remote("GET", "/api/v1/audit/public-key")
    if data is None:
        from shipyard.services.compliance.audit import public_key as describe

        data = describe(open_store())
    emit(data, json_, lambda: print(data["pem"] + data["vkey"]))
