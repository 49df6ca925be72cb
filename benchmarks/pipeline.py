"""Shipyard's pipeline against ninja, make and doit on one generated build graph.

A seeded generator writes the same graph four ways (build.ninja, Makefile, dodo.py,
shipyard.yaml): N leaf files of 4 KiB, one `tr` per leaf, a fan-in of 32 leaves into each
library, 8 aggregators over the libraries, one final target. Each tool runs with -j2 through
five scenarios: cold, no-op, touch a leaf without changing it, change one leaf's content, change
one leaf's command line (in a way that does not change its output). It checks how many actions
each tool ran where the expected number is clear and that Shipyard's output files are ninja's
bytes after every scenario, prints wall times, and ends with the ratios.

    python benchmarks/pipeline.py [--leaves 2000,8000] [--seed 7] [--dir D] [--local-only]

Then, beyond one machine: 64 steps that sleep 0.5 s, run with -j1 and with `--executor
dask-local:4` (ninja -j1 and -j4 beside them), and a second clone built cold against one whose
steps all come from a `shipyard server`'s remote cache that a first clone filled (on the
sleeping graph and on the generated one). The first line gives the load average and what
starting Python alone takes here; the last line, every ratio.

ninja comes from Debian (`ninja-build`), doit from PyPI (`pip install doit`), make from Debian,
Dask from PyPI (`pip install distributed`).
"""

from __future__ import annotations

import argparse
import json
import os
import random
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

FAN_IN = 32
AGGREGATORS = 8
LEAF_BYTES = 4096
TOOLS = ("shipyard", "ninja", "make", "doit")


def graph(n: int) -> dict[str, tuple[str, list[str]]]:
    """target -> (command, inputs); targets in build order."""
    g: dict[str, tuple[str, list[str]]] = {}
    for i in range(n):
        leaf = f"src/leaf{i}.txt"
        g[f"out/leaf{i}.txt"] = (f"tr a-z A-Z < {leaf} > out/leaf{i}.txt", [leaf])
    libs = []
    for j in range(0, n, FAN_IN):
        ins = [f"out/leaf{i}.txt" for i in range(j, min(n, j + FAN_IN))]
        name = f"out/lib{j // FAN_IN}.txt"
        g[name] = ("cat " + " ".join(ins) + f" > {name}", ins)
        libs.append(name)
    aggs = []
    for k in range(AGGREGATORS):
        ins = libs[k::AGGREGATORS]
        name = f"out/agg{k}.txt"
        g[name] = ("cat " + " ".join(ins) + f" > {name}", ins)
        aggs.append(name)
    g["out/final.txt"] = ("cat " + " ".join(aggs) + " > out/final.txt", aggs)
    return g


def _job(target: str) -> str:
    return Path(target).stem


def write(root: Path, g: dict[str, tuple[str, list[str]]]) -> None:
    ninja = ["rule run\n  command = $cmd\n"]
    make = [".PHONY: all\nall: out/final.txt\n"]
    dodo = ["def task_build():"]
    yaml = ["project: bench", "pipeline:", "  jobs:"]
    for target, (cmd, ins) in g.items():
        ninja.append(f"build {target}: run {' '.join(ins)}\n  cmd = {cmd}\n")
        make.append(f"{target}: {' '.join(ins)}\n\tmkdir -p out && {cmd}\n")
        dodo.append(
            f"    yield {{'name': {target!r}, 'actions': ['mkdir -p out && ' + {cmd!r}], "
            f"'file_dep': {ins!r}, 'targets': [{target!r}]}}"
        )
        # What a step reads of another step's outputs enters its key through `needs`, not
        # `inputs`: only the source files are inputs.
        needs = sorted({_job(i) for i in ins if i.startswith("out/")})
        sources = [i for i in ins if not i.startswith("out/")]
        yaml.append(f"    {_job(target)}:")
        yaml.append(f"      run: {cmd}")  # shipyard, like ninja, makes output folders itself
        if needs:
            yaml.append(f"      needs: [{', '.join(needs)}]")
        if sources:
            yaml.append(f"      inputs: [{', '.join(sources)}]")
        yaml.append(f"      outputs: [{target}]")
    (root / "build.ninja").write_text("\n".join(ninja))
    (root / "Makefile").write_text("\n".join(make))
    (root / "dodo.py").write_text("\n".join(dodo) + "\n")
    (root / "shipyard.yaml").write_text("\n".join(yaml) + "\n")


