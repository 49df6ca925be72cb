"""checkout: a tiny HTTP service. FAIL_RATE makes a share of requests answer 500."""

from __future__ import annotations

import argparse
import os
import random
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

VERSION = os.environ.get("APP_VERSION", "dev")
FAIL_RATE = float(os.environ.get("FAIL_RATE", "0"))


def handle(path: str) -> tuple[int, str]:
    if path == "/healthz":
        return 200, "ok"
    if random.random() < FAIL_RATE:
        return 500, "error"
    return 200, f"checkout {VERSION}"


class Handler(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        status, body = handle(self.path)
        data = body.encode()
        self.send_response(status)
        self.send_header("content-type", "text/plain")
        self.send_header("content-length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *args: object) -> None:
        pass


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, required=True)
    ThreadingHTTPServer(("127.0.0.1", parser.parse_args().port), Handler).serve_forever()
