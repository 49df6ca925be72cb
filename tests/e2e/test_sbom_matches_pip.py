"""A wheel's SBOM lists what `pip install` of that wheel into a fresh venv installs: its
Requires-Dist with extras and markers resolved against the build's environment, not
Shipyard's own."""

from __future__ import annotations

import base64
import hashlib
import json
import os
import subprocess
import sys
import zipfile
from pathlib import Path

from cyclonedx.schema import SchemaVersion
from cyclonedx.validation.json import JsonStrictValidator

from tests import gitrepo
from tests.e2e.helpers import as_json, shipyard

# name, version, Requires-Dist, Provides-Extra
PACKAGES = [
    (
        "app",
        "1.0.0",
        ["alpha>=1", "beta[fast]", 'gamma; python_version < "3"', 'delta; extra == "docs"'],
        ["docs"],
    ),
    ("alpha", "1.2", [], []),
    ("beta", "2.0", ["epsilon", 'zeta; extra == "fast"', 'eta; extra == "slow"'], ["fast", "slow"]),
    ("epsilon", "1.1", [], []),
    ("zeta", "0.5", ['alpha>=1; sys_platform != "win32"'], []),
    ("eta", "3.0", [], []),
    ("gamma", "1.0", [], []),
    ("delta", "1.0", [], []),
    ("tooling", "9.0", [], []),  # in the build environment, required by nobody
]


def _wheel(folder: Path, name: str, version: str, requires: list[str], extras: list[str]) -> Path:
    """A minimal valid wheel, as a build backend would write it."""
    info = f"{name}-{version}.dist-info"
    meta = f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n"
    meta += "".join(f"Provides-Extra: {e}\n" for e in extras)
    meta += "".join(f"Requires-Dist: {r}\n" for r in requires)
    files = {
        f"{name}/__init__.py": f"VERSION = {version!r}\n",
        f"{info}/METADATA": meta,
        f"{info}/WHEEL": (
            "Wheel-Version: 1.0\nGenerator: test\nRoot-Is-Purelib: true\nTag: py3-none-any\n"
        ),
    }
    record = []
    for path, text in files.items():
        digest = base64.urlsafe_b64encode(hashlib.sha256(text.encode()).digest()).rstrip(b"=")
        record.append(f"{path},sha256={digest.decode()},{len(text.encode())}")
    files[f"{info}/RECORD"] = "\n".join([*record, f"{info}/RECORD,,"]) + "\n"
    out = folder / f"{name}-{version}-py3-none-any.whl"
    with zipfile.ZipFile(out, "w") as zf:
        for path, text in files.items():
            zf.writestr(path, text)
    return out


def _venv(where: Path) -> Path:
    subprocess.run([sys.executable, "-m", "venv", str(where)], check=True)
    return where / "bin" / "python"


def _pip(python: Path, *args: str) -> None:
    subprocess.run(
        [str(python), "-m", "pip", "install", "-q", "--no-index", *args],
        check=True,
        capture_output=True,
    )


def _installed(python: Path) -> dict[str, str]:
    out = subprocess.run(
        [str(python), "-m", "pip", "list", "--format", "json"], check=True, capture_output=True
    ).stdout
    return {p["name"].lower(): p["version"] for p in json.loads(out)}


def test_sbom_lists_what_pip_installs(tmp_path: Path) -> None:
    """Published from a project whose .venv holds the wheel's dependencies and a tool nobody
    requires, the SBOM's components are exactly what pip installed into a fresh venv for the
    wheel (extras resolved, markers evaluated for that Python), at those versions, and the
    SBOM says which environment it was resolved against."""
    wheelhouse = tmp_path / "wheelhouse"
    wheelhouse.mkdir()
    wheels = {p[0]: _wheel(wheelhouse, *p) for p in PACKAGES}
    fresh = _venv(tmp_path / "fresh")
    before = _installed(fresh)
    _pip(fresh, "--find-links", str(wheelhouse), str(wheels["app"]))
    pip_installed = {k: v for k, v in _installed(fresh).items() if k not in before and k != "app"}
    assert set(pip_installed) == {"alpha", "beta", "epsilon", "zeta"}  # the peer's answer

    root = gitrepo.init(tmp_path / "app")
    gitrepo.commit(
        root, "feat: a", {"shipyard.yaml": "project: app\n", ".gitignore": ".shipyard/\n.venv/\n"}
    )
    build_env = _venv(root / ".venv")
    _pip(build_env, "--find-links", str(wheelhouse), "alpha", "beta[fast]", "tooling")
    args = ("artifacts", "publish", "app", str(wheels["app"]), "--version", "1.0.0")
    assert shipyard(*args, cwd=root).returncode == 0
    raw = shipyard("artifacts", "sbom", "app@1.0.0", cwd=root).stdout
    assert JsonStrictValidator(SchemaVersion.V1_6).validate_str(raw) is None
    sbom = json.loads(raw)
    listed = {c["name"].lower(): c.get("version") for c in sbom["components"]}
    assert listed == pip_installed
    resolved = {p["name"]: p["value"] for p in sbom["metadata"]["component"]["properties"]}
    assert str(root / ".venv" / "bin" / "python") in resolved["shipyard:resolved-against"]
    refs = {d["ref"]: set(d.get("dependsOn", [])) for d in sbom["dependencies"]}
    assert refs["pkg:pypi/beta@2.0"] == {"pkg:pypi/epsilon@1.1", "pkg:pypi/zeta@0.5"}


