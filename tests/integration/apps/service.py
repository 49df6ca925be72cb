"""checkout, as the failure scenarios need it: a small HTTP service whose version can be bad.

Settings from the environment: FAIL_RATE (share of requests answered 500; only from
BAD_AFTER seconds after start, if set), DELAY_MS (added to every request), READY=0 (never
answers its readiness probe) and CRASH_AFTER (seconds after start, the process exits with
status 1). The body names the version, so a client can count which version answered.
"""

from __future__ import annotations

import argparse
import os
import random
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

VERSION = os.environ.get("APP_VERSION", "dev")
FAIL_RATE = float(os.environ.get("FAIL_RATE", "0"))
DELAY = float(os.environ.get("DELAY_MS", "0")) / 1000
READY = os.environ.get("READY", "1") != "0"
CRASH_AFTER = float(os.environ.get("CRASH_AFTER", "0"))
BAD_AFTER = float(os.environ.get("BAD_AFTER", "0"))
STARTED = time.monotonic()


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # kept-alive connections, as most services have

    def do_GET(self) -> None:
        if self.path == "/healthz":
            status, body = (200, "ok") if READY else (503, "starting")
        else:
            if DELAY:
                time.sleep(DELAY)
            bad = time.monotonic() - STARTED >= BAD_AFTER
            fail = bad and random.random() < FAIL_RATE
            status, body = (500, f"error {VERSION}") if fail else (200, f"checkout {VERSION}")
        data = body.encode()
        self.send_response(status)
        self.send_header("content-type", "text/plain")
        self.send_header("content-length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *args: object) -> None:
        pass


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, required=True)
    server = ThreadingHTTPServer(("127.0.0.1", parser.parse_args().port), Handler)
    server.daemon_threads = True
    if CRASH_AFTER:
        threading.Timer(CRASH_AFTER, lambda: os._exit(1)).start()
    print(f"checkout {VERSION} listening", flush=True)
    server.serve_forever()


if __name__ == "__main__":
    main()