def leaves(root: Path, n: int, seed: int) -> None:
    rng = random.Random(seed)
    (root / "src").mkdir(parents=True, exist_ok=True)
    letters = "abcdefghijklmnopqrstuvwxyz \n"
    for i in range(n):
        text = "".join(rng.choice(letters) for _ in range(LEAF_BYTES))
        (root / f"src/leaf{i}.txt").write_text(text)


def _count(tool: str, proc: subprocess.CompletedProcess[str]) -> int:
    out = proc.stdout
    if tool == "shipyard":
        return int(json.loads(out)["counts"]["executed"])
    if tool == "ninja":
        steps = re.findall(r"^\[(\d+)/(\d+)\]", out, re.MULTILINE)
        return int(steps[-1][1]) if steps else 0
    if tool == "make":
        return sum(1 for line in out.splitlines() if line.startswith("mkdir -p out"))
    # doit prints ".  build:TARGET" for each task it runs, "-- " for one up to date
    return sum(1 for line in out.splitlines() if line.startswith(".  build:"))


def _differs(ours: Path, theirs: Path) -> str | None:
    """The first output file whose bytes differ between two trees, if any."""
    names = sorted(p.name for p in (theirs / "out").iterdir())
    if names != sorted(p.name for p in (ours / "out").iterdir()):
        return "list of output files"
    for name in names:
        if (ours / "out" / name).read_bytes() != (theirs / "out" / name).read_bytes():
            return f"out/{name}"
    return None


def command(tool: str) -> list[str]:
    return {
        "shipyard": [sys.executable, "-m", "shipyard", "run", "-j", "2", "--json"],
        "ninja": ["ninja", "-j", "2"],
        "make": ["make", "-j", "2", "--no-print-directory"],
        "doit": [sys.executable, "-m", "doit", "-n", "2", "-P", "thread"],
    }[tool]


def run(tool: str, root: Path) -> tuple[float, int]:
    env = {**os.environ, "SHIPYARD_HOME": str(root / ".shipyard")}
    env.pop("SHIPYARD_DATABASE_URL", None)
    env.pop("SHIPYARD_SERVER", None)
    # The Python tools (shipyard, doit) run as installed: with bytecode caching, Python's default.
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    # Write back what the scenario (or the tool before) left dirty, so that no tool pays for
    # another's writes, as hyperfine's `--prepare sync` does.
    os.sync()
    t0 = time.perf_counter()
    proc = subprocess.run(command(tool), cwd=root, env=env, capture_output=True, text=True)
    wall = time.perf_counter() - t0
    if proc.returncode != 0:
        raise SystemExit(f"{tool} failed:\n{proc.stdout[-2000:]}\n{proc.stderr[-2000:]}")
    return wall, _count(tool, proc)


def scenarios_on(base: Path, n: int, seed: int) -> list[str]:
    """The five scenarios on a graph of ``n`` leaves; each scenario's ratios as text."""
    g = graph(n)
    total = len(g)
    roots = {}
    for tool in TOOLS:
        root = base / f"{tool}-{n}"
        shutil.rmtree(root, ignore_errors=True)
        root.mkdir(parents=True)
        leaves(root, n, seed)
        write(root, g)
        roots[tool] = root
    victim = n // 2
    # expected actions for shipyard: content decides, so touching changes nothing and an
    # equivalent command line re-runs only its own step.
    expected = {"cold": total, "no-op": 0, "touch": 0, "change": 4, "command": 1}
    times: dict[str, dict[str, float]] = {t: {} for t in TOOLS}
    counts: dict[str, dict[str, int]] = {t: {} for t in TOOLS}

    def touch(root: Path) -> None:
        f = root / f"src/leaf{victim}.txt"
        now = time.time_ns() + 10**9  # newer than every output
        os.utime(f, ns=(now, now))

    def change(root: Path) -> None:
        f = root / f"src/leaf{victim}.txt"
        f.write_text("changed " + f.read_text()[8:])

    def recommand(root: Path) -> None:
        old = f"tr a-z A-Z < src/leaf{victim}.txt"
        new = f"tr a-z A-Z  < src/leaf{victim}.txt"  # same output, other command line
        for name in ("build.ninja", "Makefile", "dodo.py", "shipyard.yaml"):
            p = root / name
            p.write_text(p.read_text().replace(old + " ", new + " ", 1))

    scenarios = [
        ("cold", None),
        ("no-op", None),
        ("touch", touch),
        ("change", change),
        ("command", recommand),
    ]
    print(f"-- {total:,} actions ({n:,} leaves)", flush=True)
    for name, prepare in scenarios:
        for tool in TOOLS:
            if prepare is not None:
                prepare(roots[tool])
            wall, count = run(tool, roots[tool])
            times[tool][name], counts[tool][name] = wall, count
        row = "  ".join(f"{t} {times[t][name]:7.3f}s ({counts[t][name]} actions)" for t in TOOLS)
        print(f"{name:8s} {row}", flush=True)
        wrong = _differs(roots["shipyard"], roots["ninja"])
        if wrong:
            raise SystemExit(f"after '{name}' shipyard's {wrong} differs from ninja's")
        if counts["shipyard"][name] != expected[name]:
            raise SystemExit(
                f"shipyard ran {counts['shipyard'][name]} actions in '{name}', "
                f"expected {expected[name]}"
            )
    ratios = []
    for name, _ in scenarios:
        parts = [f"{name}@{total}:"]
        for peer in ("ninja", "make", "doit"):
            parts.append(f"shipyard/{peer} {times['shipyard'][name] / times[peer][name]:.2f}x")
        ratios.append(" ".join(parts))
    return ratios


