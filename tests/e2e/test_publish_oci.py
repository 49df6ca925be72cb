"""Publishing a released file as an OCI artifact (blob uploads, a manifest with
artifactType), against Debian's docker-registry (the CNCF distribution registry) run as a
process with htpasswd auth; the manifest and blob are fetched back over HTTP."""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests import gitrepo
from tests.e2e.helpers import as_json, database_env, free_port, shipyard
from tests.e2e.publish_helpers import assert_secret_nowhere, process

TOKEN = "oci-s3cret-registry-password"
AUTH = ("ci", TOKEN)
OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"


@pytest.fixture(scope="module")
def registry(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """docker-registry on a free port with a config file written here; pushes and pulls need
    user `ci` with password TOKEN (bcrypt htpasswd, the only kind it reads)."""
    binary = shutil.which("docker-registry")
    assert binary is not None, "docker-registry is installed by .ci/run"
    folder = tmp_path_factory.mktemp("registry")
    made = subprocess.run(
        ["htpasswd", "-Bbn", "ci", TOKEN], capture_output=True, text=True, check=True
    )
    (folder / "htpasswd").write_text(made.stdout)
    port = free_port()
    (folder / "config.yml").write_text(
        "version: 0.1\n"
        "log: {level: error, accesslog: {disabled: true}}\n"
        f"storage: {{filesystem: {{rootdirectory: {folder / 'data'}}}}}\n"
        f"http: {{addr: '127.0.0.1:{port}'}}\n"
        f"auth: {{htpasswd: {{realm: shipyard-test, path: {folder / 'htpasswd'}}}}}\n"
    )
    url = f"http://127.0.0.1:{port}"
    with process([binary, "serve", str(folder / "config.yml")], url + "/v2/"):
        yield url


def _project(root: Path, name: str, targets: str, body: str = "v1") -> Path:
    spec = (
        f"project: {name}\n"
        "pipeline:\n"
        "  jobs:\n"
        "    bundle:\n"
        "      run: mkdir -p dist && cp site.txt dist/site.zip\n"
        "      inputs: [site.txt]\n"
        "      outputs: [dist/site.zip]\n"
        f"      artifact: {name}\n"
        "release:\n"
        "  publish:\n" + "".join(f"    {line}\n" for line in targets.strip().splitlines())
    )
    gitrepo.init(root)
    files = {"shipyard.yaml": spec, "site.txt": body + "\n", ".gitignore": ".shipyard/\ndist/\n"}
    gitrepo.commit(root, "feat: a site", files)
    return root


def _target(url: str, repository: str) -> str:
    return (
        f"- {{type: oci, url: '{url}', repository: {repository}, username: ci, "
        "token_env: OCI_TOKEN}"
    )


def test_release_pushes_an_oci_artifact_fetched_back_over_http(
    registry: str, tmp_path: Path, database_url: str
) -> None:
    """`release` pushes the file as a blob and an artifact manifest tagged with the version
    (on either database); the manifest fetched back has the artifactType and the file as its
    one layer, the blob's bytes are the registry's, pushing again changes nothing and records
    nothing, and the password is nowhere."""
    repository = "acme/site-" + ("pg" if database_url.startswith("postgresql") else "lite")
    root = _project(tmp_path / "site", "site", _target(registry, repository))
    env = {"OCI_TOKEN": TOKEN, **database_env(database_url, tmp_path)}
    out = shipyard("release", "--json", cwd=root, env=env)
    assert out.returncode == 0, out.stdout + out.stderr
    data = as_json(out)
    (pushed,) = data["publications"]
    host = registry.removeprefix("http://")
    assert pushed["target"] == "oci" and pushed["location"] == f"{host}/{repository}:0.1.0"
    got = httpx.get(
        f"{registry}/v2/{repository}/manifests/0.1.0", auth=AUTH, headers={"Accept": OCI_MANIFEST}
    )
    assert got.status_code == 200, got.text
    assert got.headers["Docker-Content-Digest"] == pushed["remote_digest"]
    manifest = got.json()
    assert manifest["artifactType"] == "application/vnd.shipyard.artifact.v1"
    assert manifest["config"]["mediaType"] == "application/vnd.oci.empty.v1+json"
    (layer,) = manifest["layers"]
    digest = data["published"][0]["digest"]
    assert layer["digest"] == digest and layer["mediaType"] == "application/zip"
    assert layer["annotations"]["org.opencontainers.image.title"] == "site.zip"
    blob = httpx.get(f"{registry}/v2/{repository}/blobs/{digest}", auth=AUTH, follow_redirects=True)
    assert blob.content == (root / "site.txt").read_bytes()
    again = shipyard("artifacts", "push", "site@0.1.0", "--to", "oci", "--json", cwd=root, env=env)
    assert again.returncode == 0, again.stderr
    (same,) = as_json(again)["pushed"]
    assert same["already"] is True and same["remote_digest"] == pushed["remote_digest"]
    events = shipyard("audit", "log", "--kind", "artifact.pushed", "--json", cwd=root, env=env)
    assert len(as_json(events)["events"]) == 1
    assert_secret_nowhere(root, env, TOKEN, out.stdout, out.stderr, again.stdout)


def test_other_bytes_under_the_tag_conflict_and_a_wrong_password_is_refused(
    registry: str, tmp_path: Path
) -> None:
    """Other bytes under an existing tag are `publish-conflict` (exit 7) and the tag keeps the
    first manifest; a wrong password is `publish-unauthorized` (exit 5), not in the output."""
    first = _project(tmp_path / "one", "docs", _target(registry, "acme/docs"), body="one")
    assert shipyard("release", cwd=first, env={"OCI_TOKEN": TOKEN}).returncode == 0
    url = f"{registry}/v2/acme/docs/manifests/0.1.0"
    before = httpx.get(url, auth=AUTH, headers={"Accept": OCI_MANIFEST}).content
    other = _project(tmp_path / "two", "docs", _target(registry, "acme/docs"), body="two")
    clash = shipyard("release", "--json", cwd=other, env={"OCI_TOKEN": TOKEN})
    assert clash.returncode == 7, clash.stdout + clash.stderr
    assert as_json(clash)["error"]["code"] == "publish-conflict"
    assert httpx.get(url, auth=AUTH, headers={"Accept": OCI_MANIFEST}).content == before

    wrong = "oci-wrong-password"
    third = _project(tmp_path / "three", "blog", _target(registry, "acme/blog"))
    refused = shipyard("release", cwd=third, env={"OCI_TOKEN": wrong})
    assert refused.returncode == 5, refused.stdout + refused.stderr
    assert "error[publish-unauthorized]" in refused.stderr and "oci (" in refused.stderr
    assert_secret_nowhere(third, {}, wrong, refused.stdout, refused.stderr)


def test_two_pushes_at_once_record_one_event(
    registry: str, tmp_path: Path, database_url: str
) -> None:
    """Two `artifacts push` of one artifact at the same time both succeed and the log records
    the push once (on either database); `artifacts show` names where it went."""
    import subprocess
    import sys

    repository = "acme/twice-" + ("pg" if database_url.startswith("postgresql") else "lite")
    root = _project(tmp_path / "twice", "twice", _target(registry, repository))
    env = {"OCI_TOKEN": TOKEN, **database_env(database_url, tmp_path)}
    assert shipyard("release", "--no-publish", cwd=root, env=env).returncode == 0
    full = {**os.environ, **env}
    full.pop("SHIPYARD_SERVER", None)
    both = [
        subprocess.Popen(
            [sys.executable, "-m", "shipyard", "artifacts", "push", "twice@0.1.0"],
            cwd=root,
            env=full,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(2)
    ]
    results = [p.communicate(timeout=120) for p in both]
    assert [p.returncode for p in both] == [0, 0], results
    events = shipyard("audit", "log", "--kind", "artifact.pushed", "--json", cwd=root, env=env)
    assert len(as_json(events)["events"]) == 1
    shown = as_json(shipyard("artifacts", "show", "twice@0.1.0", "--json", cwd=root, env=env))
    assert [p["target"] for p in shown["pushes"]] == ["oci"]


@pytest.fixture(scope="module")
def token_registry(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Any]]:
    """docker-registry with `auth: token`: a 401 sends clients to the issuer's realm for a
    bearer token, as Docker Hub and ghcr.io do."""
    from tests.e2e.token_issuer import ISSUER, SERVICE, Issuer, serving

    binary = shutil.which("docker-registry")
    assert binary is not None, "docker-registry is installed by .ci/run"
    folder = tmp_path_factory.mktemp("token-registry")
    issuer = Issuer(folder, "ci", TOKEN)
    port = free_port()
    with serving(issuer) as realm:
        (folder / "config.yml").write_text(
            "version: 0.1\n"
            "log: {level: error, accesslog: {disabled: true}}\n"
            f"storage: {{filesystem: {{rootdirectory: {folder / 'data'}}}}}\n"
            f"http: {{addr: '127.0.0.1:{port}'}}\n"
            f"auth: {{token: {{realm: '{realm}', service: {SERVICE}, issuer: {ISSUER}, "
            f"rootcertbundle: {issuer.bundle}}}}}\n"
        )
        url = f"http://127.0.0.1:{port}"
        with process([binary, "serve", str(folder / "config.yml")], url + "/v2/"):
            yield url, issuer


def test_a_bearer_challenge_is_answered_with_a_token_from_the_realm(
    token_registry: tuple[str, Any], tmp_path: Path
) -> None:
    """Against a registry that answers 401 with `Bearer realm=...`, the push fetches a token
    for the repository from the realm with the credentials and pushes with it; the manifest
    read back with such a token is there. Wrong credentials are refused by the realm:
    `publish-unauthorized`, the password in no output."""
    url, issuer = token_registry
    root = _project(tmp_path / "tok", "tok", _target(url, "acme/tok"))
    out = shipyard("release", "--json", cwd=root, env={"OCI_TOKEN": TOKEN})
    assert out.returncode == 0, out.stdout + out.stderr
    (pushed,) = as_json(out)["publications"]
    assert issuer.issued >= 1
    bearer = {"Authorization": "Bearer " + issuer.token("repository:acme/tok:pull")}
    got = httpx.get(
        f"{url}/v2/acme/tok/manifests/0.1.0", headers={**bearer, "Accept": OCI_MANIFEST}
    )
    assert (
        got.status_code == 200 and got.headers["Docker-Content-Digest"] == (pushed["remote_digest"])
    )
    assert httpx.get(f"{url}/v2/acme/tok/manifests/0.1.0").status_code == 401

    wrong = "oci-wrong-bearer-password"
    other = _project(tmp_path / "tok2", "tok2", _target(url, "acme/tok2"))
    refused = shipyard("release", cwd=other, env={"OCI_TOKEN": wrong})
    assert refused.returncode == 5, refused.stdout + refused.stderr
    assert "error[publish-unauthorized]" in refused.stderr
    assert_secret_nowhere(other, {}, wrong, refused.stdout, refused.stderr)
