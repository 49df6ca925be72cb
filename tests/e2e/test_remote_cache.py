"""The remote build cache: Bazel's and Gradle's HTTP protocols served by `shipyard server`, and
`shipyard run --remote-cache` sharing it between clones, over real HTTP."""

from __future__ import annotations

import hashlib
import json
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.e2e.helpers import as_json, running_server, shipyard

SPEC = """\
project: shop
pipeline:
  jobs:
    gen:
      run: mkdir -p out && tr a-z A-Z < src/a.txt > out/gen.txt && echo generated
      inputs: [src/a.txt]
      outputs: [out/gen.txt]
    use:
      needs: [gen]
      run: cat out/gen.txt out/gen.txt > out/use.txt && echo "lines=2" >> $SHIPYARD_OUTPUT
      outputs: [out/use.txt]
    big:
      run: mkdir -p out && yes shipyard | head -c 40000 > out/big.txt
      outputs: [out/big.txt]
"""


def _token(cwd: Path, role: str) -> str:
    return str(as_json(shipyard("token", "create", "--role", role, "--json", cwd=cwd))["token"])


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Path, dict[str, str]]]:
    home = tmp_path_factory.mktemp("cache-server")
    (home / "shipyard.yaml").write_text("project: shop\n")
    tokens = {role: _token(home, role) for role in ("viewer", "developer", "admin")}
    with running_server(home) as url:
        yield url, home, tokens


@pytest.fixture(scope="module")
def small(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Path, str]]:
    """A server whose cache takes uploads of at most 4 KiB and holds at most 10 KB."""
    home = tmp_path_factory.mktemp("small-cache")
    (home / "shipyard.yaml").write_text("project: shop\n")
    token = _token(home, "developer")
    env = {"SHIPYARD_CACHE_MAX_BLOB": "4KiB", "SHIPYARD_CACHE_MAX_SIZE": "10KB"}
    with running_server(home, env=env) as url:
        yield url, home, token


