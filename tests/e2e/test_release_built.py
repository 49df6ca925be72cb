"""`shipyard release` publishes what a recorded pipeline run built, and names that run."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests import gitrepo
from tests.e2e.helpers import as_json, shipyard

SPEC = """\
project: shop
pipeline:
  jobs:
    test:
      run: grep -q price app.txt
      inputs: [app.txt]
    build:
      needs: [test]
      run: mkdir -p dist && cp app.txt dist/shop.zip
      inputs: [app.txt]
      outputs: [dist/shop.zip]
      artifact: shop
environments:
  dev: {}
  staging:
    promote_from: dev
    gates: [tests]
"""


@pytest.fixture
def repo(tmp_path: Path, database_url: str) -> tuple[Path, dict[str, str]]:
    root = gitrepo.init(tmp_path / "shop")
    files = {"shipyard.yaml": SPEC, "app.txt": "price: 1\n", ".gitignore": ".shipyard/\ndist/\n"}
    gitrepo.commit(root, "feat: a shop", files)
    return root, {"SHIPYARD_DATABASE_URL": database_url}


def _runs(root: Path, env: dict[str, str]) -> list[dict[str, object]]:
    return list(as_json(shipyard("runs", "--json", cwd=root, env=env))["runs"])


def test_release_publishes_the_run_of_its_commit(repo: tuple[Path, dict[str, str]]) -> None:
    """After `shipyard run`, `release` starts no build: it publishes that run's bytes with its run
    id in the registry and the provenance, and staging's tests gate passes from that run."""
    root, env = repo
    ran = shipyard("run", "--json", cwd=root, env=env)
    assert ran.returncode == 0, ran.stderr
    run_id = as_json(ran)["run_id"]
    (root / "dist" / "shop.zip").write_text("edited after the run\n")  # ignored: not published
    out = shipyard("release", "--json", cwd=root, env=env)
    assert out.returncode == 0, out.stderr
    data = as_json(out)
    assert data["built"] == {"run_id": run_id, "commit": data["head"], "ran": False}
    assert len(_runs(root, env)) == 1
    shown = as_json(shipyard("artifacts", "show", "shop@0.1.0", "--json", cwd=root, env=env))
    assert shown["run_id"] == str(run_id) and shown["commit"] == data["head"]
    assert shown["provenance"]["runDetails"]["metadata"]["invocationId"] == str(run_id)
    assert shown["provenance"]["buildDefinition"]["externalParameters"]["job"] == "build"
    copy = root / "copy.zip"
    shipyard("artifacts", "download", "shop@0.1.0", "-o", str(copy), cwd=root, env=env)
    assert copy.read_text() == "price: 1\n"
    gates = shipyard("gates", "staging", "--version", "0.1.0", "--json", cwd=root, env=env)
    assert gates.returncode == 0, gates.stdout
    assert as_json(gates)["gates"][0]["reason"] == f"run {run_id} passed"


def test_release_without_a_run_runs_the_pipeline(repo: tuple[Path, dict[str, str]]) -> None:
    """With no run of the commit, `release` runs the pipeline and publishes what that run built."""
    root, env = repo
    out = shipyard("release", "--json", cwd=root, env=env)
    assert out.returncode == 0, out.stderr
    built = as_json(out)["built"]
    runs = _runs(root, env)
    assert built["ran"] is True and [r["id"] for r in runs] == [built["run_id"]]
    assert runs[0]["trigger"] == "release" and runs[0]["status"] == "success"
    shown = as_json(shipyard("artifacts", "show", "shop@0.1.0", "--json", cwd=root, env=env))
    assert shown["run_id"] == str(built["run_id"])


