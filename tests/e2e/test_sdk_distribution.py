"""`shipyard-sdk` as its own distribution: its wheel holds only the SDK and requires only what
evaluation needs, and installed alone it evaluates a real server's flags with none of the
server's packages importable."""

from __future__ import annotations

import json
import subprocess
import sys
import zipfile
from collections.abc import Iterator
from email.parser import Parser
from pathlib import Path

import httpx
import pytest

from shipyard_sdk.flags import UnleashContext, get_variant, is_enabled, load_state
from tests.e2e.helpers import apply, as_json, running_server, shipyard

SDK = Path(__file__).resolve().parents[2] / "sdk"

# The server's own packages: none of them may be needed to evaluate a flag.
SERVER_ONLY = [
    "shipyard", "fastapi", "starlette", "sqlalchemy", "alembic", "pydantic", "typer", "uvicorn",
    "cyclonedx", "jinja2", "rich", "cryptography", "yaml", "psycopg",
]  # fmt: skip

# Run with the wheel's folder first on the path; importing a server package fails loudly.
PROBE = """
import importlib.abc, json, sys
BLOCKED = set(sys.argv[1].split(","))
class Refuse(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in BLOCKED:
            raise ImportError(f"the SDK imported {name}, a package of the server")
sys.meta_path.insert(0, Refuse())
from shipyard_sdk import FlagsClient
import shipyard_sdk
url, token = sys.argv[2], sys.argv[3]
flags = FlagsClient(url, token, "dev", stream=False, metrics_interval=3600)
assert flags.wait_until_ready(15), "no snapshot from the server"
users = [f"user-{i}" for i in range(400)]
print(json.dumps({
    "sdk": shipyard_sdk.__file__,
    "enabled": [flags.is_enabled("checkout", {"userId": u}) for u in users],
    "variants": [flags.get_variant("checkout", {"userId": u}).name for u in users],
    "loaded": sorted(m.split(".")[0] for m in sys.modules if m.split(".")[0] in BLOCKED),
}))
flags.close()
"""


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("wheel")
    built = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q"]
        + ["-w", str(out), str(SDK)],
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert built.returncode == 0, built.stderr
    (found,) = out.glob("shipyard_sdk-*.whl")
    return found


@pytest.fixture(scope="module")
def installed(wheel: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    target = tmp_path_factory.mktemp("site")
    done = subprocess.run(
        [sys.executable, "-m", "pip", "install", "--no-deps", "-q", "--target", str(target)]
        + [str(wheel)],
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert done.returncode == 0, done.stderr
    return target


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, str]]:
    repo = tmp_path_factory.mktemp("shop")
    (repo / "shipyard.yaml").write_text("project: shop\nenvironments:\n  dev: {}\n")

    def token(*args: str) -> str:
        return str(as_json(shipyard(*args, "--json", cwd=repo))["token"])

    admin = token("token", "create", "--role", "admin")
    developer = token("token", "create", "--role", "developer")
    client = token("flags", "token", "create", "--env", "dev")
    with running_server(repo) as url:
        apply(repo, url, admin)
        yield {"url": url, "developer": developer, "client": client}


def test_the_wheel_holds_only_the_sdk_and_requires_only_what_evaluation_needs(
    wheel: Path,
) -> None:
    """The wheel carries the ``shipyard_sdk`` package alone, and its requirements are the HTTP
    client, the hash and the regex engine (OpenFeature as an extra), nothing of the server."""
    with zipfile.ZipFile(wheel) as whl:
        names = whl.namelist()
        (meta,) = [n for n in names if n.endswith(".dist-info/METADATA")]
        metadata = Parser().parsestr(whl.read(meta).decode())
    tops = {n.split("/")[0] for n in names}
    assert tops == {"shipyard_sdk", meta.split("/")[0]}
    assert "shipyard_sdk/flags/evaluation.py" in names
    assert "shipyard_sdk/py.typed" in names
    listed = metadata.get_all("Requires-Dist")
    requires = sorted(r.split(">")[0].split(";")[0].strip() for r in listed)
    assert requires == ["google-re2", "httpx", "mmh3", "openfeature-sdk"]
    assert "extra == 'openfeature'" in next(r for r in listed if r.startswith("openfeature"))
    assert metadata["Name"] == "shipyard-sdk"


def test_the_sdk_installed_alone_evaluates_a_servers_flags(
    installed: Path, server: dict[str, str]
) -> None:
    """The SDK from its wheel, with every server package refused at import, polls a real server
    and answers as the server's own evaluation of the same flags does."""
    feature = {
        "name": "checkout",
        "enabled": True,
        "strategies": [
            {
                "name": "flexibleRollout",
                "parameters": {"rollout": "50", "stickiness": "userId", "groupId": "checkout"},
            }
        ],
        "variants": [
            {"name": "blue", "weight": 500, "stickiness": "userId"},
            {"name": "green", "weight": 500, "stickiness": "userId"},
        ],
    }
    put = httpx.put(
        f"{server['url']}/api/v1/flags/checkout",
        params={"env": "dev"},
        json=feature,
        headers={"Authorization": f"Bearer {server['developer']}"},
    )
    assert put.status_code == 200, put.text

    probe = subprocess.run(
        [sys.executable, "-I", "-c", f"import sys; sys.path.insert(0, {str(installed)!r})\n"
         + PROBE, ",".join(SERVER_ONLY), server["url"], server["client"]],
        capture_output=True,
        text=True,
        timeout=60,
    )  # fmt: skip
    assert probe.returncode == 0, probe.stderr
    got = json.loads(probe.stdout)
    assert got["sdk"].startswith(str(installed))
    assert got["loaded"] == []

    served = httpx.get(
        f"{server['url']}/api/client/features",
        headers={"Authorization": server["client"]},
    ).json()
    state = load_state(served)
    users = [f"user-{i}" for i in range(400)]
    contexts = [UnleashContext.from_dict({"userId": u}) for u in users]
    assert got["enabled"] == [is_enabled(state, "checkout", c) for c in contexts]
    assert got["variants"] == [get_variant(state, "checkout", c).name for c in contexts]
    assert 150 < sum(got["enabled"]) < 250
    assert {"blue", "green"} <= set(got["variants"])
