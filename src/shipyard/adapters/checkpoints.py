"""Signed checkpoints leave the database: written to a folder (committed when it is a git
repository) and sent to witnesses; read back from a file or a URL to verify against.

``SHIPYARD_CHECKPOINT_DIR``: the newest checkpoint is written to ``<dir>/checkpoint``
(atomically); in a git work tree it is also committed, so the folder's history holds every
checkpoint. ``SHIPYARD_WITNESS_URLS``: comma-separated C2SP tlog-witness submission prefixes;
each gets ``POST <prefix>/add-checkpoint`` with the consistency proof from the size it last
saw (c2sp.org/tlog-witness), and the cosignature lines it answers are added to the note
written to the folder.
"""

from __future__ import annotations

import base64
import os
import subprocess
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TypedDict

from shipyard.domain import signednote
from shipyard.errors import InputError, ShipyardError

FILE = "checkpoint"
MAX_FETCH = signednote.MAX_NOTE_BYTES


class Witnessed(TypedDict):
    """A witness the checkpoint was sent to, and how many cosignatures it answered."""

    url: str
    cosignatures: int


@dataclass
class Exported:
    files: list[str] = field(default_factory=list)
    witnesses: list[Witnessed] = field(default_factory=list)
    note: str = ""


def folder() -> Path | None:
    value = os.environ.get("SHIPYARD_CHECKPOINT_DIR")
    return Path(value).expanduser() if value else None


def witnesses() -> list[str]:
    value = os.environ.get("SHIPYARD_WITNESS_URLS") or ""
    return [u.strip().rstrip("/") for u in value.split(",") if u.strip()]


def export_failed(where: str, why: str) -> ShipyardError:
    return ShipyardError(
        f"the checkpoint is signed and stored, but could not be written to {where}: {why}",
        "fix the destination and run `shipyard audit checkpoint` again: it exports the newest",
        code="checkpoint-export-failed",
    )


def export(
    note: str, size: int, proof_from: Callable[[int], Sequence[bytes]] | None = None
) -> Exported:
    """Send ``note`` to every witness, then write it (with their cosignatures) to the folder."""
    out = Exported(note=note)
    for url in witnesses():
        lines = _witness(url, note, size, proof_from)
        out.witnesses.append({"url": url, "cosignatures": len(lines)})
        out.note += "".join(lines)
    where = folder()
    if where is not None:
        out.files.append(str(write(where, out.note, size)))
    return out


def write(where: Path, note: str, size: int) -> Path:
    path = where / FILE
    try:
        where.mkdir(parents=True, exist_ok=True)
        tmp = where / f".{FILE}.tmp"
        tmp.write_text(note)
        os.replace(tmp, path)
    except OSError as exc:
        raise export_failed(str(where), exc.__class__.__name__) from exc
    if (where / ".git").exists():
        env = {
            **os.environ,
            "GIT_AUTHOR_NAME": os.environ.get("GIT_AUTHOR_NAME", "shipyard"),
            "GIT_AUTHOR_EMAIL": os.environ.get("GIT_AUTHOR_EMAIL", "shipyard@localhost"),
            "GIT_COMMITTER_NAME": os.environ.get("GIT_COMMITTER_NAME", "shipyard"),
            "GIT_COMMITTER_EMAIL": os.environ.get("GIT_COMMITTER_EMAIL", "shipyard@localhost"),
        }
        for args in (["add", FILE], ["commit", "-q", "-m", f"checkpoint {size}", "--", FILE]):
            try:
                done = subprocess.run(
                    ["git", *args], cwd=where, env=env, capture_output=True, text=True, timeout=60
                )
            except (OSError, subprocess.TimeoutExpired) as exc:
                raise export_failed(str(where), f"git {args[0]}: {exc}") from exc
            if done.returncode != 0 and "nothing to commit" not in done.stdout:
                raise export_failed(str(where), f"git {args[0]}: {done.stderr.strip()[:200]}")
    return path


def _witness(
    url: str, note: str, size: int, proof_from: Callable[[int], Sequence[bytes]] | None
) -> list[str]:
    import httpx

    old = 0
    for _ in range(2):  # a witness that saw an older size says which (409), then gets its proof
        proof = list(proof_from(old)) if proof_from and 0 < old <= size else []
        body = f"old {old}\n" + "".join(base64.b64encode(p).decode() + "\n" for p in proof)
        try:
            answer = httpx.post(
                f"{url}/add-checkpoint", content=(body + "\n" + note).encode(), timeout=30
            )
        except httpx.HTTPError as exc:
            raise export_failed(url, exc.__class__.__name__) from exc
        if answer.status_code == 409 and answer.text.strip().isdigit() and old == 0:
            old = int(answer.text.strip())
            if old > size:
                raise export_failed(url, f"the witness saw size {old}, more than this log's {size}")
            continue
        if answer.status_code != 200:
            raise export_failed(url, f"HTTP {answer.status_code} {answer.text[:200]!r}")
        return [line + "\n" for line in answer.text.splitlines() if line.startswith("\u2014 ")]
    raise export_failed(url, "the witness kept refusing the size it named")


def read(source: str) -> bytes:
    """A note from a file, or from an http(s) URL."""
    if source.startswith(("http://", "https://")):
        import httpx

        try:
            with httpx.stream("GET", source, timeout=30, follow_redirects=True) as answer:
                if answer.status_code != 200:
                    raise _unreadable(source, f"HTTP {answer.status_code}")
                data = b""
                for chunk in answer.iter_bytes():
                    data += chunk
                    if len(data) > MAX_FETCH:
                        raise _unreadable(source, f"more than {MAX_FETCH} bytes")
                return data
        except httpx.HTTPError as exc:
            raise _unreadable(source, exc.__class__.__name__) from exc
    path = Path(source).expanduser()
    if path.is_dir():
        path = path / FILE
    try:
        with path.open("rb") as fh:
            data = fh.read(MAX_FETCH + 1)
    except OSError as exc:
        raise _unreadable(str(path), exc.__class__.__name__) from exc
    if len(data) > MAX_FETCH:
        raise _unreadable(str(path), f"more than {MAX_FETCH} bytes")
    return data


def _unreadable(source: str, why: str) -> InputError:
    return InputError(
        f"cannot read the checkpoint {source}: {why}",
        "give a file written by `shipyard audit checkpoint` (SHIPYARD_CHECKPOINT_DIR) or its URL",
        code="checkpoint-unreadable",
    )
