"""C2SP signed notes and checkpoints: their bytes, and which signatures count."""

from __future__ import annotations

import base64

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from shipyard.adapters.signing import verify
from shipyard.domain import signednote
from shipyard.errors import InputError

KEY = Ed25519PrivateKey.from_private_bytes(bytes(range(32)))
PUB = KEY.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)
VKEY = signednote.VerifierKey("shipyard", PUB)
TEXT = signednote.checkpoint_text("shipyard", 3, bytes(32))
NOTE = signednote.sign(TEXT, "shipyard", PUB, KEY.sign)


def test_a_note_is_text_blank_line_and_an_em_dash_signature_line() -> None:
    """The note is the text, a blank line, and '— name base64(key ID || signature)'."""
    text, line = NOTE.split("\n\n")
    assert text + "\n" == TEXT == "shipyard\n3\nAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=\n"
    assert line.startswith("\u2014 shipyard ")
    blob = base64.b64decode(line.split(" ")[2])
    assert blob[:4] == VKEY.key_id and len(blob) == 68


def test_a_verifier_key_reads_back() -> None:
    """A verifier key's text parses back to the same name and key."""
    assert signednote.parse_vkey(VKEY.text()) == VKEY


@pytest.mark.parametrize(
    "text",
    [
        "shipyard",
        "shipyard+00000000+AQ==",
        "bad name+00000000+AQ==",
        VKEY.text().replace(VKEY.key_id.hex(), "00000000"),
        "shipyard+zz+" + base64.b64encode(b"\x01" + PUB).decode(),
        "shipyard+" + VKEY.key_id.hex() + "+" + base64.b64encode(b"\x02" + PUB).decode(),
    ],
)
def test_malformed_verifier_keys_are_refused(text: str) -> None:
    """A verifier key with a bad shape, name, ID, encoding or signature type is refused."""
    with pytest.raises(InputError) as err:
        signednote.parse_vkey(text)
    assert err.value.code == "trusted-key-invalid"


def test_open_returns_the_text_and_the_signer() -> None:
    """A note signed by a known key opens to its text, naming the key."""
    assert signednote.open_note(NOTE, [VKEY], verify) == (TEXT, f"shipyard+{VKEY.key_id.hex()}")


@pytest.mark.parametrize(
    ("note", "code"),
    [
        (NOTE.replace("\n3\n", "\n4\n"), "note-signature-invalid"),  # text changed
        (NOTE.replace("\u2014 shipyard", "\u2014 other"), "note-untrusted"),  # unknown name
        (TEXT + "\n", "note-invalid"),  # no signature line
        (TEXT, "note-invalid"),  # no blank line
        (NOTE.replace("\u2014", "-"), "note-invalid"),  # a hyphen, not an em dash
        (NOTE.replace("\n3\n", "\n3\x07\n"), "note-invalid"),  # a control character
        (NOTE + "x" * 70_000, "note-invalid"),  # too large
    ],
)
def test_notes_that_do_not_count(note: str, code: str) -> None:
    """A changed text, an unknown signer, a malformed note: each refused with its code."""
    with pytest.raises(InputError) as err:
        signednote.open_note(note, [VKEY], verify)
    assert err.value.code == code


def test_an_unknown_signature_beside_a_known_one_is_ignored() -> None:
    """A second signature by an unknown key (a witness, say) does not spoil the note."""
    other = Ed25519PrivateKey.generate()
    opub = other.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)
    cosigned = NOTE + signednote.sign(TEXT, "witness", opub, other.sign).split("\n\n")[1]
    assert signednote.open_note(cosigned, [VKEY], verify)[0] == TEXT


@pytest.mark.parametrize(
    "text",
    ["shipyard\n03\nAAAA\n", "shipyard\n-1\nAAAA\n", "shipyard\n3\nAAAA\n", "shipyard\n3\n"],
)
def test_malformed_checkpoints_are_refused(text: str) -> None:
    """Leading zeroes, a negative size, a short root or a missing line are refused."""
    with pytest.raises(InputError):
        signednote.parse_checkpoint(text)


def test_a_checkpoint_reads_back() -> None:
    """Origin, size and root come back as written."""
    cp = signednote.parse_checkpoint(signednote.checkpoint_text("o", 12, b"\x01" * 32))
    assert (cp.origin, cp.tree_size, cp.root_hash) == ("o", 12, b"\x01" * 32)
