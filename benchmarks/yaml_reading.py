"""Reading shipyard.yaml with bounds on aliases, against PyYAML's own C loader, in one run.

A spec of N jobs (the pipeline benchmark's graph) is read with `yaml.load(CSafeLoader)` and with
Shipyard's reader, which composes from the parser's events to count aliases and nesting; then
the files of issue 23 (nine aliases a level, 8 to 10 levels) are refused, each in a fresh
process whose time and peak memory are printed (PyYAML is not run on them: it would expand
43 million nodes and more). The last line is the cost of the bounded reader over PyYAML's.

    python benchmarks/yaml_reading.py [N]        (default 2000)
"""

from __future__ import annotations

import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.pipeline import graph, write
from tests.yamlbomb import laughs

from shipyard.spec.source import parse

REFUSE = """\
import resource, sys, time
from shipyard.errors import SpecError
from shipyard.spec.source import parse
text = open(sys.argv[1]).read()
before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
t0 = time.perf_counter()
try:
    parse(text, sys.argv[1])
except SpecError as exc:
    code = exc.code
took = time.perf_counter() - t0
grew = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before
print(f"{code} {took * 1000:.1f} {grew / 1024:.1f}")
"""


def best(fn: object, runs: int = 5) -> float:
    times = []
    for _ in range(runs):
        t0 = time.perf_counter()
        fn()  # type: ignore[operator]
        times.append(time.perf_counter() - t0)
    return min(times)


def main(n: int) -> None:
    tmp = Path(tempfile.mkdtemp(prefix="shipyard-yaml-"))
    write(tmp, graph(n))
    text = (tmp / "shipyard.yaml").read_text()
    t_pyyaml = best(lambda: yaml.load(text, Loader=yaml.CSafeLoader))
    t_ours = best(lambda: parse(text, "shipyard.yaml"))
    assert parse(text, "f").data == yaml.load(text, Loader=yaml.CSafeLoader)
    print(f"spec of {n} jobs, {len(text):,} bytes")
    print(f"PyYAML CSafeLoader:        {t_pyyaml * 1000:.1f} ms")
    print(f"Shipyard (bounded) reader: {t_ours * 1000:.1f} ms")
    limit = 512 * 1024 * 1024  # a regression fails with MemoryError rather than swap

    def bounded() -> None:
        resource.setrlimit(resource.RLIMIT_AS, (limit, limit))

    for levels in (8, 9, 10):
        path = tmp / f"laughs{levels}.yaml"
        path.write_text(laughs(levels))
        out = subprocess.run(
            [sys.executable, "-c", REFUSE, str(path)],
            capture_output=True,
            text=True,
            check=True,
            preexec_fn=bounded,
        ).stdout.split()
        size = path.stat().st_size
        print(f"{levels} levels ({size} bytes): {out[0]} in {out[1]} ms, +{out[2]} MB")
    print(f"bounded reader vs PyYAML: {t_ours / t_pyyaml:.2f}x")


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 2000)