def _h(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def _sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def test_bazel_protocol_stores_and_serves_ac_and_cas(
    server: tuple[str, Path, dict[str, str]],
) -> None:
    """A CAS blob and an action result written with PUT are read back with GET and HEAD; an
    absent one is 404."""
    url, _, tokens = server
    blob = b"compiled output\n"
    key = _sha(b"an action")
    dev, viewer = _h(tokens["developer"]), _h(tokens["viewer"])
    assert httpx.get(f"{url}/cache/cas/{_sha(blob)}", headers=viewer).status_code == 404
    assert httpx.put(f"{url}/cache/cas/{_sha(blob)}", content=blob, headers=dev).status_code == 200
    assert httpx.put(f"{url}/cache/ac/{key}", content=b"result", headers=dev).status_code == 200
    got = httpx.get(f"{url}/cache/cas/{_sha(blob)}", headers=viewer)
    assert got.status_code == 200 and got.content == blob
    assert httpx.get(f"{url}/cache/ac/{key}", headers=viewer).content == b"result"
    head = httpx.head(f"{url}/cache/cas/{_sha(blob)}", headers=viewer)
    assert head.status_code == 200 and head.headers["content-length"] == str(len(blob))
    assert httpx.head(f"{url}/cache/ac/{_sha(b'other')}", headers=viewer).status_code == 404


def test_gradle_protocol_with_basic_credentials(server: tuple[str, Path, dict[str, str]]) -> None:
    """Gradle's `/cache/<key>` stores and serves entries, with the token as the basic-auth
    password as Gradle's HTTP build cache sends it."""
    url, _, tokens = server
    key = hashlib.md5(b"a gradle task").hexdigest()
    put = httpx.put(f"{url}/cache/{key}", content=b"task outputs", auth=("ci", tokens["developer"]))
    assert put.status_code == 200
    got = httpx.get(f"{url}/cache/{key}", auth=("ci", tokens["viewer"]))
    assert got.status_code == 200 and got.content == b"task outputs"


def test_a_cas_upload_whose_digest_does_not_match_is_refused(
    server: tuple[str, Path, dict[str, str]],
) -> None:
    """Bytes uploaded under another digest are refused with `digest-mismatch` and not stored."""
    url, _, tokens = server
    claimed = _sha(b"what the client says")
    resp = httpx.put(
        f"{url}/cache/cas/{claimed}", content=b"other", headers=_h(tokens["developer"])
    )
    assert resp.status_code == 400 and resp.json()["code"] == "digest-mismatch"
    assert httpx.get(f"{url}/cache/cas/{claimed}", headers=_h(tokens["viewer"])).status_code == 404


@pytest.mark.parametrize(
    ("method", "path", "who", "status", "code"),
    [
        ("GET", "/cache/ac/" + "a" * 64, None, 401, "unauthenticated"),
        ("GET", "/cache/ac/" + "a" * 64, "garbage", 401, "unauthenticated"),
        ("PUT", "/cache/ac/" + "a" * 64, "viewer", 403, "forbidden"),
        ("PUT", "/cache/cas/" + _sha(b"x"), "viewer", 403, "forbidden"),
        ("GET", "/cache/ac/not-a-digest", "viewer", 404, "cache-key-invalid"),
        ("GET", "/cache/cas/" + "A" * 64, "viewer", 404, "cache-key-invalid"),
        ("GET", "/cache/ac/x/" + "a" * 64, "viewer", 404, "cache-key-invalid"),
        ("DELETE", "/cache/ac/" + "a" * 64, "developer", 405, "method-not-allowed"),
    ],
)
def test_requests_without_rights_or_with_bad_keys_are_refused(
    server: tuple[str, Path, dict[str, str]],
    method: str,
    path: str,
    who: str | None,
    status: int,
    code: str,
) -> None:
    """No token or a bad one is 401, a viewer writing is 403, a key that is no digest is 404;
    each with a code, and a refused write stores nothing."""
    url, _, tokens = server
    headers = _h(tokens.get(who, who)) if who else {}
    resp = httpx.request(method, url + path, headers=headers, content=b"x")
    assert resp.status_code == status and resp.json()["code"] == code
    if method == "PUT":
        assert httpx.get(url + path, headers=_h(tokens["viewer"])).status_code == 404


def test_a_corrupted_blob_on_the_server_is_a_miss_and_is_dropped(
    server: tuple[str, Path, dict[str, str]],
) -> None:
    """A stored blob damaged on the server's disk is answered as a miss, never served, and its
    entry is forgotten."""
    url, home, tokens = server
    blob = b"a blob that will rot on disk"
    digest = _sha(blob)
    httpx.put(f"{url}/cache/cas/{digest}", content=blob, headers=_h(tokens["developer"]))
    path = home / ".shipyard" / "cas" / "remote" / "blobs" / digest[:2] / digest
    path.chmod(0o644)
    path.write_bytes(b"a blob that has rotted on disk")
    assert httpx.get(f"{url}/cache/cas/{digest}", headers=_h(tokens["viewer"])).status_code == 404
    assert httpx.head(f"{url}/cache/cas/{digest}", headers=_h(tokens["viewer"])).status_code == 404
    assert not path.exists()


def test_an_upload_over_the_size_limit_is_refused(small: tuple[str, Path, str]) -> None:
    """An upload larger than SHIPYARD_CACHE_MAX_BLOB is 413 `cache-blob-too-large`, whether
    its length is declared or streamed, and nothing is stored."""
    url, _, token = small
    big = b"x" * 5000
    resp = httpx.put(f"{url}/cache/cas/{_sha(big)}", content=big, headers=_h(token))
    assert resp.status_code == 413 and resp.json()["code"] == "cache-blob-too-large"
    streamed = httpx.put(
        f"{url}/cache/ac/{_sha(b'k')}", content=iter([big[:3000], big[3000:]]), headers=_h(token)
    )
    assert streamed.status_code == 413
    assert httpx.get(f"{url}/cache/cas/{_sha(big)}", headers=_h(token)).status_code == 404


def test_least_recently_used_entries_are_evicted_past_the_size_limit(
    small: tuple[str, Path, str],
) -> None:
    """Past SHIPYARD_CACHE_MAX_SIZE the cache drops its least recently used entries: one read
    since it was stored stays, one never read goes."""
    url, _, token = small
    blobs = [bytes([65 + i]) * 3000 for i in range(4)]  # 12 KB in all, over the 10 KB limit
    for blob in blobs[:3]:
        assert httpx.put(f"{url}/cache/cas/{_sha(blob)}", content=blob, headers=_h(token))
    time.sleep(0.01)
    assert httpx.get(f"{url}/cache/cas/{_sha(blobs[0])}", headers=_h(token)).status_code == 200
    time.sleep(1.2)  # the server writes last uses once a second
    httpx.put(f"{url}/cache/cas/{_sha(blobs[3])}", content=blobs[3], headers=_h(token))
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:  # eviction runs after each second's write
        if httpx.head(f"{url}/cache/cas/{_sha(blobs[1])}", headers=_h(token)).status_code == 404:
            break
        time.sleep(0.2)
    status = [
        httpx.head(f"{url}/cache/cas/{_sha(b)}", headers=_h(token)).status_code for b in blobs
    ]
    assert status == [200, 404, 200, 200]


# --- shipyard run --remote-cache ------------------------------------------------------------


def _clone(origin: Path, dest: Path) -> Path:
    subprocess.run(["git", "clone", "-q", str(origin), str(dest)], check=True)
    return dest


@pytest.fixture(scope="module")
def origin(tmp_path_factory: pytest.TempPathFactory) -> Path:
    repo = tmp_path_factory.mktemp("origin")
    (repo / "src").mkdir()
    (repo / "src" / "a.txt").write_text("hello remote cache\n")
    (repo / "shipyard.yaml").write_text(SPEC)
    git = ["git", "-c", "user.email=dev@example.com", "-c", "user.name=dev"]
    subprocess.run(["git", "init", "-q"], cwd=repo, check=True)
    subprocess.run(["git", "add", "-A"], cwd=repo, check=True)
    subprocess.run([*git, "commit", "-qm", "init"], cwd=repo, check=True)
    return repo


def _run(cwd: Path, *args: str, **env: str) -> tuple[dict[str, object], str]:
    proc = shipyard("run", "--json", *args, cwd=cwd, env={"SHIPYARD_HOME": str(cwd / ".st"), **env})
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout), proc.stderr