# --- beyond one machine: a Dask executor and a remote cache ----------------------------------

SLEEPERS = 64
SLEEP_S = 0.5


def sleepy(root: Path) -> None:
    """A graph whose steps wait rather than compute: what a cluster speeds up."""
    root.mkdir(parents=True, exist_ok=True)
    (root / "src").mkdir(exist_ok=True)
    lines = ["project: sleepy", "pipeline:", "  jobs:"]
    ninja = ["rule run\n  command = $cmd\n"]
    for i in range(SLEEPERS):
        (root / f"src/in{i}.txt").write_text(f"input {i}\n")
        cmd = f"sleep {SLEEP_S} && cp src/in{i}.txt out/s{i}.txt"
        lines += [
            f"    s{i}:",
            f"      run: {cmd}",
            f"      inputs: [src/in{i}.txt]",
            f"      outputs: [out/s{i}.txt]",
        ]
        ninja.append(f"build out/s{i}.txt: run src/in{i}.txt\n  cmd = mkdir -p out && {cmd}\n")
    (root / "shipyard.yaml").write_text("\n".join(lines) + "\n")
    (root / "build.ninja").write_text("\n".join(ninja))
    git = ["git", "-c", "user.email=bench@example.com", "-c", "user.name=bench"]
    subprocess.run(["git", "init", "-q"], cwd=root, check=True)
    subprocess.run(["git", "add", "-A"], cwd=root, check=True)
    subprocess.run([*git, "commit", "-qm", "sleepy"], cwd=root, check=True)


def _shipyard(root: Path, *args: str, **env: str) -> tuple[float, dict[str, object]]:
    full = {**os.environ, "SHIPYARD_HOME": str(root / ".shipyard"), **env}
    full.pop("SHIPYARD_DATABASE_URL", None)
    os.sync()
    t0 = time.perf_counter()
    proc = subprocess.run(
        [sys.executable, "-m", "shipyard", "run", "--json", *args],
        cwd=root,
        env=full,
        capture_output=True,
        text=True,
    )
    wall = time.perf_counter() - t0
    if proc.returncode != 0:
        raise SystemExit(
            f"shipyard {' '.join(args)} failed:\n{proc.stdout[-2000:]}\n{proc.stderr[-2000:]}"
        )
    return wall, json.loads(proc.stdout)


def _ninja(root: Path, jobs: int) -> float:
    os.sync()
    t0 = time.perf_counter()
    subprocess.run(["ninja", "-j", str(jobs)], cwd=root, check=True, capture_output=True)
    return time.perf_counter() - t0


