"""A transparency-log witness speaking C2SP tlog-witness's add-checkpoint (c2sp.org/tlog-witness)
on 127.0.0.1, for tests of a log that sends its checkpoints out. It keeps the latest size it
cosigned per origin, answers 409 with that size when a request's old size differs, checks the
log's signature and the consistency proof, and cosigns with a key of its own."""

from __future__ import annotations

import base64
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from shipyard.adapters.signing import verify
from shipyard.domain import merkle, signednote
from shipyard.errors import InputError


@dataclass
class Witness:
    log_key: signednote.VerifierKey
    name: str = "witness.test/w1"
    key: Ed25519PrivateKey = field(default_factory=Ed25519PrivateKey.generate)
    seen: dict[str, tuple[int, bytes]] = field(default_factory=dict)  # origin -> size, root
    requests: list[tuple[int, int]] = field(default_factory=list)  # status, old size

    @property
    def public(self) -> bytes:
        return self.key.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)

    def add_checkpoint(self, body: bytes) -> tuple[int, str]:
        head, _, note = body.decode().partition("\n\n")
        lines = head.split("\n")
        if not lines[0].startswith("old "):
            return 400, "no old size\n"
        old = int(lines[0][4:])
        proof = [base64.b64decode(x) for x in lines[1:] if x]
        try:
            text, _by = signednote.open_note(note, [self.log_key], verify)
        except InputError:
            return 403, "not signed by a known log key\n"
        cp = signednote.parse_checkpoint(text)
        size, root = self.seen.get(cp.origin, (0, b""))
        if old > cp.tree_size:
            return 400, "old size is larger\n"
        if old != size:
            return 409, f"{size}\n"
        if old and not merkle.verify_consistency(old, cp.tree_size, root, cp.root_hash, proof):
            return 422, "inconsistent\n"
        self.seen[cp.origin] = (cp.tree_size, cp.root_hash)
        return 200, signednote.sign(text, self.name, self.public, self.key.sign).split("\n\n")[1]


@contextmanager
def running(witness: Witness) -> Iterator[str]:
    """The witness served on a free port; yields its submission prefix."""

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length", 0))
            body = self.rfile.read(length)
            status, answer = (
                witness.add_checkpoint(body) if self.path == "/add-checkpoint" else (404, "")
            )
            witness.requests.append((status, int(body.split(b"\n", 1)[0][4:] or 0)))
            data = answer.encode()
            self.send_response(status)
            ctype = "text/x.tlog.size" if status == 409 else "text/plain; charset=utf-8"
            self.send_header("Content-Type", ctype)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
