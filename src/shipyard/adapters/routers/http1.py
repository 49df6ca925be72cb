"""Just enough HTTP/1.1 framing for a reverse proxy over asyncio streams.

A message head is read whole (bounded by ``MAX_HEAD``); bodies are relayed as they arrive,
framed by Content-Length, by chunked encoding (relayed as chunks, unchanged) or, for a
response only, by the connection closing. Hop-by-hop headers (RFC 9110 section 7.6.1) are
dropped on the way through.

h11 was tried in place of this module and kept out: with only the heads parsed by it,
``benchmarks/router.py``'s throughput ratio to nginx fell from 0.41-0.46 to 0.16-0.17 (same
machine, same runs), and one proxied exchange's framing took about 15 times as long (some
200 us against 12 us), in a proxy that has some 75 us a request in all.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

MAX_HEAD = 64 * 1024
CHUNK = 64 * 1024
HOP_BY_HOP = frozenset(
    {
        b"connection",
        b"keep-alive",
        b"proxy-connection",
        b"proxy-authenticate",
        b"proxy-authorization",
        b"te",
        b"trailer",
        b"upgrade",
    }
)


class BadMessage(Exception):
    """The peer sent something that is not HTTP/1.x; ``status`` is what to answer."""

    def __init__(self, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.status = status


@dataclass
class Head:
    """A request or response head. ``start`` is the three parts of its first line."""

    start: tuple[bytes, bytes, bytes]
    headers: list[tuple[bytes, bytes]]

    def get(self, name: bytes) -> bytes | None:
        for k, v in self.headers:
            if k == name:
                return v
        return None

    def tokens(self, name: bytes) -> set[bytes]:
        """Comma-separated lowercase tokens over every ``name`` header (e.g. Connection)."""
        out: set[bytes] = set()
        for k, v in self.headers:
            if k == name:
                out |= {t.strip().lower() for t in v.split(b",") if t.strip()}
        return out

    @property
    def chunked(self) -> bool:
        return b"chunked" in self.tokens(b"transfer-encoding")

    @property
    def length(self) -> int | None:
        values = {v.strip() for k, v in self.headers if k == b"content-length"}
        if not values:
            return None
        if len(values) > 1 or not next(iter(values)).isdigit():
            raise BadMessage(f"bad content-length {sorted(values)!r}")
        return int(values.pop())

    def check_request_framing(self) -> None:
        """Refuse framings two servers could read differently (RFC 9112 section 6.3)."""
        codings = [
            t.strip().lower()
            for k, v in self.headers
            if k == b"transfer-encoding"
            for t in v.split(b",")
            if t.strip()
        ]
        if codings and codings[-1] != b"chunked":
            raise BadMessage("transfer-encoding must end with chunked", 400)
        if codings and self.get(b"content-length") is not None:
            raise BadMessage("both transfer-encoding and content-length", 400)
        self.length  # noqa: B018 - raises on a bad or ambiguous content-length

    def forwarded_headers(self) -> list[tuple[bytes, bytes]]:
        """Headers without the hop-by-hop ones (and those the Connection header names);
        Transfer-Encoding stays, since the body is relayed in the same framing."""
        named = self.tokens(b"connection")
        return [(k, v) for k, v in self.headers if k not in HOP_BY_HOP and k not in named]


async def read_head(reader: asyncio.StreamReader) -> Head | None:
    """The next head, or None if the peer closed cleanly before sending one."""
    try:
        raw = await reader.readuntil(b"\r\n\r\n")
    except asyncio.IncompleteReadError as exc:
        if not exc.partial.strip():
            return None
        raise BadMessage("connection closed in the middle of a message head") from exc
    except asyncio.LimitOverrunError as exc:
        raise BadMessage("message head too large", 431) from exc
    lines = raw[:-4].split(b"\r\n")
    while lines and not lines[0]:  # tolerate stray CRLF between messages (RFC 9112 2.2)
        lines.pop(0)
    if not lines:
        return None
    parts = lines[0].split(b" ", 2)
    if len(parts) != 3:
        raise BadMessage(f"bad start line {lines[0][:80]!r}")
    headers: list[tuple[bytes, bytes]] = []
    for line in lines[1:]:
        name, sep, value = line.partition(b":")
        if not sep or not name or name != name.strip():
            raise BadMessage(f"bad header line {line[:80]!r}")
        headers.append((name.lower(), value.strip()))
    return Head((parts[0], parts[1], parts[2]), headers)


def render_head(start: bytes, headers: list[tuple[bytes, bytes]]) -> bytes:
    return start + b"\r\n" + b"".join(k + b": " + v + b"\r\n" for k, v in headers) + b"\r\n"


async def relay_body(
    head: Head,
    reader: asyncio.StreamReader,
    writer: asyncio.StreamWriter,
    *,
    until_eof: bool = False,
) -> None:
    """Copy the body framed by ``head`` from ``reader`` to ``writer``."""
    if head.chunked:
        await _relay_chunked(reader, writer)
        return
    length = head.length
    if length is not None:
        await _relay_exact(reader, writer, length)
        return
    if until_eof:
        while data := await reader.read(CHUNK):
            writer.write(data)
            await writer.drain()


async def _relay_exact(
    reader: asyncio.StreamReader, writer: asyncio.StreamWriter, length: int
) -> None:
    left = length
    while left > 0:
        data = await reader.read(min(left, CHUNK))
        if not data:
            raise asyncio.IncompleteReadError(b"", left)
        writer.write(data)
        left -= len(data)
        if writer.transport.get_write_buffer_size() > CHUNK:
            await writer.drain()


async def _relay_chunked(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    while True:
        line = await reader.readuntil(b"\r\n")
        size_text = line.split(b";", 1)[0].strip()
        try:
            size = int(size_text, 16)
        except ValueError:
            raise BadMessage(f"bad chunk size {size_text[:20]!r}", 502) from None
        writer.write(line)
        if size == 0:
            while True:  # trailers, then the empty line that ends the message
                trailer = await reader.readuntil(b"\r\n")
                writer.write(trailer)
                if trailer == b"\r\n":
                    return
        await _relay_exact(reader, writer, size + 2)  # the data and its CRLF


def response_has_body(method: bytes, status: int) -> bool:
    return not (method == b"HEAD" or 100 <= status < 200 or status in (204, 304))


def simple_response(
    status: int, reason: str, body: bytes, content_type: bytes = b"text/plain; charset=utf-8"
) -> bytes:
    head = [(b"content-type", content_type), (b"content-length", str(len(body)).encode())]
    return render_head(f"HTTP/1.1 {status} {reason}".encode(), head) + body