def test_sbom_python_names_another_environment(tmp_path: Path) -> None:
    """--sbom-python resolves against that interpreter; a dependency it lacks is listed
    without a version and marked missing; an interpreter that cannot run is refused."""
    wheelhouse = tmp_path / "wheelhouse"
    wheelhouse.mkdir()
    app = _wheel(wheelhouse, "app", "1.0.0", ["alpha>=1"], [])
    root = gitrepo.init(tmp_path / "app")
    gitrepo.commit(
        root, "feat: a", {"shipyard.yaml": "project: app\n", ".gitignore": ".shipyard/\n"}
    )
    empty = _venv(tmp_path / "empty")
    args = ("artifacts", "publish", "app", str(app), "--version", "1.0.0")
    assert shipyard(*args, "--sbom-python", str(empty), cwd=root).returncode == 0
    sbom = json.loads(shipyard("artifacts", "sbom", "app@1.0.0", cwd=root).stdout)
    (alpha,) = sbom["components"]
    assert "version" not in alpha
    assert any(p["name"] == "shipyard:missing" for p in alpha["properties"])
    bad = shipyard(*args[:-1], "2.0.0", "--sbom-python", str(tmp_path / "nope"), "--json", cwd=root)
    assert bad.returncode == 2 and as_json(bad)["error"]["code"] == "sbom-python-invalid"


def test_uv_lock_decides_the_versions(tmp_path: Path) -> None:
    """With a uv.lock at the project root (made by uv), the SBOM lists the locked versions of
    what pip installs for the wheel, though the project's .venv holds an older alpha, and says
    it was resolved against the lock."""
    wheelhouse = tmp_path / "wheelhouse"
    wheelhouse.mkdir()
    wheels = {p[0]: _wheel(wheelhouse, *p) for p in PACKAGES}
    _wheel(wheelhouse, "alpha", "1.0", [], [])
    fresh = _venv(tmp_path / "fresh")
    before = _installed(fresh)
    _pip(fresh, "--find-links", str(wheelhouse), str(wheels["app"]))
    pip_installed = {k: v for k, v in _installed(fresh).items() if k not in before and k != "app"}

    root = gitrepo.init(tmp_path / "app")
    requires = ", ".join(json.dumps(r) for r in PACKAGES[0][2])
    pyproject = (
        '[project]\nname = "app"\nversion = "1.0.0"\nrequires-python = ">=3.11"\n'
        f"dependencies = [{requires}]\n"
    )
    files = {"shipyard.yaml": "project: app\n", "pyproject.toml": pyproject}
    gitrepo.commit(root, "feat: a", files | {".gitignore": ".shipyard/\n.venv/\n"})
    uv = [sys.executable, "-m", "uv", "lock", "--no-index", "--find-links", str(wheelhouse)]
    env = {**os.environ, "UV_CACHE_DIR": str(tmp_path / "uv-cache"), "UV_PYTHON": sys.executable}
    subprocess.run(uv, cwd=root, env=env, check=True, capture_output=True)
    assert (root / "uv.lock").is_file()
    _pip(_venv(root / ".venv"), "--find-links", str(wheelhouse), "alpha==1.0")
    args = ("artifacts", "publish", "app", str(wheels["app"]), "--version", "1.0.0")
    assert shipyard(*args, cwd=root).returncode == 0
    sbom = json.loads(shipyard("artifacts", "sbom", "app@1.0.0", cwd=root).stdout)
    listed = {c["name"].lower(): c.get("version") for c in sbom["components"]}
    assert listed == pip_installed and listed["alpha"] == "1.2"
    resolved = {p["name"]: p["value"] for p in sbom["metadata"]["component"]["properties"]}
    assert resolved["shipyard:resolved-against"].startswith(f"lock {root / 'uv.lock'}")
