"""Shipyard's pipeline against ninja, make and doit on one generated build graph.

A seeded generator writes the same graph four ways (build.ninja, Makefile, dodo.py,
shipyard.yaml): N leaf files of 4 KiB, one `tr` per leaf, a fan-in of 32 leaves into each
library, 8 aggregators over the libraries, one final target. Each tool runs with -j2 through
five scenarios: cold, no-op, touch a leaf without changing it, change one leaf's content, change
one leaf's command line (in a way that does not change its output). It checks how many actions
each tool ran where the expected number is clear and that Shipyard's output files are ninja's
bytes after every scenario, prints wall times, and ends with the ratios.

    python benchmarks/pipeline.py [--leaves 2000] [--seed 7] [--dir D]

ninja comes from Debian (`ninja-build`), doit from PyPI (`pip install doit`), make from Debian.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import re
import shutil
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


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--leaves", type=int, default=2000)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--dir", type=Path, default=None)
    args = parser.parse_args()
    for tool in ("ninja", "make"):
        if shutil.which(tool) is None:
            raise SystemExit(f"{tool} is not installed (apt-get install ninja-build make)")
    base = args.dir or Path(tempfile.mkdtemp(prefix="shipyard-bench-pipeline-"))
    g = graph(args.leaves)
    total = len(g)
    n = args.leaves
    roots = {}
    for tool in TOOLS:
        root = base / tool
        shutil.rmtree(root, ignore_errors=True)
        root.mkdir(parents=True)
        leaves(root, n, args.seed)
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
        parts = [f"{name}:"]
        for peer in ("ninja", "make", "doit"):
            parts.append(f"shipyard/{peer} {times['shipyard'][name] / times[peer][name]:.2f}x")
        ratios.append(" ".join(parts))
    print("; ".join(ratios))


if __name__ == "__main__":
    main()
