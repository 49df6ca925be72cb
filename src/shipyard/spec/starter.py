"""The commented shipyard.yaml that `shipyard init` writes, shaped by what the repository holds.

A Python (pyproject.toml, setup.py), Node (package.json), Go (go.mod), Rust (Cargo.toml) or
Java/Maven (pom.xml) repository gets that ecosystem's test and build jobs; anything else gets
`make test` and `make build`. A job's `inputs` name what is in the repository now, never what its
builds write (dist/, target/, node_modules/, caches), so an unchanged repository is all cached
on the next run; a folder added later is added to `inputs` by hand.
"""

from __future__ import annotations

import json
import os
import re
import tomllib
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

# Folders that builds, package managers, tools and editors write: never inputs.
WRITTEN = frozenset(
    {
        "dist",
        "build",
        "target",
        "out",
        "node_modules",
        "coverage",
        "htmlcov",
        "__pycache__",
        "venv",
        "bin",
        "obj",
    }
)
_GLOB = re.compile(r"[*?\[\]{}\"\\]")  # names a glob or a YAML string would misread


@dataclass(frozen=True)
class Ecosystem:
    name: str
    jobs: Callable[[Path, str, list[str]], str]  # (root, project name, inputs) -> jobs YAML
    command: Callable[[Path, str], str]  # (root, project name) -> the process target's command
    suffixes: tuple[str, ...] = ()  # source files; empty: every file outside WRITTEN
    manifests: tuple[str, ...] = ()  # files at the top that enter every key when present


def project_name(root: Path) -> str:
    name = re.sub(r"[^A-Za-z0-9_.-]+", "-", root.resolve().name).strip("-.") or "service"
    return name if name[0].isalnum() else f"p{name}"


def ecosystem(root: Path) -> Ecosystem:
    """The first ecosystem whose marker file the repository holds, else the Makefile one."""
    for marker, found in _MARKERS:
        if any((root / m).is_file() for m in marker):
            return found
    return MAKE


def inputs(root: Path, kind: Ecosystem) -> list[str]:
    """Globs over what the repository holds, each matching at least one file: a folder's
    source files (``src/**/*.py``, or ``src/**`` for every file), then files at the top."""
    globs: list[str] = []
    for entry in sorted(root.iterdir()):
        name = entry.name
        if name.startswith(".") or name in WRITTEN or _GLOB.search(name):
            continue
        if entry.is_dir() and not entry.is_symlink():
            found = _suffixes_under(entry, kind.suffixes)
            globs += [f"{name}/**{'/*' + s if s else ''}" for s in sorted(found)]
        elif (
            entry.is_file()
            and name != "shipyard.yaml"
            and name not in kind.manifests
            and (not kind.suffixes or entry.suffix in kind.suffixes)
        ):
            globs.append(name)
    return globs + [m for m in kind.manifests if (root / m).is_file()]


def _suffixes_under(folder: Path, suffixes: tuple[str, ...]) -> set[str]:
    """Which of ``suffixes`` files under ``folder`` have ("" for any file at all)."""
    found: set[str] = set()
    for _, dirs, files in os.walk(folder):
        dirs[:] = [d for d in dirs if not d.startswith(".") and d not in WRITTEN]
        if files and not suffixes:
            return {""}
        found.update(ext for f in files if (ext := os.path.splitext(f)[1]) in suffixes)
        if suffixes and found == set(suffixes):
            break
    return found


def starter(root: Path) -> str:
    name = project_name(root)
    kind = ecosystem(root)
    listed = inputs(root, kind)
    return f"""\
# shipyard.yaml: how {name} is built, released and deployed ({kind.name} repository).
# Validate with `shipyard validate`; the full reference is in docs/shipyard-yaml.md.
project: {name}

pipeline:
  # Jobs form a DAG through `needs` and run in parallel. Each step is cached by the content
  # of its `inputs`, its command, env and tools: an unchanged step never runs twice. Inputs
  # list what the repository holds today, not what builds write; add new folders here.
  jobs:
{kind.jobs(root, name, listed)}

environments:
  dev:
    target: {{type: process, command: {json.dumps(kind.command(root, name))}, instances: 1}}
    strategy: recreate
  staging:
    promote_from: dev            # deploys the version live in dev; never rebuilds
    strategy: blue-green
    gates: [tests]
  production:
    promote_from: staging
    strategy:
      canary:
        steps:
          - {{weight: 10}}
          - {{analysis: errors, duration: 2m}}
          - {{weight: 50}}
          - {{analysis: errors, duration: 5m}}
          - {{weight: 100}}
    gates: [tests, {{approval: {{min: 1, not_author: true}}}}, freeze]

analysis:
  errors: {{provider: builtin, metric: error_rate, max_increase: 0.005}}

release:
  versioning: conventional-commits   # feat -> minor, fix -> patch, ! -> major
  freezes: []
  #  - {{name: year-end, start: 2026-12-20, end: 2027-01-04}}
  #  - {{name: weekends, start_cron: "0 18 * * FRI", end_cron: "0 8 * * MON", timezone: Europe/Berlin}}
"""


