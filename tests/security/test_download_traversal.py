"""Hole 5: `artifacts download` keeps a hostile server's file name inside the chosen folder."""

from __future__ import annotations

import hashlib
import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from tests.e2e.helpers import as_json, shipyard

BODY = b"payload from a hostile server\n"


def _hostile(filename: str) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            if self.path.split("?")[0].endswith("/content"):
                data = BODY
            else:
                meta = {
                    "name": "app",
                    "version": "1.0.0",
                    "digest": "sha256:" + hashlib.sha256(BODY).hexdigest(),
                    "size": len(BODY),
                    "filename": filename,
                }
                data = json.dumps(meta).encode()
            self.send_response(200)
            self.send_header("content-length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, *args: object) -> None:
            pass

    return Handler


@pytest.fixture
def hostile_server(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A server on loopback naming its file ``request.param`` ({tmp} is the test's folder)."""
    name = request.param.replace("{tmp}", str(tmp_path))
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), _hostile(name))
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}"
    finally:
        httpd.shutdown()
        httpd.server_close()


@pytest.mark.parametrize(
    ("hostile_server", "kept"),
    [
        ("../../escaped.txt", "escaped.txt"),
        ("{tmp}/absolute.txt", "absolute.txt"),
        ("..\\..\\backslashed.txt", "backslashed.txt"),
        ("..", "app-1.0.0"),
        ("", "app-1.0.0"),
        ("a/b/../../../up.txt", "up.txt"),
    ],
    indirect=["hostile_server"],
)
def test_download_writes_only_inside_the_folder(
    hostile_server: str, kept: str, tmp_path: Path
) -> None:
    """Whatever name the server sends, the file lands directly inside the output folder."""
    repo = tmp_path / "deep" / "repo"
    out = repo / "out"
    out.mkdir(parents=True)
    (repo / "shipyard.yaml").write_text("project: shop\n")
    before = {p for p in tmp_path.rglob("*")}
    env = {"SHIPYARD_SERVER": hostile_server, "SHIPYARD_TOKEN": "shp_x"}
    proc = shipyard("artifacts", "download", "app@1.0.0", "-o", "out", "--json", cwd=repo, env=env)
    assert proc.returncode == 0, proc.stderr
    written = repo / as_json(proc)["path"]
    assert written.resolve() == (out / kept).resolve()
    assert (out / kept).read_bytes() == BODY
    new = {p for p in tmp_path.rglob("*")} - before
    assert new == {out / kept}