def test_a_second_clone_gets_every_step_from_the_remote_cache(
    server: tuple[str, Path, dict[str, str]], origin: Path, tmp_path: Path
) -> None:
    """A clone that ran with --remote-cache fills it; a second clone with its own state folder
    runs nothing, gets the first one's output bytes, and the server counts the hits. Small
    outputs travel in their step's entry, a large one through the CAS."""
    url, home, tokens = server
    first, second = _clone(origin, tmp_path / "one"), _clone(origin, tmp_path / "two")
    cache = f"{url}/cache"
    ran, _ = _run(first, "--remote-cache", cache, SHIPYARD_TOKEN=tokens["developer"])
    assert ran["counts"]["executed"] == 3 and ran["remote_cache"]["uploaded"] == 3
    got, err = _run(second, SHIPYARD_REMOTE_CACHE=cache, SHIPYARD_TOKEN=tokens["developer"])
    assert got["counts"] == {**got["counts"], "executed": 0, "cached": 3}
    assert got["remote_cache"]["hits"] == 3 and not err.strip()
    for name in ("gen.txt", "use.txt", "big.txt"):
        assert (second / "out" / name).read_bytes() == (first / "out" / name).read_bytes()
    viewer = _h(tokens["viewer"])
    in_cas = {
        name: httpx.head(f"{cache}/cas/{_sha((first / 'out' / name).read_bytes())}", headers=viewer)
        for name in ("gen.txt", "big.txt")
    }
    assert in_cas["big.txt"].status_code == 200 and in_cas["gen.txt"].status_code == 404
    logs = as_json(
        shipyard(
            "logs",
            str(got["run_id"]),
            "gen",
            "--json",
            cwd=second,
            env={"SHIPYARD_HOME": str(second / ".st")},
        )
    )
    assert logs["logs"][0]["log"] == "generated\n"
    figures = as_json(
        shipyard(
            "metrics",
            "builds",
            "--json",
            cwd=home,
            env={"SHIPYARD_SERVER": url, "SHIPYARD_TOKEN": tokens["admin"]},
        )
    )["remote_cache"]
    assert figures["by_kind"]["ac"]["hits"] >= 2 and figures["by_kind"]["ac"]["misses"] >= 2


def test_an_unreachable_cache_degrades_to_local_with_one_warning(
    origin: Path, tmp_path: Path
) -> None:
    """A cache URL nothing answers at never fails the build: it runs locally and says so once."""
    repo = _clone(origin, tmp_path / "repo")
    closed = "http://127.0.0.1:9/cache"  # the discard port: nothing listens there
    summary, err = _run(repo, "--remote-cache", closed, SHIPYARD_TOKEN="shp_x")
    assert summary["status"] == "success" and summary["counts"]["executed"] == 3
    warnings = [line for line in err.splitlines() if line.startswith("warning[")]
    assert len(warnings) == 1 and "remote-cache-unreachable" in warnings[0]


def test_a_token_without_write_rights_reads_and_does_not_write(
    server: tuple[str, Path, dict[str, str]], origin: Path, tmp_path: Path
) -> None:
    """With a viewer token a run reads the cache (its unchanged step is a hit), builds the
    rest, warns once that it may not write, and leaves the cache without its entries."""
    url, _, tokens = server
    _run(
        _clone(origin, tmp_path / "filler"),
        "--remote-cache",
        f"{url}/cache",
        SHIPYARD_TOKEN=tokens["developer"],
    )
    repo = _clone(origin, tmp_path / "repo")
    (repo / "src" / "a.txt").write_text("content no one has cached\n")
    summary, err = _run(repo, "--remote-cache", f"{url}/cache", SHIPYARD_TOKEN=tokens["viewer"])
    assert summary["status"] == "success"
    assert summary["counts"] == {**summary["counts"], "executed": 2, "cached": 1}
    warnings = [line for line in err.splitlines() if line.startswith("warning[")]
    assert len(warnings) == 1 and "remote-cache-forbidden" in warnings[0]
    key = next(s["key"] for s in summary["steps"] if s["node"] == "gen")  # type: ignore[union-attr]
    assert httpx.get(f"{url}/cache/ac/{key}", headers=_h(tokens["viewer"])).status_code == 404


def test_a_remote_cache_url_that_is_not_one_is_refused_before_running(
    origin: Path, tmp_path: Path
) -> None:
    """`--remote-cache` with something other than an http(s) URL fails with a code and a
    hint, and records no run."""
    repo = _clone(origin, tmp_path / "repo")
    env = {"SHIPYARD_HOME": str(repo / ".st")}
    proc = shipyard("run", "--remote-cache", "ftp://cache", cwd=repo, env=env)
    assert proc.returncode != 0 and "error[remote-cache-url-invalid]" in proc.stderr
    assert "hint:" in proc.stderr
    assert not (repo / "out").exists()
    assert as_json(shipyard("runs", "--json", cwd=repo, env=env))["runs"] == []
