"""Checkpoints as C2SP signed notes (c2sp.org/signed-note, c2sp.org/tlog-checkpoint).

A note is text ending in a newline, a blank line, then signature lines
``— <key name> base64(4-byte key ID || signature)``. A checkpoint's text is the log's origin,
its tree size and the base64 RFC 6962 root, one per line. Ed25519 only (signature type
0x01): the key ID is ``SHA-256(name || 0x0A || 0x01 || public key)[:4]`` and a verifier key is
written ``<name>+<hex key ID>+base64(0x01 || public key)``, as Go's ``sumdb/note`` writes it.

Pure: the Ed25519 arithmetic is handed in (``sign``, ``verify``), so this module decides only
the bytes and which signatures count. As the spec says, a signature by an unknown key is
ignored, a known key whose signature fails rejects the note, and a note no known key signed
is rejected.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass

from shipyard.errors import InputError

ED25519 = 0x01
DASH = "\u2014 "
MAX_NOTE_BYTES = 64 * 1024  # a checkpoint is about 150 bytes; witnesses add a line each
MAX_SIGNATURES = 100

Verify = Callable[[bytes, bytes, bytes], bool]  # public key, message, signature


@dataclass(frozen=True, slots=True)
class VerifierKey:
    name: str
    public_key: bytes  # 32 raw Ed25519 bytes

    @property
    def key_id(self) -> bytes:
        return key_id(self.name, self.public_key)

    def text(self) -> str:
        encoded = base64.b64encode(bytes([ED25519]) + self.public_key).decode()
        return f"{self.name}+{self.key_id.hex()}+{encoded}"


@dataclass(frozen=True, slots=True)
class Signature:
    name: str
    key_id: bytes
    signature: bytes


@dataclass(frozen=True, slots=True)
class Checkpoint:
    origin: str
    tree_size: int
    root_hash: bytes


def _bad(message: str, code: str = "note-invalid") -> InputError:
    hint = (
        "a verifier key reads <name>+<8 hex digits>+<base64>, as `shipyard audit public-key` "
        "prints it"
        if code == "trusted-key-invalid"
        else "a checkpoint is a C2SP signed note: origin, tree size and base64 root, a blank "
        "line, then lines '\u2014 <key name> <base64 signature>'"
    )
    return InputError(message, hint, code=code)


def key_id(name: str, public_key: bytes) -> bytes:
    return hashlib.sha256(name.encode() + b"\n" + bytes([ED25519]) + public_key).digest()[:4]


def valid_name(name: str) -> bool:
    return bool(name) and "+" not in name and not any(c.isspace() for c in name)


def parse_vkey(text: str) -> VerifierKey:
    """A verifier key ``name+hexid+base64(0x01 || key)``; its ID must match its key."""
    parts = text.strip().split("+", 2)  # the base64 may hold '+' too
    if len(parts) != 3 or not valid_name(parts[0]):
        raise _bad(f"'{text.strip()[:80]}' is not a verifier key", "trusted-key-invalid")
    name, hex_id, b64 = parts
    try:
        raw = base64.b64decode(b64, validate=True)
        want = bytes.fromhex(hex_id)
    except (binascii.Error, ValueError) as exc:
        raise _bad(
            f"verifier key for '{name}' is not hex and base64", "trusted-key-invalid"
        ) from exc
    if len(raw) != 33 or raw[0] != ED25519:
        raise _bad(f"verifier key for '{name}' is not an Ed25519 key", "trusted-key-invalid")
    vkey = VerifierKey(name, raw[1:])
    if vkey.key_id != want:
        raise _bad(f"verifier key for '{name}' has the wrong key ID", "trusted-key-invalid")
    return vkey


def checkpoint_text(origin: str, size: int, root: bytes) -> str:
    return f"{origin}\n{size}\n{base64.b64encode(root).decode()}\n"


def sign(text: str, name: str, public_key: bytes, signer: Callable[[bytes], bytes]) -> str:
    """The signed note of ``text`` (which ends in a newline) with one Ed25519 signature."""
    sig = signer(text.encode())
    line = base64.b64encode(key_id(name, public_key) + sig).decode()
    return f"{text}\n{DASH}{name} {line}\n"


def parse(note: bytes | str) -> tuple[str, list[Signature]]:
    """The text and the signature lines of a note, checked for form only."""
    raw = note.encode() if isinstance(note, str) else note
    if len(raw) > MAX_NOTE_BYTES:
        raise _bad(f"the note is {len(raw)} bytes, more than {MAX_NOTE_BYTES}")
    try:
        data = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise _bad("the note is not UTF-8") from exc
    if any(ord(c) < 0x20 and c != "\n" for c in data):
        raise _bad("the note holds a control character other than a newline")
    cut = data.rfind("\n\n")
    if cut < 0 or not data.endswith("\n"):
        raise _bad("the note has no blank line before its signatures")
    text, lines = data[: cut + 1], data[cut + 2 : -1].split("\n")
    if len(lines) > MAX_SIGNATURES:
        raise _bad(f"the note has {len(lines)} signatures, more than {MAX_SIGNATURES}")
    sigs: list[Signature] = []
    for line in lines:
        if not line.startswith(DASH):
            raise _bad(f"'{line[:60]}' is not a signature line")
        name, _, b64 = line[len(DASH) :].rpartition(" ")
        try:
            blob = base64.b64decode(b64, validate=True)
        except binascii.Error as exc:
            raise _bad(f"the signature of '{name}' is not base64") from exc
        if not valid_name(name) or len(blob) < 5:
            raise _bad(f"'{line[:60]}' is not a signature line")
        sigs.append(Signature(name, blob[:4], blob[4:]))
    return text, sigs


def open_note(note: bytes | str, known: Iterable[VerifierKey], verify: Verify) -> tuple[str, str]:
    """The text of a note and the name of the known key that signed it; raises otherwise."""
    text, sigs = parse(note)
    keys = {(k.name, k.key_id): k for k in known}
    signed_by: str | None = None
    for s in sigs:
        k = keys.get((s.name, s.key_id))
        if k is None:
            continue  # unknown keys are ignored, as the spec says
        if not verify(k.public_key, text.encode(), s.signature):
            raise _bad(
                f"the signature of key {s.name}+{s.key_id.hex()} on the note does not verify",
                "note-signature-invalid",
            )
        signed_by = signed_by or f"{s.name}+{s.key_id.hex()}"
    if signed_by is None:
        names = ", ".join(f"{s.name}+{s.key_id.hex()}" for s in sigs) or "no key"
        raise _bad(f"the note is signed by {names}, none of them a trusted key", "note-untrusted")
    return text, signed_by


def parse_checkpoint(text: str) -> Checkpoint:
    """The origin, size and root of a checkpoint's text (extension lines are ignored)."""
    lines = text.split("\n")
    if len(lines) < 4 or not lines[0] or lines[-1] != "":
        raise _bad("a checkpoint's text is origin, tree size and root hash, one per line")
    origin, size_text, root_b64 = lines[0], lines[1], lines[2]
    if (
        not size_text.isascii()
        or not size_text.isdigit()
        or (size_text.startswith("0") and size_text != "0")
    ):
        raise _bad(f"'{size_text[:30]}' is not a tree size")
    if len(size_text) > 19:
        raise _bad(f"tree size {size_text[:30]} is out of range")
    try:
        root = base64.b64decode(root_b64, validate=True)
    except binascii.Error as exc:
        raise _bad("the checkpoint's root hash is not base64") from exc
    if len(root) != 32:
        raise _bad("the checkpoint's root hash is not 32 bytes")
    return Checkpoint(origin, int(size_text), root)


def signatures_of(note: bytes | str) -> Sequence[Signature]:
    return parse(note)[1]
