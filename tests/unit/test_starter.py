"""The starter `shipyard init` writes: its ecosystem, inputs that leave out what builds write,
and the state folder kept out of git."""

from __future__ import annotations

from pathlib import Path

import pytest

from shipyard.spec.load import check_spec
from shipyard.spec.starter import ecosystem, ignore_state, inputs, starter


def tree(root: Path, files: list[str]) -> Path:
    for rel in files:
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_text("x\n")
    return root


@pytest.mark.parametrize(
    ("files", "kind", "expected"),
    [
        (
            ["pyproject.toml", "src/app/__init__.py", "src/app/data.json", "tests/test_a.py"],
            "Python",
            ["src/**/*.py", "tests/**/*.py", "pyproject.toml"],
        ),
        (
            ["setup.py", "app.py", "README.md", ".venv/lib/x.py", "build/lib/app.py"],
            "Python",
            ["app.py", "setup.py"],
        ),
        (
            ["package.json", "index.js", "lib/a.js", "node_modules/x/i.js", "dist/a.js"],
            "Node",
            ["index.js", "lib/**", "package.json"],
        ),
        (
            ["go.mod", "main.go", "cmd/x/main.go", "dist/x", "README.md"],
            "Go",
            ["cmd/**/*.go", "main.go", "go.mod"],
        ),
        (
            ["Cargo.toml", "Cargo.lock", "src/main.rs", "target/release/x"],
            "Rust",
            ["src/**", "Cargo.toml", "Cargo.lock"],
        ),
        (["pom.xml", "src/main/java/A.java", "target/a.jar"], "Java/Maven", ["src/**", "pom.xml"]),
        (
            ["Makefile", "src/a.c", "dist/a", ".github/workflows/ci.yml"],
            "Makefile",
            ["Makefile", "src/**"],
        ),
        ([], "Makefile", []),
    ],
)
def test_inputs_hold_the_sources_and_none_of_the_outputs(
    tmp_path: Path, files: list[str], kind: str, expected: list[str]
) -> None:
    """Each kind of repository is recognised; its inputs match its sources and never a folder
    that builds, package managers or tools write, nor hidden ones."""
    root = tree(tmp_path, files)
    found = ecosystem(root)
    assert found.name == kind
    assert inputs(root, found) == expected


@pytest.mark.parametrize(
    "files",
    [
        ["pyproject.toml", "src/a.py"],
        ["package.json", "index.js"],
        ["go.mod", "main.go"],
        ["Cargo.toml", "src/lib.rs"],
        ["pom.xml", "src/main/java/A.java"],
        ["Makefile"],
        [],
    ],
)
def test_every_starter_passes_validate(tmp_path: Path, files: list[str]) -> None:
    """The starter of each kind of repository passes every check `shipyard validate` makes."""
    spec = check_spec(starter(tree(tmp_path, files)))
    assert spec.pipeline.jobs and any(j.artifact for j in spec.pipeline.jobs.values())
    for job in spec.pipeline.jobs.values():
        assert not any(o.split("/")[0] in i for o in job.outputs for i in job.inputs), job


def test_a_node_package_gets_install_test_and_build_steps(tmp_path: Path) -> None:
    """Dependencies get an install step from the lock file, a real test script a test step,
    and a build script runs before the package is packed."""
    (tmp_path / "package.json").write_text(
        '{"name": "web", "version": "1.0.0", "dependencies": {"left-pad": "1"},'
        ' "scripts": {"test": "jest", "build": "tsc"}}'
    )
    (tmp_path / "package-lock.json").write_text("{}")
    jobs = check_spec(starter(tmp_path)).pipeline.jobs
    assert jobs["install"].run == "npm ci" and jobs["install"].outputs == ["node_modules/**"]
    assert jobs["test"].needs == ["install"] and jobs["package"].needs == ["test"]
    assert jobs["package"].run.startswith("npm run build && ")


def test_the_placeholder_test_script_of_npm_init_is_no_test(tmp_path: Path) -> None:
    """`npm init`'s test script, which only fails, gets no test step."""
    (tmp_path / "package.json").write_text(
        '{"name": "web", "scripts": {"test": "echo \\"Error: no test specified\\" && exit 1"}}'
    )
    assert list(check_spec(starter(tmp_path)).pipeline.jobs) == ["package"]


@pytest.mark.parametrize(
    ("before", "after", "outcome"),
    [
        (None, ".shipyard/\n", "created"),
        ("", ".shipyard/\n", "appended"),
        ("dist/\n", "dist/\n.shipyard/\n", "appended"),
        ("dist/", "dist/\n.shipyard/\n", "appended"),
        ("/.shipyard\n", "/.shipyard\n", "unchanged"),
        ("x\n.shipyard/\ny\n", "x\n.shipyard/\ny\n", "unchanged"),
    ],
)
def test_the_state_folder_is_ignored_once(
    tmp_path: Path, before: str | None, after: str, outcome: str
) -> None:
    """.gitignore is created or appended to with `.shipyard/`, and left alone once it has it."""
    path = tmp_path / ".gitignore"
    if before is not None:
        path.write_text(before)
    assert ignore_state(tmp_path) == outcome
    assert path.read_text() == after
    assert ignore_state(tmp_path) == "unchanged" and path.read_text() == after