def distributed(base: Path) -> list[str]:
    """dask-local:4 against -j1 on sleeping steps (ninja -j1 and -j4 beside them)."""
    one, dask, peer = base / "sleepy-j1", base / "sleepy-dask", base / "sleepy-ninja"
    for root in (one, dask, peer):
        shutil.rmtree(root, ignore_errors=True)
        sleepy(root)
    serial, _ = _shipyard(one, "-j", "1")
    spread, summary = _shipyard(dask, "--executor", "dask-local:4")
    if summary["counts"]["executed"] != SLEEPERS:  # type: ignore[index]
        raise SystemExit("dask-local:4 did not run every step")
    ninja_1 = _ninja(peer, 1)
    shutil.rmtree(peer / "out")
    (peer / ".ninja_log").unlink(missing_ok=True)
    ninja_4 = _ninja(peer, 4)
    print(
        f"-- {SLEEPERS} steps of sleep {SLEEP_S}s\n"
        f"shipyard -j1 {serial:.3f}s  shipyard dask-local:4 {spread:.3f}s  "
        f"ninja -j1 {ninja_1:.3f}s  ninja -j4 {ninja_4:.3f}s",
        flush=True,
    )
    return [
        f"dask-local:4: shipyard -j1/dask {serial / spread:.2f}x (ninja -j1/-j4 "
        f"{ninja_1 / ninja_4:.2f}x)"
    ]


def remote(base: Path, leaves_n: int, seed: int) -> list[str]:
    """A second clone with the remote cache warm against the same clone built cold, on the
    sleeping graph and on the generated one."""
    here = base / "server"
    shutil.rmtree(here, ignore_errors=True)
    here.mkdir(parents=True)
    (here / "shipyard.yaml").write_text("project: bench\n")
    env = {**os.environ, "SHIPYARD_HOME": str(here / ".shipyard")}
    made = subprocess.run(
        [sys.executable, "-m", "shipyard", "token", "create", "--role", "developer", "--json"],
        cwd=here,
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    token = json.loads(made.stdout)["token"]
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    server = subprocess.Popen(
        [sys.executable, "-m", "shipyard", "server", "--port", str(port)],
        cwd=here,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}/cache"
    out: list[str] = []
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=1):
                    break
            except OSError:
                if time.monotonic() > deadline or server.poll() is not None:
                    raise SystemExit("shipyard server did not start") from None
                time.sleep(0.2)
        for name, make in (("sleepy", sleepy), ("generated", None)):
            roots = [base / f"{name}-{k}" for k in ("first", "cold", "warm")]
            for root in roots:
                shutil.rmtree(root, ignore_errors=True)
                if make is not None:
                    make(root)
                else:
                    root.mkdir(parents=True)
                    leaves(root, leaves_n, seed)
                    write(root, graph(leaves_n))
            first, cold, warm = roots
            _shipyard(first, "-j", "2", "--remote-cache", url, SHIPYARD_TOKEN=token)
            cold_s, _ = _shipyard(cold, "-j", "2")
            warm_s, summary = _shipyard(
                warm, "-j", "2", "--remote-cache", url, SHIPYARD_TOKEN=token
            )
            if summary["counts"]["executed"] != 0:  # type: ignore[index]
                raise SystemExit(f"the warm clone of {name} ran steps")
            print(
                f"-- a second clone of {name}: cold {cold_s:.3f}s, remote cache warm {warm_s:.3f}s",
                flush=True,
            )
            out.append(f"remote-warm@{name}: cold/warm {cold_s / warm_s:.2f}x")
    finally:
        server.terminate()
        server.wait(10)
    return out


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--leaves", default="2000,8000", help="graph sizes, comma-separated")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--dir", type=Path, default=None)
    parser.add_argument("--local-only", action="store_true", help="skip Dask and remote cache")
    args = parser.parse_args()
    for tool in ("ninja", "make"):
        if shutil.which(tool) is None:
            raise SystemExit(f"{tool} is not installed (apt-get install ninja-build make)")
    base = args.dir or Path(tempfile.mkdtemp(prefix="shipyard-bench-pipeline-"))
    t0 = time.perf_counter()
    subprocess.run([sys.executable, "-c", "pass"], check=True)
    startup = time.perf_counter() - t0
    sizes = [int(n) for n in str(args.leaves).split(",")]
    print(
        f"load average before: {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs; "
        f"`python -c pass` takes {startup:.3f}s here",
        flush=True,
    )
    ratios: list[str] = []
    for n in sizes:
        ratios += scenarios_on(base, n, args.seed)
    if not args.local_only:
        ratios += distributed(base)
        ratios += remote(base, sizes[0], args.seed)
    print(f"load average after: {os.getloadavg()[0]:.1f}", flush=True)
    print("; ".join(ratios))


if __name__ == "__main__":
    main()