def _list(globs: Iterable[str]) -> str:
    items = list(globs)
    if not items:
        return "[]                   # nothing yet: list the files this step reads"
    return "[" + ", ".join(json.dumps(g) for g in items) + "]"


# -- one function per ecosystem ------------------------------------------------------------


def _python_jobs(root: Path, name: str, listed: list[str]) -> str:
    src = _list(listed)
    return f"""\
    lint:
      run: ruff check .
      inputs: {src}
    test:
      needs: [lint]
      run: python -m pytest -q
      inputs: {src}
      timeout: 10m
      retries: 1                 # a flaky step gets one more try, with backoff
    build:
      needs: [test]
      run: python -m build --wheel --outdir dist
      inputs: {src}
      outputs: ["dist/*.whl"]
      artifact: wheel            # registered as an immutable, versioned artifact"""


def _package_json(root: Path) -> dict[str, object]:
    try:
        data = json.loads((root / "package.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def _scripts(root: Path) -> dict[str, str]:
    scripts = _package_json(root).get("scripts")
    return {str(k): str(v) for k, v in scripts.items()} if isinstance(scripts, dict) else {}


def _node_jobs(root: Path, name: str, listed: list[str]) -> str:
    src = _list(listed)
    package = _package_json(root)
    scripts = _scripts(root)
    jobs: list[str] = []
    needs: list[str] = []
    if package.get("dependencies") or package.get("devDependencies"):
        locked = (root / "package-lock.json").is_file()
        jobs.append(
            f"""\
    install:
      run: {"npm ci" if locked else "npm install"}
      inputs: {_list(m for m in ("package.json", "package-lock.json") if (root / m).is_file())}
      outputs: ["node_modules/**"]"""
        )
        needs = ["install"]
    # `npm init` writes a test script that only fails; it is no test.
    if "no test specified" not in scripts.get("test", "no test specified"):
        jobs.append(
            f"""\
    test:{f"{chr(10)}      needs: [{', '.join(needs)}]" if needs else ""}
      run: npm test
      inputs: {src}
      timeout: 10m"""
        )
        needs = ["test"]
    build = "npm run build && " if "build" in scripts else ""
    jobs.append(
        f"""\
    package:{f"{chr(10)}      needs: [{', '.join(needs)}]" if needs else ""}
      run: {build}mkdir -p dist && rm -f dist/*.tgz && npm pack --pack-destination dist
      inputs: {src}
      outputs: ["dist/*.tgz"]
      artifact: package          # registered as an immutable, versioned artifact"""
    )
    return "\n".join(jobs)


def _node_command(root: Path, name: str) -> str:
    main = _package_json(root).get("main")
    entry = main if isinstance(main, str) and main else "index.js"
    return f"node package/{entry} --port {{port}}"  # `npm pack` puts files under package/


def _go_name(root: Path) -> str:
    try:
        text = (root / "go.mod").read_text(encoding="utf-8")
    except OSError:
        return "app"
    m = re.search(r"^module\s+(\S+)", text, re.M)
    return m.group(1).rstrip("/").rsplit("/", 1)[-1] if m else "app"


def _go_jobs(root: Path, name: str, listed: list[str]) -> str:
    src = _list(listed)
    return f"""\
    vet:
      run: go vet ./...
      inputs: {src}
    test:
      needs: [vet]
      run: go test ./...
      inputs: {src}
      timeout: 10m
    build:
      needs: [test]
      run: go build -o dist/ ./...
      inputs: {src}
      outputs: ["dist/*"]
      artifact: {_artifact_name(_go_name(root))}"""


def _cargo(root: Path) -> tuple[str, bool]:
    """The package name, and whether it builds a binary."""
    try:
        data = tomllib.loads((root / "Cargo.toml").read_text(encoding="utf-8"))
    except (OSError, tomllib.TOMLDecodeError):
        data = {}
    package = data.get("package")
    crate = str(package.get("name", "app")) if isinstance(package, dict) else "app"
    return crate, (root / "src" / "main.rs").is_file() or "bin" in data


def _rust_jobs(root: Path, name: str, listed: list[str]) -> str:
    src = _list(listed)
    crate, binary = _cargo(root)
    output = crate if binary else f"lib{crate.replace('-', '_')}.rlib"
    return f"""\
    test:
      run: cargo test
      inputs: {src}
      timeout: 20m
    build:
      needs: [test]
      run: cargo build --release
      inputs: {src}
      outputs: ["target/release/{output}"]
      artifact: {_artifact_name(crate)}"""


def _maven(root: Path) -> tuple[str, str]:
    """The artifactId and version of pom.xml (not its parent's)."""
    try:
        text = (root / "pom.xml").read_text(encoding="utf-8")
    except OSError:
        return "app", "0"
    body = re.sub(r"<parent>.*?</parent>|<dependencies>.*?</dependencies>", "", text, flags=re.S)
    found = {
        key: re.search(rf"<{key}>\s*([^<\s]+)\s*</{key}>", body)
        for key in ("artifactId", "version")
    }
    return (
        found["artifactId"].group(1) if found["artifactId"] else "app",
        found["version"].group(1) if found["version"] else "0",
    )


def _java_jobs(root: Path, name: str, listed: list[str]) -> str:
    src = _list(listed)
    artifact, _ = _maven(root)
    return f"""\
    build:
      # Maven's lifecycle compiles, runs the tests, then packages: one JVM, one step.
      run: mvn -B package
      inputs: {src}
      outputs: ["target/*.jar"]
      timeout: 20m
      artifact: {_artifact_name(artifact)}"""


def _java_command(root: Path, name: str) -> str:
    artifact, version = _maven(root)
    return f"java -jar {artifact}-{version}.jar --port {{port}}"


def _make_jobs(root: Path, name: str, listed: list[str]) -> str:
    src = _list(listed)
    return f"""\
    test:
      run: make test
      inputs: {src}
      timeout: 10m
    build:
      needs: [test]
      run: make build
      inputs: {src}
      outputs: ["dist/**"]
      artifact: build"""


def _artifact_name(text: str) -> str:
    name = re.sub(r"[^A-Za-z0-9_.-]+", "-", text).strip("-.")
    return name if name and name[0].isalnum() else "build"


def _module(name: str) -> str:
    return f"python -m {name.replace('-', '_').replace('.', '_')} --port {{port}}"


PYTHON = Ecosystem(
    "Python",
    _python_jobs,
    lambda root, name: _module(name),
    suffixes=(".py",),
    manifests=("pyproject.toml", "setup.py", "setup.cfg", "requirements.txt"),
)
NODE = Ecosystem(
    "Node",
    _node_jobs,
    _node_command,
    manifests=("package.json", "package-lock.json"),
)
GO = Ecosystem(
    "Go",
    _go_jobs,
    lambda root, name: f"./{_go_name(root)} --port {{port}}",
    suffixes=(".go",),
    manifests=("go.mod", "go.sum"),
)
RUST = Ecosystem(
    "Rust",
    _rust_jobs,
    lambda root, name: f"./{_cargo(root)[0]} --port {{port}}",
    manifests=("Cargo.toml", "Cargo.lock"),
)
JAVA = Ecosystem("Java/Maven", _java_jobs, _java_command, manifests=("pom.xml",))
MAKE = Ecosystem("Makefile", _make_jobs, lambda root, name: _module(name))

_MARKERS: tuple[tuple[tuple[str, ...], Ecosystem], ...] = (
    (("pyproject.toml", "setup.py"), PYTHON),
    (("go.mod",), GO),
    (("Cargo.toml",), RUST),
    (("pom.xml",), JAVA),
    (("package.json",), NODE),
)


def ignore_state(root: Path) -> str:
    """Make git ignore the state folder: ``created``, ``appended`` or ``unchanged``."""
    path = root / ".gitignore"
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        text = None
    lines = (text or "").splitlines()
    if any(line.strip().strip("/") == ".shipyard" for line in lines):
        return "unchanged"
    ending = "" if not text or text.endswith("\n") else "\n"
    path.write_text((text or "") + ending + ".shipyard/\n", encoding="utf-8")
    return "created" if text is None else "appended"
