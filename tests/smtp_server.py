"""A minimal SMTP server for tests (RFC 5321 subset: EHLO/HELO, AUTH PLAIN, MAIL, RCPT, DATA,
RSET, NOOP, QUIT), run on a thread on 127.0.0.1; it keeps what it received."""

from __future__ import annotations

import base64
import socketserver
import threading
from dataclasses import dataclass, field
from email import message_from_bytes
from email.message import Message
from types import TracebackType


@dataclass
class Received:
    sender: str
    recipients: list[str]
    data: bytes
    login: str | None = None

    @property
    def message(self) -> Message:
        return message_from_bytes(self.data)


@dataclass
class SMTPServer:
    """``replies`` queues an answer (e.g. ``"451 try later"``) for the next MAIL commands;
    ``credentials`` makes AUTH PLAIN required."""

    credentials: tuple[str, str] | None = None
    received: list[Received] = field(default_factory=list)
    replies: list[str] = field(default_factory=list)
    connections: int = 0

    def __post_init__(self) -> None:
        outer = self

        class Handler(socketserver.StreamRequestHandler):
            def say(self, line: str) -> None:
                self.wfile.write(line.encode() + b"\r\n")

            def handle(self) -> None:
                outer.connections += 1
                self.say("220 localhost test SMTP")
                sender, recipients, login = "", [], None
                while True:
                    raw = self.rfile.readline()
                    if not raw:
                        return
                    line = raw.decode("utf-8", "replace").rstrip("\r\n")
                    verb = line.split(" ", 1)[0].upper()
                    arg = line[len(verb) :].strip()
                    if verb == "EHLO":
                        self.wfile.write(b"250-localhost\r\n250-AUTH PLAIN\r\n250 8BITMIME\r\n")
                    elif verb == "HELO":
                        self.say("250 localhost")
                    elif verb == "AUTH":
                        mech, _, blob = arg.partition(" ")
                        parts = base64.b64decode(blob).split(b"\0") if blob else []
                        ok = (
                            mech.upper() == "PLAIN"
                            and len(parts) == 3
                            and (parts[1].decode(), parts[2].decode()) == outer.credentials
                        )
                        if ok:
                            login = parts[1].decode()
                            self.say("235 2.7.0 authenticated")
                        else:
                            self.say("535 5.7.8 authentication failed")
                    elif verb == "MAIL":
                        if outer.credentials and login is None:
                            self.say("530 5.7.0 authentication required")
                        elif outer.replies:
                            self.say(outer.replies.pop(0))
                        else:
                            sender, recipients = arg.split(":", 1)[1].strip().strip("<>"), []
                            self.say("250 ok")
                    elif verb == "RCPT":
                        recipients.append(arg.split(":", 1)[1].strip().strip("<>"))
                        self.say("250 ok")
                    elif verb == "DATA":
                        self.say("354 end with <CRLF>.<CRLF>")
                        lines = []
                        while True:
                            chunk = self.rfile.readline()
                            if chunk in (b".\r\n", b".\n", b""):
                                break
                            lines.append(chunk[1:] if chunk.startswith(b"..") else chunk)
                        outer.received.append(Received(sender, recipients, b"".join(lines), login))
                        self.say("250 queued")
                    elif verb == "RSET":
                        sender, recipients = "", []
                        self.say("250 ok")
                    elif verb == "NOOP":
                        self.say("250 ok")
                    elif verb == "QUIT":
                        self.say("221 bye")
                        return
                    else:
                        self.say("502 command not implemented")

        class Server(socketserver.ThreadingTCPServer):
            daemon_threads = True
            allow_reuse_address = True

        self._server = Server(("127.0.0.1", 0), Handler)
        self.port = self._server.server_address[1]
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    def __enter__(self) -> SMTPServer:
        self._thread.start()
        return self

    def __exit__(
        self, t: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None
    ) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join()
