"""Instance logs of a process target holding secrets: masked on disk, owner-only, and the
relay that masks them ends with the instance."""

from __future__ import annotations

import os
import stat
import sys
import time
from pathlib import Path

from shipyard.adapters.targets.process import ProcessTarget

SECRET = "relay-secret-7f3a\nsecond-line-9c"

APP = """\
import os, sys
from http.server import BaseHTTPRequestHandler, HTTPServer
token = os.environ["TOKEN"]
print("starting " + token, flush=True)
print("alone: " + token.splitlines()[1], file=sys.stderr, flush=True)
print("x" * 70000 + token.splitlines()[0], flush=True)
class H(BaseHTTPRequestHandler):
    def do_GET(self):
        self.send_response(200); self.end_headers(); self.wfile.write(b"ok")
    def log_message(self, *a): pass
HTTPServer(("127.0.0.1", int(sys.argv[1])), H).serve_forever()
"""


def _relays(log: Path) -> list[int]:
    """Live processes whose command line names ``log`` (the relays writing it)."""
    found = []
    for entry in os.listdir("/proc"):
        try:
            cmdline = Path(f"/proc/{entry}/cmdline").read_bytes()
            state = Path(f"/proc/{entry}/stat").read_text().rsplit(")", 1)[1].split()[0]
        except OSError:
            continue
        if entry.isdigit() and str(log).encode() in cmdline and state not in ("Z", "X"):
            found.append(int(entry))
    return found


def test_secrets_never_reach_the_instance_log(tmp_path: Path) -> None:
    """What an instance prints is masked line by line before it is written (mode 0600), the
    relay's command line holds no secret, and no relay outlives the instance."""
    (tmp_path / "app.py").write_text(APP)
    target = ProcessTarget(
        f"{sys.executable} app.py {{port}}",
        tmp_path / "logs",
        cwd=tmp_path,
        secrets=[SECRET],
    )
    try:
        [instance] = target.deploy("stable", "v1", 1, {"TOKEN": SECRET})
        target.wait_ready("stable")
        log = Path(instance.log or "")
        relays = _relays(log)
        assert len(relays) == 1
        assert b"relay-secret" not in Path(f"/proc/{relays[0]}/cmdline").read_bytes()
    finally:
        target.close()
    deadline = time.monotonic() + 10
    while _relays(log) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert _relays(log) == []
    text = log.read_text()
    assert "starting ***" in text and "alone: ***" in text
    assert "relay-secret" not in text and "second-line-9c" not in text
    assert stat.S_IMODE(log.stat().st_mode) == 0o600