def test_no_build_refuses_without_a_run(repo: tuple[Path, dict[str, str]]) -> None:
    """`release --no-build` with no run of the commit exits 5 with artifact-not-built, tags
    nothing and starts no run."""
    root, env = repo
    out = shipyard("release", "--no-build", "--json", cwd=root, env=env)
    assert out.returncode == 5 and as_json(out)["error"]["code"] == "artifact-not-built"
    assert "shipyard run" in as_json(out)["error"]["hint"]
    assert gitrepo.git(root, "tag", "--list") == "" and _runs(root, env) == []


def test_a_file_no_run_produced_is_refused(repo: tuple[Path, dict[str, str]]) -> None:
    """`release --artifact shop=FILE` with bytes the run did not produce exits 5 with
    artifact-not-built, a hint naming `shipyard run`, and leaves no tag or artifact."""
    root, env = repo
    assert shipyard("run", cwd=root, env=env).returncode == 0
    (root / "dist" / "shop.zip").write_text("made by hand\n")
    out = shipyard("release", "--artifact", "shop=dist/shop.zip", cwd=root, env=env)
    assert out.returncode == 5 and "error[artifact-not-built]" in out.stderr
    assert "shipyard run" in out.stderr
    assert gitrepo.git(root, "tag", "--list") == ""
    listed = as_json(shipyard("artifacts", "list", "--json", cwd=root, env=env))
    assert listed["artifacts"] == []


def test_a_run_over_uncommitted_changes_is_not_the_commits_build(
    repo: tuple[Path, dict[str, str]],
) -> None:
    """A run made while a tracked input was edited records the same commit but is not used:
    after the edit is undone, `release` builds again and publishes the committed content."""
    root, env = repo
    (root / "app.txt").write_text("price: 2 (not committed)\n")
    dirty = as_json(shipyard("run", "--json", cwd=root, env=env))["run_id"]
    gitrepo.git(root, "checkout", "--", "app.txt")
    out = shipyard("release", "--json", cwd=root, env=env)
    assert out.returncode == 0, out.stderr
    built = as_json(out)["built"]
    assert built["ran"] is True and built["run_id"] != dirty
    copy = root / "copy.zip"
    shipyard("artifacts", "download", "shop@0.1.0", "-o", str(copy), cwd=root, env=env)
    assert copy.read_text() == "price: 1\n"


def test_publish_with_a_run_id_checks_the_bytes(repo: tuple[Path, dict[str, str]]) -> None:
    """`artifacts publish --run-id R` accepts only a file run R produced (and fills in its commit);
    other bytes exit 5 with artifact-not-built."""
    root, env = repo
    run_id = str(as_json(shipyard("run", "--json", cwd=root, env=env))["run_id"])
    args = ("artifacts", "publish", "shop", "dist/shop.zip", "--run-id", run_id, "--json")
    good = shipyard(*args, "--version", "1.0.0", cwd=root, env=env)
    assert good.returncode == 0, good.stdout
    assert as_json(good)["artifact"]["commit"] == gitrepo.git(root, "rev-parse", "HEAD")
    (root / "dist" / "shop.zip").write_text("other\n")
    bad = shipyard(*args, "--version", "1.0.1", cwd=root, env=env)
    assert bad.returncode == 5 and as_json(bad)["error"]["code"] == "artifact-not-built"


def test_a_file_without_any_pipeline_is_refused(tmp_path: Path) -> None:
    """With no pipeline job declared, `release --artifact` exits 5 with artifact-not-built and a
    hint to declare the job, and tags nothing."""
    root = gitrepo.init(tmp_path / "bare")
    files = {"shipyard.yaml": "project: bare\n", "bare.zip": "bytes", ".gitignore": ".shipyard/\n"}
    gitrepo.commit(root, "feat: bare", files)
    out = shipyard("release", "--artifact", "bare=bare.zip", "--json", cwd=root)
    assert out.returncode == 5 and as_json(out)["error"]["code"] == "artifact-not-built"
    assert "declare the job" in as_json(out)["error"]["hint"]
    assert gitrepo.git(root, "tag", "--list") == ""
