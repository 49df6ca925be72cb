"""Real build tools against `shipyard server`'s remote cache: Bazel (Debian's bazel-bootstrap)
over Bazel's HTTP protocol, and ccache over its HTTP storage in the Bazel layout."""

from __future__ import annotations

import re
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.e2e.helpers import as_json, running_server, shipyard

# Bazel 4 loads @rules_cc and @rules_java for its own tool BUILD files and would download them;
# offline, two local repositories that forward to the built-in rules stand in for them.
FORWARDS = {
    "rules_cc/cc/defs.bzl": ("cc_library", "cc_binary", "cc_toolchain", "cc_toolchain_suite"),
    "rules_java/java/defs.bzl": ("java_import", "java_runtime", "java_toolchain", "java_binary"),
}

BUILD = """\
genrule(
    name = "greeting",
    outs = ["greeting.h"],
    cmd = "echo '#define GREETING \\"hello from a genrule\\"' > $@",
)

cc_binary(
    name = "hello",
    srcs = ["hello.c", ":greeting"],
)
"""

HELLO_C = '#include <stdio.h>\n#include "greeting.h"\nint main(void) { puts(GREETING); }\n'


def _workspace(root: Path) -> Path:
    ws = root / "ws"
    for rel, rules in FORWARDS.items():
        path = ws / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        for empty in ("WORKSPACE", "BUILD"):
            (path.parent.parent / empty).touch()
        (path.parent / "BUILD").touch()
        path.write_text("".join(f"def {r}(**kwargs):\n    native.{r}(**kwargs)\n\n" for r in rules))
    (ws / "WORKSPACE").write_text(
        'local_repository(name = "rules_cc", path = "rules_cc")\n'
        'local_repository(name = "rules_java", path = "rules_java")\n'
    )
    (ws / ".bazelignore").write_text("rules_cc\nrules_java\n")
    (ws / "BUILD").write_text(BUILD)
    (ws / "hello.c").write_text(HELLO_C)
    return ws


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Path, dict[str, str]]]:
    home = tmp_path_factory.mktemp("cache-server")
    (home / "shipyard.yaml").write_text("project: shop\n")
    tokens = {
        role: as_json(shipyard("token", "create", "--role", role, "--json", cwd=home))["token"]
        for role in ("viewer", "developer")
    }
    with running_server(home) as url:
        yield url, home, tokens


def _bazel(ws: Path, root: Path, *args: str) -> subprocess.CompletedProcess[str]:
    # One output root for the test's builds: Bazel unpacks its install base there once.
    cmd = ["bazel", f"--output_user_root={root}", "--batch", *args]
    return subprocess.run(cmd, cwd=ws, capture_output=True, text=True, timeout=600)


def test_bazel_rebuild_after_clean_expunge_is_served_by_the_remote_cache(
    server: tuple[str, Path, dict[str, str]], tmp_path: Path
) -> None:
    """Bazel builds a genrule and a cc_binary with --remote_cache pointing at the server and a
    token header; after `bazel clean --expunge` the rebuild runs nothing locally: Bazel counts
    every action that ran before as a remote cache hit, and the binary still works."""
    url, _, tokens = server
    ws, root = _workspace(tmp_path), tmp_path / "bazel-root"
    flags = [
        f"--remote_cache={url}/cache",
        f"--remote_header=Authorization=Bearer {tokens['developer']}",
        "--noshow_progress",
    ]
    first = _bazel(ws, root, "build", *flags, "//:hello")
    assert first.returncode == 0, first.stderr[-3000:]
    assert "remote cache hit" not in first.stderr
    assert _bazel(ws, root, "clean", "--expunge").returncode == 0
    second = _bazel(ws, root, "build", *flags, "//:hello")
    assert second.returncode == 0, second.stderr[-3000:]
    summary = re.search(r"\d+ processes: (\d+) remote cache hit((?:, [^,\n]+)*)", second.stderr)
    assert summary is not None, second.stderr[-2000:]
    assert int(summary.group(1)) >= 3  # the genrule, the compile and the link
    others = [p.strip(" .") for p in summary.group(2).split(",") if p.strip()]
    assert all(p.endswith("internal") for p in others), others  # nothing ran locally
    hello = subprocess.run([str(ws / "bazel-bin" / "hello")], capture_output=True, text=True)
    assert hello.stdout == "hello from a genrule\n"


def _ccache(src: Path, cache_dir: Path, remote: str) -> dict[str, int]:
    env = {"CCACHE_DIR": str(cache_dir), "CCACHE_REMOTE_STORAGE": remote, "PATH": "/usr/bin:/bin"}
    obj = src.with_suffix(".o")
    obj.unlink(missing_ok=True)
    compiled = subprocess.run(
        ["ccache", "gcc", "-c", str(src), "-o", str(obj)], env=env, capture_output=True, text=True
    )
    assert compiled.returncode == 0, compiled.stderr
    stats = subprocess.run(
        ["ccache", "--print-stats"], env=env, capture_output=True, text=True, check=True
    )
    return {k: int(v) for k, v in (line.split("\t") for line in stats.stdout.splitlines())}


def test_ccache_on_another_machine_gets_the_object_from_the_remote_cache(
    server: tuple[str, Path, dict[str, str]], tmp_path: Path
) -> None:
    """ccache with its HTTP remote storage (Bazel layout) stores a compilation; another ccache
    with an empty local cache gets it from the server as a remote hit."""
    url, _, tokens = server
    src = tmp_path / "main.c"
    src.write_text('#include <stdio.h>\nint main(void) { puts("from ccache"); }\n')
    host_port = url.removeprefix("http://")
    remote = f"http://ci:{tokens['developer']}@{host_port}/cache|layout=bazel"
    first = _ccache(src, tmp_path / "one", remote)
    assert first["remote_storage_write"] >= 1 and first["remote_storage_hit"] == 0
    second = _ccache(src, tmp_path / "two", remote)
    assert second["remote_storage_hit"] == 1 and second["remote_storage_error"] == 0
