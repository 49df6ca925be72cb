"""The Python environment a wheel's dependencies are resolved against: its marker values and
the distributions installed in it, read by running that environment's own interpreter.

Not Shipyard's environment: the build's. By default the project's ``.venv``, else the
``python3`` on PATH; ``artifacts publish --sbom-python`` names another.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

from shipyard.domain.dependencies import Dist, normalize
from shipyard.errors import InputError

# Run with -I inside the target interpreter: the PEP 508 marker values as packaging computes
# them, and each installed distribution's name, version and Requires-Dist.
_SCRIPT = r"""
import json, os, platform, sys
from importlib.metadata import distributions
def fmt(v):
    s = "%d.%d.%d" % (v.major, v.minor, v.micro)
    return s if v.releaselevel == "final" else s + v.releaselevel[0] + str(v.serial)
markers = {
    "implementation_name": sys.implementation.name,
    "implementation_version": fmt(sys.implementation.version),
    "os_name": os.name,
    "platform_machine": platform.machine(),
    "platform_release": platform.release(),
    "platform_system": platform.system(),
    "platform_version": platform.version(),
    "python_full_version": platform.python_version(),
    "platform_python_implementation": platform.python_implementation(),
    "python_version": ".".join(platform.python_version_tuple()[:2]),
    "sys_platform": sys.platform,
}
dists = [[d.metadata["Name"], d.version, d.requires or []] for d in distributions()]
json.dump({"markers": markers, "dists": dists, "version": platform.python_version()}, sys.stdout)
"""


class SbomPythonInvalid(InputError):
    code = "sbom-python-invalid"
    default_hint = "name the interpreter of the environment the wheel is built and tested in"


@dataclass(frozen=True)
class Environment:
    python: str
    version: str
    markers: dict[str, str]
    dists: dict[str, Dist]  # by normalised name

    @property
    def label(self) -> str:
        return f"environment {self.python} (Python {self.version})"


def default_python(root: Path) -> Path:
    """The project's .venv interpreter, else python3 on PATH, else the one running Shipyard."""
    for candidate in (root / ".venv" / "bin" / "python", root / ".venv" / "Scripts" / "python.exe"):
        if candidate.is_file():
            return candidate
    found = shutil.which("python3") or shutil.which("python")
    return Path(found) if found else Path(sys.executable)


def snapshot(python: Path) -> Environment:
    try:
        proc = subprocess.run(
            [str(python), "-I", "-c", _SCRIPT], capture_output=True, text=True, timeout=60
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise SbomPythonInvalid(f"cannot run {python}: {exc}") from exc
    if proc.returncode != 0:
        last = (proc.stderr.strip().splitlines() or ["no message"])[-1]
        raise SbomPythonInvalid(f"{python} could not list its distributions: {last}")
    data = json.loads(proc.stdout)
    dists: dict[str, Dist] = {}
    for name, version, requires in data["dists"]:
        if name:
            dists.setdefault(normalize(name), Dist(name, version, tuple(requires)))
    return Environment(str(python), data["version"], data["markers"], dists)
