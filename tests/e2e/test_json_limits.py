"""JSON read from outside is bounded like YAML: request bodies of a real server, and files
given to `shipyard flags import`."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from shipyard.jsonlimits import MAX_JSON_BYTES, MAX_JSON_DEPTH
from tests.e2e.helpers import apply, as_json, running_server, shipyard

IMPORT = "/api/v1/flags/import?env=dev"


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, dict[str, str]]]:
    repo = tmp_path_factory.mktemp("json")
    (repo / "shipyard.yaml").write_text("project: shop\nenvironments:\n  dev: {}\n")
    token = as_json(shipyard("token", "create", "--role", "admin", "--json", cwd=repo))["token"]
    with running_server(repo) as url:
        apply(repo, url, token)
        yield url, {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}


def nested(levels: int) -> bytes:
    return b'{"features": ' + b"[" * levels + b"]" * levels + b"}"


def test_a_body_nested_too_deep_is_refused(server: tuple[str, dict[str, str]]) -> None:
    """A JSON body nested past the limit gets 422 json-too-complex, not a parser's error."""
    url, headers = server
    for levels in (MAX_JSON_DEPTH + 1, 100_000):
        resp = httpx.post(url + IMPORT, content=nested(levels), headers=headers)
        assert resp.status_code == 422, resp.text
        assert resp.json()["code"] == "json-too-complex" and resp.json()["hint"]


def test_a_body_nested_within_the_limit_reaches_the_route(
    server: tuple[str, dict[str, str]],
) -> None:
    """A body at the depth limit is parsed and answered by the route itself."""
    url, headers = server
    resp = httpx.post(url + IMPORT, content=nested(MAX_JSON_DEPTH - 1), headers=headers)
    assert resp.status_code == 422 and resp.json()["code"] == "flag-payload-invalid"


def test_a_body_too_large_is_refused_before_it_is_read(
    server: tuple[str, dict[str, str]],
) -> None:
    """A JSON body over the size limit gets 413, declared or streamed without a length."""
    url, headers = server
    body = json.dumps({"features": [], "padding": "x" * MAX_JSON_BYTES}).encode()
    resp = httpx.post(url + IMPORT, content=body, headers=headers)
    assert resp.status_code == 413 and resp.json()["code"] == "json-too-complex"

    def chunks() -> Iterator[bytes]:  # no Content-Length: counted as it arrives
        for i in range(0, len(body), 65536):
            yield body[i : i + 65536]

    resp = httpx.post(url + IMPORT, content=chunks(), headers=headers)
    assert resp.status_code == 413 and resp.json()["code"] == "json-too-complex"


def test_large_artifacts_are_not_json_bodies(server: tuple[str, dict[str, str]]) -> None:
    """Artifact bytes larger than the JSON limit are still published."""
    url, headers = server
    auth = {"Authorization": headers["Authorization"]}
    resp = httpx.put(
        url + "/api/v1/artifacts/blob/1.0.0",
        params={"project": "shop", "filename": "blob.bin"},
        content=b"\0" * (MAX_JSON_BYTES + 1),
        headers=auth,
        timeout=60,
    )
    assert resp.status_code == 201, resp.text


def test_flags_import_refuses_a_file_nested_too_deep(tmp_path: Path) -> None:
    """`shipyard flags import` refuses a file nested past the limit with json-too-complex."""
    (tmp_path / "shipyard.yaml").write_text("project: shop\nenvironments:\n  dev: {}\n")
    (tmp_path / "flags.json").write_bytes(nested(5000))
    proc = shipyard("flags", "import", "flags.json", "--env", "dev", cwd=tmp_path)
    assert proc.returncode == 2
    assert "error[json-too-complex]" in proc.stderr and "hint:" in proc.stderr
