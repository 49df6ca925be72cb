"""The up-to-date check: a `shipyard run` with nothing changed is answered from the stamp, and
any change the full path would notice sends the run the full way."""

from __future__ import annotations

import marshal
import os
from pathlib import Path
from typing import Any

from tests.e2e.helpers import as_json, shipyard

SPEC = """project: p
pipeline:
  jobs:
    gen:
      run: mkdir -p out && tr a-z A-Z < src/a.txt > out/a.txt
      inputs: [src/a.txt]
      outputs: [out/a.txt]
    pack:
      needs: [gen]
      run: cat out/a.txt src/*.txt > out/pack.txt
      inputs: [out/a.txt, "src/*.txt"]
      outputs: [out/pack.txt]
    late:
      needs: [pack]
      if: env.SHIP_LATE == 'yes'
      run: echo late > out/late.txt
"""


def _repo(root: Path) -> Path:
    (root / "src").mkdir(parents=True)
    (root / "src/a.txt").write_text("alpha\n")
    (root / "shipyard.yaml").write_text(SPEC)
    return root


def _run(repo: Path, **env: str) -> dict[str, Any]:
    proc = shipyard("run", "--json", "-j", "2", cwd=repo, env=env or None)
    assert proc.returncode == 0, proc.stderr
    return dict(as_json(proc))


def _answered(summary: dict[str, Any]) -> bool:
    """Only the up-to-date check gives a step the reason 'up to date'."""
    done = [s for s in summary["steps"] if s["status"] == "success"]
    return bool(done) and all(s["reason"] == "up to date" for s in done)


def _age(path: Path, seconds: float = 5) -> None:
    """Back-date a file so its stat is trusted, as it is for anything not written this second."""
    st = path.stat()
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns - int(seconds * 1e9)))


def _settle(repo: Path) -> dict[str, Any]:
    """Age every file, then run once on the full path so the stamp trusts their stats."""
    for p in [*repo.glob("src/*"), *repo.glob("out/*")]:
        _age(p)
    return _run(repo)


def test_nothing_changed_is_answered_and_recorded(tmp_path: Path, database_url: str) -> None:
    """On SQLite and on a PostgreSQL store alike."""
    repo = _repo(tmp_path / "repo")
    db = {"SHIPYARD_DATABASE_URL": database_url}
    first = _run(repo, **db)
    assert first["counts"]["executed"] == 2 and not _answered(first)
    second = _run(repo, **db)
    assert _answered(second)
    assert second["counts"] == {**first["counts"], "executed": 0, "cached": 2}
    assert second["run_id"] == first["run_id"] + 1
    shown = as_json(shipyard("runs", "show", str(second["run_id"]), "--json", cwd=repo, env=db))
    assert {s["node"]: (s["status"], s["cached"]) for s in shown["steps"]} == {
        "gen": ("success", True),
        "pack": ("success", True),
        "late": ("skipped", False),
    }
    runs = as_json(shipyard("runs", "--json", cwd=repo, env=db))["runs"]
    assert runs[0]["trigger"] == f"up-to-date:{first['run_id']}"
    assert runs[0]["counts"] == {"cached": 2, "skipped": 1}
    logs = shipyard("logs", str(second["run_id"]), "gen", cwd=repo, env=db)
    assert logs.returncode == 0, logs.stderr
    verify = shipyard("audit", "verify", cwd=repo, env=db)
    assert verify.returncode == 0, verify.stdout + verify.stderr
    third = _run(repo, **db)
    assert _answered(third) and third["run_id"] == second["run_id"] + 1


def test_changed_content_runs_the_step(tmp_path: Path) -> None:
    repo = _repo(tmp_path)
    _settle(repo)
    (repo / "src/a.txt").write_text("beta\n")
    out = _run(repo)
    assert not _answered(out) and out["counts"]["executed"] == 2
    assert (repo / "out/pack.txt").read_text().startswith("BETA")


def test_touched_file_is_checked_by_content_and_answered(tmp_path: Path) -> None:
    repo = _repo(tmp_path)
    _settle(repo)
    _age(repo / "src/a.txt", -2)  # a newer mtime, the same bytes
    out = _run(repo)
    assert _answered(out) and out["counts"]["executed"] == 0
    stamp = marshal.loads((repo / ".shipyard/uptodate.stamp").read_bytes())
    [entry] = [e for e in stamp["files"] if e[0] == "src/a.txt"]
    assert entry[2] == (repo / "src/a.txt").stat().st_mtime_ns  # refreshed: not hashed again


def test_racy_file_is_checked_by_content(tmp_path: Path) -> None:
    """A file written the second before the stamp keeps its digest there: an edit that keeps
    its size, inode and mtime is still seen."""
    repo = _repo(tmp_path)
    spec = repo / "shipyard.yaml"
    # A step whose output is stamped a minute ahead: too fresh to trust by stat, deterministically.
    spec.write_text(
        SPEC.replace("> out/pack.txt", "> out/pack.txt && touch -d '1 minute' out/pack.txt")
    )
    _run(repo)
    assert _answered(_run(repo))
    path = repo / "out/pack.txt"
    st = path.stat()
    text = path.read_text()
    with path.open("r+") as f:
        f.write(text.swapcase())  # same length, written in place
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns))
    assert path.stat().st_ino == st.st_ino and path.stat().st_size == st.st_size
    out = _run(repo)
    assert not _answered(out) and out["counts"]["executed"] == 0
    assert path.read_text() == text  # restored from the cache, checked against its digest


