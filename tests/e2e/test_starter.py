"""`shipyard init` in a fresh repository of each kind, then `shipyard run` twice: the starter's
jobs pass with the real toolchain and the second run is all cached."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from tests.e2e.helpers import as_json, shipyard

PROJECTS: dict[str, dict[str, str]] = {
    "python": {
        "pyproject.toml": (
            '[project]\nname = "hello"\nversion = "0.1.0"\n\n'
            '[tool.pytest.ini_options]\npythonpath = ["src"]\n'
        ),
        "src/hello/__init__.py": 'def greet() -> str:\n    return "hi"\n',
        "tests/test_hello.py": (
            'from hello import greet\n\n\ndef test_greet() -> None:\n    assert greet() == "hi"\n'
        ),
    },
    "node": {
        "package.json": (
            '{"name": "hello", "version": "0.1.0", "main": "index.js",\n'
            ' "scripts": {"test": "node --test"}}\n'
        ),
        "index.js": "module.exports = () => 'hi';\n",
        "index.test.js": (
            "const test = require('node:test');\nconst assert = require('node:assert');\n"
            "test('greets', () => assert.equal(require('./index.js')(), 'hi'));\n"
        ),
    },
    "go": {
        "go.mod": "module example.com/hello\n\ngo 1.19\n",
        "main.go": (
            'package main\n\nimport "fmt"\n\nfunc main() { fmt.Println(greet()) }\n\n'
            'func greet() string { return "hi" }\n'
        ),
        "main_test.go": (
            'package main\n\nimport "testing"\n\n'
            'func TestGreet(t *testing.T) {\n\tif greet() != "hi" {\n\t\tt.Fatal(greet())\n\t}\n}\n'
        ),
    },
    "rust": {
        "Cargo.toml": '[package]\nname = "hello"\nversion = "0.1.0"\nedition = "2021"\n',
        "src/main.rs": (
            'fn greet() -> &\'static str { "hi" }\nfn main() { println!("{}", greet()); }\n'
            "#[cfg(test)]\n"
            'mod tests { #[test] fn greets() { assert_eq!(super::greet(), "hi"); } }\n'
        ),
    },
    "java": {
        # Plugins pinned to versions the local Maven repository holds, offline so the build
        # never waits on a network, and a JVM that starts fast: the project's own choices.
        "pom.xml": """\
<project xmlns="http://maven.apache.org/POM/4.0.0">
  <modelVersion>4.0.0</modelVersion>
  <groupId>demo</groupId>
  <artifactId>hello</artifactId>
  <version>0.1.0</version>
  <properties>
    <maven.compiler.release>17</maven.compiler.release>
    <project.build.sourceEncoding>UTF-8</project.build.sourceEncoding>
  </properties>
  <build>
    <pluginManagement>
      <plugins>
        <plugin><artifactId>maven-resources-plugin</artifactId><version>3.3.1</version></plugin>
        <plugin><artifactId>maven-compiler-plugin</artifactId><version>3.13.0</version></plugin>
        <plugin><artifactId>maven-surefire-plugin</artifactId><version>3.2.5</version></plugin>
        <plugin><artifactId>maven-jar-plugin</artifactId><version>3.4.1</version></plugin>
      </plugins>
    </pluginManagement>
  </build>
</project>
""",
        ".mvn/maven.config": "--offline\n",
        ".mvn/jvm.config": "-XX:TieredStopAtLevel=1\n",
        "src/main/java/demo/Hello.java": (
            "package demo;\n\npublic class Hello {\n"
            '    public static void main(String[] args) { System.out.println("hi"); }\n}\n'
        ),
    },
    "make": {
        "Makefile": (
            "test:\n\tgrep -q hi src/greeting.txt\n\n"
            "build:\n\tmkdir -p dist && cp src/greeting.txt dist/greeting.txt\n"
        ),
        "src/greeting.txt": "hi\n",
    },
}

# Jobs each starter writes, and the files its build leaves.
EXPECTED = {
    "python": (["lint", "test", "build"], "dist/hello-0.1.0-py3-none-any.whl"),
    "node": (["test", "package"], "dist/hello-0.1.0.tgz"),
    "go": (["vet", "test", "build"], "dist/hello"),
    "rust": (["test", "build"], "target/release/hello"),
    "java": (["build"], "target/hello-0.1.0.jar"),
    "make": (["test", "build"], "dist/greeting.txt"),
}

# The one stand-in: `python -m build` needs the `build` package and PyPI for its isolated
# environment, neither of which a test may count on; this writes the wheel's name from the
# same sources instead.
PYTHON_BUILD = "python -m build --wheel --outdir dist"
PYTHON_STAND_IN = (
    "python -c \"import zipfile; zipfile.ZipFile('dist/hello-0.1.0-py3-none-any.whl', 'w')"
    ".write('src/hello/__init__.py')\""
)


@pytest.mark.parametrize("kind", list(PROJECTS))
def test_the_starter_caches_on_the_second_run(tmp_path: Path, kind: str) -> None:
    """After `shipyard init`, the first run builds and the second executes nothing."""
    repo = tmp_path / "hello"
    for rel, text in PROJECTS[kind].items():
        (repo / rel).parent.mkdir(parents=True, exist_ok=True)
        (repo / rel).write_text(text)
    subprocess.run(["git", "init", "-q", str(repo)], check=True)

    init = shipyard("init", "--json", cwd=repo)
    assert init.returncode == 0, init.stderr
    assert as_json(init)["gitignore"] == "created"
    assert (repo / ".gitignore").read_text() == ".shipyard/\n"
    spec = (repo / "shipyard.yaml").read_text()
    if kind == "python":
        assert PYTHON_BUILD in spec
        (repo / "shipyard.yaml").write_text(spec.replace(PYTHON_BUILD, PYTHON_STAND_IN))

    jobs, built = EXPECTED[kind]
    first = shipyard("run", "--json", cwd=repo, timeout=300)
    assert first.returncode == 0, first.stdout + first.stderr
    summary = as_json(first)
    assert [s["job"] for s in summary["steps"]] == jobs
    assert summary["counts"]["executed"] == len(jobs)
    assert (repo / built).is_file()

    second = shipyard("run", "--json", cwd=repo, timeout=300)
    assert second.returncode == 0, second.stdout + second.stderr
    counts = as_json(second)["counts"]
    assert counts["executed"] == 0 and counts["cached"] == len(jobs), counts


def test_init_keeps_an_existing_gitignore_and_adds_the_state_folder_once(tmp_path: Path) -> None:
    """An existing .gitignore without a final newline gets `.shipyard/` once, however often
    `shipyard init --force` runs."""
    (tmp_path / ".gitignore").write_text("node_modules/\n*.log")
    first = shipyard("init", "--json", cwd=tmp_path)
    again = shipyard("init", "--force", "--json", cwd=tmp_path)
    assert as_json(first)["gitignore"] == "appended" and as_json(again)["gitignore"] == "unchanged"
    assert (tmp_path / ".gitignore").read_text() == "node_modules/\n*.log\n.shipyard/\n"
