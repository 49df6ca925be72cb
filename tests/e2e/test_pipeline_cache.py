"""The step cache as a user meets it: it is never wrong. A step is re-run when the files the
steps it needs wrote change, concurrent runs in one workspace cannot cache the wrong bytes, the
sandbox is part of the key, and a killed run does not stay `running`."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from tests import gitrepo
from tests.e2e.helpers import as_json, shipyard

GEN_USE = """project: p
pipeline:
  jobs:
    gen:
      run: tr a-z A-Z < in.txt > out/a.txt
      inputs: [in.txt]
      outputs: [out/a.txt]
    use:
      needs: [gen]
      run: wc -c < out/a.txt > out/b.txt
      outputs: [out/b.txt]
"""


def _repo(root: Path, spec: str = GEN_USE, files: dict[str, str] | None = None) -> Path:
    gitrepo.init(root)
    (root / "shipyard.yaml").write_text(spec)
    for name, text in (files or {"in.txt": "hello\n"}).items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text(text)
    (root / ".gitignore").write_text(".shipyard/\nout/\n")
    gitrepo.git(root, "add", "-A")
    gitrepo.git(root, "commit", "-q", "-m", "start")
    return root


def _run(repo: Path, *args: str) -> dict[str, Any]:
    proc = shipyard("run", "--json", *args, cwd=repo)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    return dict(as_json(proc))


def _executed(summary: dict[str, Any]) -> list[str]:
    return sorted(s["node"] for s in summary["steps"] if not s["cached"])


def test_a_step_reruns_when_a_needed_step_writes_other_bytes(tmp_path: Path) -> None:
    """Changing what `gen` writes re-runs `use`, which reads it, and `why` names the file."""
    repo = _repo(tmp_path / "r")
    _run(repo)
    assert (repo / "out/b.txt").read_text().strip() == "6"
    (repo / "in.txt").write_text("hello world\n")
    assert _executed(_run(repo)) == ["gen", "use"]
    assert (repo / "out/b.txt").read_text().strip() == "12"
    why = shipyard("why", "use", "--json", cwd=repo)
    assert why.returncode == 0, why.stderr
    reasons = as_json(why)["steps"][0]["reasons"]
    assert reasons == ["needed job gen output file out/a.txt changed"]
    (repo / "in.txt").write_text("hello\n")  # back: both served from the cache
    assert _executed(_run(repo)) == []
    assert (repo / "out/b.txt").read_text().strip() == "6"


def test_the_same_bytes_from_a_needed_step_keep_the_cache(tmp_path: Path) -> None:
    """When `gen` runs again but writes the same bytes, `use` stays cached (early cutoff)."""
    repo = _repo(tmp_path / "r")
    _run(repo)
    (repo / "in.txt").write_text("HELLO\n")  # upper-cased anyway: out/a.txt is unchanged
    assert _executed(_run(repo)) == ["gen"]
    assert (repo / "out/b.txt").read_text().strip() == "6"


def test_a_hand_edited_output_is_put_back_before_its_dependants_are_keyed(tmp_path: Path) -> None:
    """An output of a needed step edited by hand is not vouched for by the up-to-date check:
    the cache puts it back and the dependant stays correct."""
    repo = _repo(tmp_path / "r")
    _run(repo)
    (repo / "out/a.txt").write_text("something else entirely\n")
    summary = _run(repo)
    assert all(s["reason"] != "up to date" for s in summary["steps"])
    assert _executed(summary) == []
    assert (repo / "out/a.txt").read_text() == "HELLO\n"
    assert (repo / "out/b.txt").read_text().strip() == "6"


def test_turning_the_sandbox_on_reruns_with_the_needed_outputs_copied_in(tmp_path: Path) -> None:
    """`sandbox: true` changes the key, and the sandbox holds the needed step's output files."""
    spec = GEN_USE.replace(
        "wc -c < out/a.txt > out/b.txt\n      outputs: [out/b.txt]",
        "wc -c < out/a.txt > out/b.txt && ls > out/ls.txt\n      outputs: [out/b.txt, out/ls.txt]",
    )
    repo = _repo(tmp_path / "r", spec)
    _run(repo)
    assert "shipyard.yaml" in (repo / "out/ls.txt").read_text()
    sandboxed = spec.replace("    use:\n", "    use:\n      sandbox: true\n")
    (repo / "shipyard.yaml").write_text(sandboxed)
    assert _executed(_run(repo)) == ["use"]
    assert (repo / "out/ls.txt").read_text() == "out\n"  # only what it may read
    assert (repo / "out/b.txt").read_text().strip() == "6"
