"""Publishing a released `npm pack` tarball to an npm registry (the package-document PUT of
`npm publish`), against a real verdaccio installed from tests/registries' lock file; the
upload is checked with npm itself."""

from __future__ import annotations

import json
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests import gitrepo
from tests.e2e.helpers import as_json, free_port, shipyard
from tests.e2e.publish_helpers import assert_secret_nowhere, process

REGISTRIES = Path(__file__).resolve().parents[1] / "registries"


@pytest.fixture(scope="module")
def registry(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, str]]:
    """verdaccio on a free port, no uplinks, publishing for authenticated users; yields its
    URL and the token of a user made through the registry's own adduser route."""
    if not (REGISTRIES / "node_modules" / ".bin" / "verdaccio").exists():
        subprocess.run(
            ["npm", "ci", "--no-audit", "--no-fund", "--loglevel=error"],
            cwd=REGISTRIES,
            check=True,
        )
    folder = tmp_path_factory.mktemp("verdaccio")
    port = free_port()
    (folder / "config.yaml").write_text(
        f"storage: {folder / 'storage'}\n"
        f"auth:\n  htpasswd:\n    file: {folder / 'htpasswd'}\n    max_users: 10\n"
        "uplinks: {}\n"
        "packages:\n"
        "  '**':\n    access: $all\n    publish: $authenticated\n    unpublish: $authenticated\n"
        f"listen: 127.0.0.1:{port}\n"
        "log: {type: stdout, format: pretty, level: warn}\n"
    )
    url = f"http://127.0.0.1:{port}"
    args = [str(REGISTRIES / "node_modules" / ".bin" / "verdaccio"), "--config"]
    with process([*args, str(folder / "config.yaml")], url + "/-/ping"):
        made = httpx.put(
            f"{url}/-/user/org.couchdb.user:ci",
            json={"name": "ci", "password": "ci-password-1"},
            timeout=30,
        )
        assert made.status_code == 201, made.text
        yield url, made.json()["token"]


def _project(root: Path, name: str, targets: str, body: str = "1") -> Path:
    spec = (
        f"project: {name}\n"
        "pipeline:\n"
        "  jobs:\n"
        "    pack:\n"
        "      run: rm -rf dist && mkdir dist && npm pack --pack-destination dist --silent\n"
        "      inputs: [package.json, index.js]\n"
        "      outputs: [dist/*.tgz]\n"
        f"      artifact: {name}\n"
        "release:\n"
        "  publish:\n" + "".join(f"    {line}\n" for line in targets.strip().splitlines())
    )
    package = {"name": name, "version": "0.1.0", "description": "a shop", "main": "index.js"}
    gitrepo.init(root)
    files = {
        "shipyard.yaml": spec,
        "package.json": json.dumps(package, indent=2) + "\n",
        "index.js": f"module.exports = {body};\n",
        ".gitignore": ".shipyard/\ndist/\n",
    }
    gitrepo.commit(root, "feat: a package", files)
    return root


