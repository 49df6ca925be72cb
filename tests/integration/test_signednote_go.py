"""Checkpoints are C2SP signed notes that Go's reference implementation (golang.org/x/mod's
sumdb/note, from Debian's golang-golang-x-mod-dev) reads, and the other way round."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from shipyard.adapters import signing
from shipyard.domain import signednote
from shipyard.errors import InputError

SOURCE = Path(__file__).parent.parent / "data" / "gonote" / "main.go"
GOCODE = "/usr/share/gocode"


@pytest.fixture(scope="module")
def gonote(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The Go program, built in GOPATH mode against Debian's packaged sumdb/note."""
    root = tmp_path_factory.mktemp("gonote")
    (root / "src" / "notecheck").mkdir(parents=True)
    shutil.copy(SOURCE, root / "src" / "notecheck" / "main.go")
    env = {
        **os.environ,
        "GO111MODULE": "off",
        "GOPATH": f"{root}:{GOCODE}",
        "GOCACHE": str(root / "cache"),
    }
    subprocess.run(
        ["go", "build", "-o", str(root / "notecheck"), "notecheck"],
        cwd=root,
        env=env,
        check=True,
        capture_output=True,
    )
    return root / "notecheck"


def _ours() -> tuple[Ed25519PrivateKey, signednote.VerifierKey]:
    key = Ed25519PrivateKey.generate()
    public = key.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)
    return key, signednote.VerifierKey("example.com/shipyard", public)


def test_go_opens_our_checkpoint_with_our_verifier_key(gonote: Path) -> None:
    """Go's note.Open accepts a checkpoint Shipyard signed, given the verifier key Shipyard
    prints, and returns the checkpoint's text."""
    key, vkey = _ours()
    text = signednote.checkpoint_text(vkey.name, 42, bytes(range(32)))
    note = signednote.sign(text, vkey.name, vkey.public_key, key.sign)
    done = subprocess.run(
        [str(gonote), "open", vkey.text()], input=note, capture_output=True, text=True
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout == text


def test_go_refuses_our_checkpoint_with_another_key(gonote: Path) -> None:
    """Go's note.Open refuses the note for a verifier key of the same name but another key:
    the key ID differs, as ours computes it."""
    key, vkey = _ours()
    _other, stranger = _ours()
    note = signednote.sign("x\n1\nAAAA\n", vkey.name, vkey.public_key, key.sign)
    done = subprocess.run(
        [str(gonote), "open", stranger.text()], input=note, capture_output=True, text=True
    )
    assert done.returncode == 1


def test_we_open_a_note_go_signed(gonote: Path) -> None:
    """A note Go signed opens with the verifier key Go printed, and fails once a byte of its
    text changes."""
    text = signednote.checkpoint_text("example.com/go", 7, bytes(32))
    done = subprocess.run(
        [str(gonote), "sign", "example.com/go"], input=text, capture_output=True, text=True
    )
    assert done.returncode == 0, done.stderr
    vkey_text, note = done.stdout.split("\n", 1)
    vkey = signednote.parse_vkey(vkey_text)
    opened, by = signednote.open_note(note, [vkey], signing.verify)
    assert opened == text and by.startswith("example.com/go+")
    with pytest.raises(InputError) as err:
        signednote.open_note(note.replace("\n7\n", "\n8\n"), [vkey], signing.verify)
    assert err.value.code == "note-signature-invalid"
