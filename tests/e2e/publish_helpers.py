"""What the publish tests share: a registry process started once per module, a project whose
pipeline builds a real package of the version in its VERSION file, and a look for secrets in
everything a command or the event log says."""

from __future__ import annotations

import os
import subprocess
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx

from tests import gitrepo
from tests.e2e.helpers import shipyard

# A deterministic wheel (fixed timestamps), installable by pip: METADATA, WHEEL and RECORD.
MAKE_WHEEL = """\
import base64, hashlib, pathlib, zipfile
v = pathlib.Path("VERSION").read_text().strip()
n = pathlib.Path("NAME").read_text().strip()
files = {
    f"{n}/__init__.py": f"__version__ = {v!r}\\n" + pathlib.Path("shop.py").read_text(),
    f"{n}-{v}.dist-info/METADATA": (
        f"Metadata-Version: 2.1\\nName: {n}\\nVersion: {v}\\nSummary: A shop\\n\\nThe shop.\\n"
    ),
    f"{n}-{v}.dist-info/WHEEL": (
        "Wheel-Version: 1.0\\nGenerator: make_wheel\\nRoot-Is-Purelib: true\\nTag: py3-none-any\\n"
    ),
}
def b64(data):
    return base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
record = "".join(f"{k},sha256={b64(t.encode())},{len(t.encode())}\\n" for k, t in files.items())
files[f"{n}-{v}.dist-info/RECORD"] = record + f"{n}-{v}.dist-info/RECORD,,\\n"
pathlib.Path("dist").mkdir(exist_ok=True)
with zipfile.ZipFile(f"dist/{n}-{v}-py3-none-any.whl", "w", zipfile.ZIP_DEFLATED) as z:
    for name, text in files.items():
        z.writestr(zipfile.ZipInfo(name, (2020, 1, 1, 0, 0, 0)), text)
"""


def wheel_project(
    root: Path, publish_yaml: str, *, package: str = "shop", version: str = "0.1.0", code: str = ""
) -> Path:
    """A git repository whose `build` job makes ``dist/<package>-<VERSION>-py3-none-any.whl``,
    the artifact ``package``, released to the targets in ``publish_yaml`` (the YAML list under
    ``release.publish``)."""
    spec = (
        f"project: {package}\n"
        "pipeline:\n"
        "  jobs:\n"
        "    build:\n"
        "      run: rm -rf dist && python3 make_wheel.py\n"
        "      inputs: [make_wheel.py, VERSION, NAME, shop.py]\n"
        "      outputs: [dist/*.whl]\n"
        f"      artifact: {package}\n"
        "release:\n"
        "  publish:\n" + "".join(f"    {line}\n" for line in publish_yaml.strip().splitlines())
    )
    gitrepo.init(root)
    files = {
        "shipyard.yaml": spec,
        "make_wheel.py": MAKE_WHEEL,
        "VERSION": version + "\n",
        "NAME": package + "\n",
        "shop.py": f"PRICE = 1  # {code}\n",
        ".gitignore": ".shipyard/\ndist/\n",
    }
    gitrepo.commit(root, "feat: a shop", files)
    return root


def wait_for(url: str, proc: subprocess.Popen[bytes], log: Path, timeout: float = 60) -> None:
    """Until ``url`` answers any HTTP status; the process's log if it dies first."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            httpx.get(url, timeout=2)
            return
        except httpx.HTTPError:
            pass
        if proc.poll() is not None or time.monotonic() > deadline:
            proc.kill()
            raise RuntimeError(f"{url} did not start: {log.read_text()[-3000:]}")
        time.sleep(0.1)


@contextmanager
def process(
    args: list[str], url: str, *, cwd: Path | None = None, env: dict[str, str] | None = None
) -> Iterator[subprocess.Popen[bytes]]:
    """A registry process, its output in a file; ended when the block ends."""
    with tempfile.NamedTemporaryFile(prefix="registry-", suffix=".log", delete=False) as f:
        log = Path(f.name)
    with log.open("wb") as out:
        proc = subprocess.Popen(
            args, cwd=cwd, env={**os.environ, **(env or {})}, stdout=out, stderr=subprocess.STDOUT
        )
    try:
        wait_for(url, proc, log)
        yield proc
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(10)
        log.unlink(missing_ok=True)


def assert_secret_nowhere(root: Path, env: dict[str, str], secret: str, *outputs: str) -> None:
    """Neither the outputs given nor the event log (`audit log --json`) contain ``secret``."""
    log = shipyard("audit", "log", "--json", cwd=root, env=env)
    assert log.returncode == 0, log.stderr
    for text in (*outputs, log.stdout):
        assert secret not in text


Check = Callable[[str], None]
