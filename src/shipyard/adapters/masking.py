"""Secret values masked out of what processes write: step logs, instance logs, quoted output.

Standard library only, and runnable as a script: ``python -I -S masking.py LOG`` is the relay
between a deployed instance and its log file (``ProcessTarget``), reading the instance's output
on stdin and appending it, masked line by line, to LOG (created owner-only). The secret values
come in the ``SHIPYARD_MASK`` environment variable (JSON), never on the command line, which any
user of the machine can read. The relay detaches at once (a double fork), so that it outlives
whoever started it without becoming their zombie; it ends when the instance's group has closed
the pipe.
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Sequence

MIN_SECRET_LENGTH = 4
MASK = b"***"
ENV = "SHIPYARD_MASK"
_LINE_MAX = 1 << 20  # a longer line is masked in pieces of this size


def mask(data: bytes, secrets: Sequence[str]) -> bytes:
    """Replace every secret in ``data``; a multi-line secret is masked whole and line by line."""
    needles: set[bytes] = set()
    for secret in secrets:
        needles.add(secret.encode())
        for line in secret.splitlines():
            if len(line.strip()) >= MIN_SECRET_LENGTH:
                needles.add(line.strip().encode())
    # Longest first, so a line of a secret never leaves part of the whole secret visible.
    for needle in sorted(needles, key=len, reverse=True):
        if needle:
            data = data.replace(needle, MASK)
    return data


def relay(source: int, log: str, secrets: Sequence[str]) -> None:
    """Copy ``source`` to ``log`` line by line, masked, until end of file."""
    out = os.open(log, os.O_WRONLY | os.O_CREAT | os.O_APPEND | os.O_CLOEXEC, 0o600)
    with os.fdopen(source, "rb") as lines:
        while line := lines.readline(_LINE_MAX):
            os.write(out, mask(line, secrets))
    os.close(out)


def _main(argv: list[str]) -> None:
    secrets = json.loads(os.environ.pop(ENV, "[]"))
    if os.fork() > 0:
        os._exit(0)  # the starter reaps this parent at once; init adopts the relay
    os.setsid()
    relay(sys.stdin.fileno(), argv[1], secrets)


if __name__ == "__main__":
    _main(sys.argv)