def _npm(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    npm = shutil.which("npm")
    assert npm is not None, "npm is installed by .ci/run"
    return subprocess.run(
        [npm, *args, "--cache", str(cwd / ".npm-cache"), "--no-audit", "--no-fund"],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_release_publishes_the_tarball_and_npm_installs_it(
    registry: tuple[str, str], tmp_path: Path
) -> None:
    """`release` PUTs the recorded tarball to the registry; `npm view` reports the integrity
    recorded in `artifact.pushed`, `npm install` gets the package, and pushing again is
    `already there` with no second event; the token is in no output and no event."""
    url, token = registry
    root = _project(
        tmp_path / "cart", "cart", f"- {{type: npm, url: '{url}', token_env: NPM_TOKEN}}"
    )
    env = {"NPM_TOKEN": token}
    out = shipyard("release", "--json", cwd=root, env=env)
    assert out.returncode == 0, out.stdout + out.stderr
    (pushed,) = as_json(out)["publications"]
    assert pushed["target"] == "npm" and pushed["already"] is False
    assert pushed["location"] == f"{url}/cart/-/cart-0.1.0.tgz"
    viewed = _npm("view", "cart@0.1.0", "--json", "--registry", url, cwd=tmp_path)
    assert viewed.returncode == 0, viewed.stderr
    assert json.loads(viewed.stdout)["dist"]["integrity"] == pushed["remote_digest"]
    user = tmp_path / "user"
    user.mkdir()
    (user / "package.json").write_text('{"name": "user", "private": true}\n')
    installed = _npm("install", "cart@0.1.0", "--registry", url, cwd=user)
    assert installed.returncode == 0, installed.stderr
    assert (user / "node_modules" / "cart" / "index.js").read_text() == "module.exports = 1;\n"
    again = shipyard("artifacts", "push", "cart@0.1.0", "--json", cwd=root, env=env)
    assert again.returncode == 0, again.stderr
    assert as_json(again)["pushed"][0]["already"] is True
    events = shipyard("audit", "log", "--kind", "artifact.pushed", "--json", cwd=root)
    assert [e["payload"]["target"] for e in as_json(events)["events"]] == ["npm"]
    assert_secret_nowhere(root, env, token, out.stdout, out.stderr, again.stdout)


def test_other_bytes_are_a_conflict_and_a_bad_token_is_refused(
    registry: tuple[str, str], tmp_path: Path
) -> None:
    """Other bytes under a published version are `publish-conflict` (exit 7) and the registry
    keeps the first tarball; a token the registry does not know is `publish-unauthorized`
    (exit 5) without the token in the output."""
    url, token = registry
    target = f"- {{type: npm, url: '{url}', token_env: NPM_TOKEN}}"
    first = _project(tmp_path / "one", "basket", target, body="1")
    assert shipyard("release", cwd=first, env={"NPM_TOKEN": token}).returncode == 0
    other = _project(tmp_path / "two", "basket", target, body="2")
    clash = shipyard("release", "--json", cwd=other, env={"NPM_TOKEN": token})
    assert clash.returncode == 7, clash.stdout + clash.stderr
    assert as_json(clash)["error"]["code"] == "publish-conflict"
    held = httpx.get(f"{url}/basket", timeout=30).json()["versions"]["0.1.0"]["dist"]
    first_push = as_json(shipyard("audit", "log", "--kind", "artifact.pushed", "--json", cwd=first))
    assert held["integrity"] == first_push["events"][0]["payload"]["remote_digest"]

    bad = "npm-not-a-real-token"
    third = _project(tmp_path / "three", "trolley", target)
    refused = shipyard("release", cwd=third, env={"NPM_TOKEN": bad})
    assert refused.returncode == 5, refused.stdout + refused.stderr
    assert "error[publish-unauthorized]" in refused.stderr and "npm (" in refused.stderr
    assert_secret_nowhere(third, {}, bad, refused.stdout, refused.stderr)


def test_an_unreachable_target_leaves_the_others_pushed(
    registry: tuple[str, str], tmp_path: Path
) -> None:
    """`--dry-run` lists both pushes; with one target down, the release is recorded, the
    reachable target gets the package (and its event), and the error `publish-unreachable`
    (exit 1) names the one that failed."""
    url, token = registry
    closed = free_port()
    targets = (
        f"- {{type: npm, name: down, url: 'http://127.0.0.1:{closed}', token_env: NPM_TOKEN}}\n"
        f"- {{type: npm, name: up, url: '{url}', token_env: NPM_TOKEN}}"
    )
    root = _project(tmp_path / "wagon", "wagon", targets)
    preview = shipyard("release", "--dry-run", cwd=root)
    assert preview.returncode == 0, preview.stderr
    assert "would push wagon@0.1.0 to down" in preview.stdout
    assert "would push wagon@0.1.0 to up" in preview.stdout
    out = shipyard("release", "--json", cwd=root, env={"NPM_TOKEN": token})
    assert out.returncode == 1, out.stdout + out.stderr
    error = as_json(out)["error"]
    assert error["code"] == "publish-unreachable" and error["message"].startswith("down (")
    assert "shipyard artifacts push wagon@0.1.0 --to down" in error["hint"]
    assert [p["target"] for p in error["details"]["release"]["publications"]] == ["up"]
    events = shipyard("audit", "log", "--kind", "artifact.pushed", "--json", cwd=root)
    assert [e["payload"]["target"] for e in as_json(events)["events"]] == ["up"]
    assert httpx.get(f"{url}/wagon", timeout=30).status_code == 200