def test_deleted_output_is_restored(tmp_path: Path) -> None:
    repo = _repo(tmp_path)
    _settle(repo)
    (repo / "out/pack.txt").unlink()
    out = _run(repo)
    assert not _answered(out) and out["counts"]["executed"] == 0
    assert (repo / "out/pack.txt").read_text().startswith("ALPHA")


def test_new_file_under_a_glob_runs_the_step(tmp_path: Path) -> None:
    repo = _repo(tmp_path)
    _settle(repo)
    (repo / "src/b.txt").write_text("bravo\n")
    out = _run(repo)
    assert not _answered(out) and out["counts"]["executed"] == 1
    assert "bravo" in (repo / "out/pack.txt").read_text()


def test_spec_and_condition_changes_go_the_full_way(tmp_path: Path) -> None:
    repo = _repo(tmp_path)
    _settle(repo)
    assert _answered(_run(repo))
    late = _run(repo, SHIP_LATE="yes")  # an env var an `if` reads
    assert not _answered(late) and late["counts"]["executed"] == 1
    assert (repo / "out/late.txt").is_file()
    spec = repo / "shipyard.yaml"
    spec.write_text(spec.read_text().replace("tr a-z A-Z", "tr a-z A-Z "))
    changed = _run(repo, SHIP_LATE="yes")
    assert not _answered(changed) and changed["counts"]["executed"] == 1


def test_failed_run_leaves_no_stamp(tmp_path: Path) -> None:
    repo = _repo(tmp_path)
    _settle(repo)
    (repo / "src/a.txt").write_text("delta\n")
    spec = repo / "shipyard.yaml"
    spec.write_text(spec.read_text().replace("cat out/a.txt", "false && cat out/a.txt"))
    failed = shipyard("run", "--json", cwd=repo)
    assert failed.returncode == 1
    assert not (repo / ".shipyard/uptodate.stamp").exists()
    spec.write_text(SPEC)
    again = _run(repo)
    assert not _answered(again) and again["counts"]["executed"] == 1


def test_options_it_cannot_vouch_for_go_the_full_way(tmp_path: Path) -> None:
    repo = _repo(tmp_path)
    _settle(repo)
    picked = as_json(shipyard("run", "gen", "--json", cwd=repo))
    assert not _answered(picked) and picked["counts"]["total"] == 1
    # the selection's own stamp answers the same selection next time, and only it
    assert _answered(as_json(shipyard("run", "gen", "--json", cwd=repo)))
    assert not _answered(_run(repo))
    plain = shipyard("run", "--plain", cwd=repo)
    assert plain.returncode == 0 and "3 step(s)" not in plain.stdout  # answered: no live lines
    assert "0 executed, 2 cached" in plain.stdout


def test_a_lost_database_goes_the_full_way(tmp_path: Path) -> None:
    """A stamp whose database is gone answers nothing: the full path builds a new store."""
    repo = _repo(tmp_path)
    _settle(repo)
    for name in ("state.db", "state.db-wal", "state.db-shm"):
        (repo / ".shipyard" / name).unlink(missing_ok=True)
    out = _run(repo)
    assert not _answered(out) and out["run_id"] == 1 and out["counts"]["executed"] == 2


def test_another_tool_on_path_goes_the_full_way(tmp_path: Path) -> None:
    """A job's `tools` are found on PATH again: another program by that name is another key."""
    repo = tmp_path / "repo"
    repo.mkdir()
    (repo / "shipyard.yaml").write_text(
        "project: p\npipeline:\n  jobs:\n"
        "    v: {run: 'mytool > v.txt', tools: [mytool], outputs: [v.txt]}\n"
    )
    bins = []
    for name in ("one", "two"):
        folder = tmp_path / name
        folder.mkdir()
        tool = folder / "mytool"
        tool.write_text(f"#!/bin/sh\necho mytool {name}\n")
        tool.chmod(0o755)
        _age(tool)
        bins.append(str(folder))
    first = {"PATH": f"{bins[0]}:{os.environ['PATH']}"}
    assert _run(repo, **first)["counts"]["executed"] == 1
    assert _answered(_run(repo, **first))
    second = _run(repo, PATH=f"{bins[1]}:{os.environ['PATH']}")
    assert not _answered(second) and second["counts"]["executed"] == 1
    assert (repo / "v.txt").read_text() == "mytool two\n"


def test_a_damaged_stamp_goes_the_full_way_and_is_replaced(tmp_path: Path) -> None:
    """A stamp that is not one, or not this format, is ignored: the run goes the full way and
    leaves a good one."""
    repo = _repo(tmp_path)
    _settle(repo)
    stamp = repo / ".shipyard/uptodate.stamp"
    for damage in (b"{not a stamp", marshal.dumps({"format": 0})):
        stamp.write_bytes(damage)
        out = _run(repo)
        assert not _answered(out) and out["counts"]["executed"] == 0
        assert marshal.loads(stamp.read_bytes())["format"] != 0
