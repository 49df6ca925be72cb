"""Shipyard against real ninja on one build graph: after every kind of change, every output
file is the same bytes as ninja's, and Shipyard runs no more actions than ninja does.

Each later job reads the files the jobs it `needs` wrote and declares no `inputs` of them:
the outputs of needed steps are part of its key, as docs/pipelines.md says.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from collections.abc import Callable
from pathlib import Path

from tests import gitrepo
from tests.e2e.helpers import as_json, shipyard

LEAVES = 12
FAN_IN = 4


def _graph() -> dict[str, tuple[str, list[str]]]:
    """target -> (command, the files it reads); leaves, libraries, two aggregators, a final."""
    g: dict[str, tuple[str, list[str]]] = {}
    for i in range(LEAVES):
        g[f"out/leaf{i}.txt"] = (f"tr a-z A-Z < src/leaf{i}.txt > out/leaf{i}.txt", [])
    libs = []
    for j in range(0, LEAVES, FAN_IN):
        reads = [f"out/leaf{i}.txt" for i in range(j, j + FAN_IN)]
        name = f"out/lib{j // FAN_IN}.txt"
        g[name] = (f"cat {' '.join(reads)} > {name}", reads)
        libs.append(name)
    aggs = []
    for k in range(2):
        reads = libs[k::2]
        name = f"out/agg{k}.txt"
        both = " ".join(reads)
        g[name] = (f"cat {both} | wc -c > {name} && cat {both} >> {name}", reads)
        aggs.append(name)
    g["out/final.txt"] = (f"cat {' '.join(aggs)} > out/final.txt", aggs)
    return g


def _write(root: Path, g: dict[str, tuple[str, list[str]]]) -> None:
    ninja = ["rule run\n  command = $cmd\n"]
    yaml = ["project: differential", "pipeline:", "  jobs:"]
    for target, (cmd, reads) in g.items():
        leaf = f"src/{Path(target).name}" if not reads else None
        deps = reads or [leaf]
        ninja.append(f"build {target}: run {' '.join(deps)}\n  cmd = {cmd}\n")
        yaml.append(f"    {Path(target).stem}:")
        yaml.append(f"      run: {cmd!r}")
        if reads:  # what it reads is what the jobs it needs wrote: no `inputs` for those
            yaml.append(f"      needs: [{', '.join(Path(r).stem for r in reads)}]")
        else:
            yaml.append(f"      inputs: [{leaf}]")
        yaml.append(f"      outputs: [{target}]")
    (root / "build.ninja").write_text("\n".join(ninja))
    (root / "shipyard.yaml").write_text("\n".join(yaml) + "\n")


def _repo(root: Path) -> Path:
    gitrepo.init(root)
    (root / "src").mkdir()
    (root / "out").mkdir()  # ninja does not make the folders of its outputs
    for i in range(LEAVES):
        (root / f"src/leaf{i}.txt").write_text(f"leaf {i} says abc xyz {i * 7}\n")
    _write(root, _graph())
    (root / ".gitignore").write_text(".shipyard/\nout/\n.ninja_*\n")
    gitrepo.git(root, "add", "-A")
    gitrepo.git(root, "commit", "-q", "-m", "graph")
    return root


def _ninja(root: Path) -> int:
    proc = subprocess.run(["ninja", "-j", "2"], cwd=root, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    steps = re.findall(r"^\[(\d+)/(\d+)\]", proc.stdout, re.MULTILINE)
    return int(steps[-1][1]) if steps else 0


def _shipyard(root: Path) -> int:
    proc = shipyard("run", "-j", "2", "--json", cwd=root)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    return int(as_json(proc)["counts"]["executed"])


def _outputs(root: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted((root / "out").iterdir())}


def _edit(path: Path, old: str, new: str) -> None:
    text = path.read_text()
    assert old in text
    path.write_text(text.replace(old, new, 1))


def test_every_output_matches_ninja_after_each_kind_of_change(tmp_path: Path) -> None:
    """Cold, no-op, touch, changed leaves (one whose output changes, one whose output does
    not), changed command lines and deleted outputs all leave Shipyard's output files equal to
    ninja's, with Shipyard running exactly ninja's actions where content changed and none
    where it did not."""
    ours, theirs = _repo(tmp_path / "shipyard"), _repo(tmp_path / "ninja")
    total = len(_graph())

    def touch(root: Path) -> None:
        f = root / "src/leaf5.txt"
        ns = f.stat().st_mtime_ns + 10**9  # newer than every output, the same bytes
        os.utime(f, ns=(ns, ns))

    def change(root: Path) -> None:
        _edit(root / "src/leaf5.txt", "abc", "abd")

    def same_output(root: Path) -> None:
        _edit(root / "src/leaf6.txt", "abc", "ABC")  # upper-cased anyway: the same bytes out

    def command(root: Path) -> None:  # other output: leaf9 loses its z
        for name in ("build.ninja", "shipyard.yaml"):
            _edit(root / name, "tr a-z A-Z < src/leaf9.txt", "tr a-y A-Y < src/leaf9.txt")

    def equivalent(root: Path) -> None:  # another command line, the same output
        for name in ("build.ninja", "shipyard.yaml"):
            _edit(root / name, "tr a-z A-Z < src/leaf2.txt", "tr a-z  A-Z < src/leaf2.txt")

    def lose_outputs(root: Path) -> None:
        shutil.rmtree(root / "out")
        (root / "out").mkdir()

    # (scenario, change, Shipyard's actions: None means "as many as ninja's")
    scenarios: list[tuple[str, Callable[[Path], None] | None, int | None]] = [
        ("cold", None, total),
        ("no-op", None, 0),
        ("touch", touch, 0),
        ("change a leaf", change, None),
        ("change a leaf, same output", same_output, 1),
        ("change a command", command, None),
        ("equivalent command", equivalent, 1),
        ("outputs deleted", lose_outputs, 0),
    ]
    for name, prepare, expected in scenarios:
        if prepare is not None:
            prepare(ours)
            prepare(theirs)
        ran_ninja, ran_ours = _ninja(theirs), _shipyard(ours)
        assert _outputs(ours) == _outputs(theirs), name
        assert ran_ours == (ran_ninja if expected is None else expected), name
        assert ran_ours <= ran_ninja, name
    assert _outputs(ours)["final.txt"].count(b"ABD") == 1  # the changes reached the end
