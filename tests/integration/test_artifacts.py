"""The artifact registry on a real store (SQLite and PostgreSQL): publish, immutability,
verification that catches tampering, SBOMs, and a release recorded with its events."""

from __future__ import annotations

import json
import os
import zipfile
from pathlib import Path

import pytest

from shipyard.domain.provenance import BuildInfo
from shipyard.errors import ShipyardError
from shipyard.services.releases import artifacts as svc
from shipyard.services.releases import release
from shipyard.store.uow import Store
from tests import gitrepo

BUILD = BuildInfo(pipeline="shop", job="build", commit="a" * 40)


def _file(tmp_path: Path, text: str = "hello", name: str = "shop.zip") -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def _events(store: Store, kind: str) -> list[dict]:
    with store.read() as uow:
        return [e.to_dict() for e in uow.events.query(kind=kind)]


def _flip(path: Path, offset: int = 0) -> None:
    os.chmod(path, 0o644)  # blobs are stored read-only
    data = bytearray(path.read_bytes())
    data[offset] ^= 0x01
    path.write_bytes(bytes(data))


def test_publish_records_the_artifact_and_its_event(store: Store, tmp_path: Path) -> None:
    """Publishing stores the bytes and records name@version with an artifact.published event."""
    out = svc.publish(store, "shop", "shop", _file(tmp_path), "1.0.0", BUILD)
    a = out["artifact"]
    assert out["published"] is True and a["size"] == 5 and a["commit"] == "a" * 40
    assert a["media_type"] == "application/zip" and a["provenance"]["runDetails"]
    events = _events(store, "artifact.published")
    assert len(events) == 1 and events[0]["subject"] == "artifact:shop@1.0.0"
    assert events[0]["payload"]["digest"] == a["digest"]
    assert events[0]["payload"]["provenance"] == a["provenance_digest"]
    listed = svc.list_artifacts(store, "shop")["artifacts"]
    assert [(x["name"], x["version"]) for x in listed] == [("shop", "1.0.0")]
    assert svc.list_artifacts(store, "other")["artifacts"] == []


def test_same_bytes_again_is_a_no_op(store: Store, tmp_path: Path) -> None:
    """Publishing the same bytes under the same version changes nothing and records nothing."""
    svc.publish(store, "shop", "shop", _file(tmp_path), "1.0.0", BUILD)
    again = svc.publish(store, "shop", "shop", _file(tmp_path), "1.0.0", BUILD)
    assert again["published"] is False
    assert len(_events(store, "artifact.published")) == 1


def test_other_bytes_under_a_published_version_are_refused(store: Store, tmp_path: Path) -> None:
    """Other bytes under an existing name@version raise artifact-immutable; the first stays."""
    first = svc.publish(store, "shop", "shop", _file(tmp_path), "1.0.0", BUILD)["artifact"]
    with pytest.raises(svc.ArtifactImmutable) as err:
        svc.publish(store, "shop", "shop", _file(tmp_path, "other"), "1.0.0", BUILD)
    assert err.value.code == "artifact-immutable" and err.value.exit_code == 7
    assert svc.show(store, "shop", "shop@1.0.0")["digest"] == first["digest"]
    assert len(_events(store, "artifact.published")) == 1


def test_verify_passes_on_untouched_artifacts(store: Store, tmp_path: Path) -> None:
    """An untouched artifact passes every check: digest, envelope, signature, subject, SBOM."""
    svc.publish(store, "shop", "shop", _file(tmp_path), "1.0.0", BUILD)
    result = svc.verify(store, "shop", "shop@1.0.0")
    assert result["ok"] is True
    assert {c["name"] for c in result["checks"]} >= {"digest", "signature", "subject"}


def test_verify_catches_a_flipped_byte_in_the_blob(store: Store, tmp_path: Path) -> None:
    """One changed byte in the stored artifact fails its digest and the provenance subject."""
    a = svc.publish(store, "shop", "shop", _file(tmp_path), "1.0.0", BUILD)["artifact"]
    _flip(svc.cas_of(store).path(a["digest"]))
    result = svc.verify(store, "shop", "shop@1.0.0")
    failed = {c["name"] for c in result["checks"] if not c["ok"]}
    assert result["ok"] is False and failed == {"digest", "subject"}
    with pytest.raises(svc.ArtifactTampered) as err:
        svc.verify_or_raise(store, "shop", "shop@1.0.0")
    assert err.value.code == "artifact-tampered" and err.value.exit_code == 4


def test_verify_catches_a_flipped_byte_in_the_envelope(store: Store, tmp_path: Path) -> None:
    """One changed byte inside the envelope's signed payload fails its digest and signature."""
    a = svc.publish(store, "shop", "shop", _file(tmp_path), "1.0.0", BUILD)["artifact"]
    path = svc.cas_of(store).path(a["provenance_digest"])
    env = json.loads(path.read_bytes())
    where = path.read_bytes().index(env["payload"].encode()) + 10  # inside the base64 payload
    _flip(path, where)
    result = svc.verify(store, "shop", "shop@1.0.0")
    failed = {c["name"] for c in result["checks"] if not c["ok"]}
    assert result["ok"] is False and {"provenance-digest", "signature"} <= failed


def test_verify_catches_a_re_signed_envelope_from_another_key(store: Store, tmp_path: Path) -> None:
    """An envelope signed by a key the project never registered fails the signature check."""
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    from shipyard.domain import provenance

    a = svc.publish(store, "shop", "shop", _file(tmp_path), "1.0.0", BUILD)["artifact"]
    path = svc.cas_of(store).path(a["provenance_digest"])
    stmt = provenance.statement("shop.zip", a["digest"], BUILD)
    forged = provenance.envelope(stmt, store.signer.key_id, Ed25519PrivateKey.generate().sign)
    os.chmod(path, 0o644)
    path.write_text(json.dumps(forged))
    failed = {c["name"] for c in svc.verify(store, "shop", "shop@1.0.0")["checks"] if not c["ok"]}
    assert "signature" in failed


def test_download_restores_the_bytes(store: Store, tmp_path: Path) -> None:
    """Download writes exactly the published bytes under the published file name."""
    svc.publish(store, "shop", "shop", _file(tmp_path), "1.0.0", BUILD)
    out = tmp_path / "out"
    out.mkdir()
    result = svc.download(store, "shop", "shop@1.0.0", out)
    assert Path(result["path"]) == out / "shop.zip" and (out / "shop.zip").read_text() == "hello"


@pytest.mark.parametrize(
    ("ref", "code"),
    [
        ("shop@9.9.9", "artifact-not-found"),
        ("shop", "artifact-ref-invalid"),
        ("@1", "artifact-ref-invalid"),
    ],
)
def test_bad_references(store: Store, ref: str, code: str) -> None:
    """Unknown artifacts and malformed NAME@VERSION raise coded errors."""
    with pytest.raises(ShipyardError) as err:
        svc.show(store, "shop", ref)
    assert err.value.code == code and err.value.hint


def _wheel(tmp_path: Path) -> Path:
    path = tmp_path / "demo_pkg-1.2.0-py3-none-any.whl"
    meta = (
        "Metadata-Version: 2.1\nName: demo-pkg\nVersion: 1.2.0\nSummary: A demo\n"
        "License-Expression: MIT\nRequires-Dist: rich>=13\n"
        'Requires-Dist: pytest; extra == "test"\nRequires-Dist: nothing-installed-here>=1\n'
    )
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr("demo_pkg/__init__.py", "")
        zf.writestr("demo_pkg-1.2.0.dist-info/METADATA", meta)
    return path


def test_wheel_sbom_lists_its_resolved_dependencies(store: Store, tmp_path: Path) -> None:
    """A wheel's SBOM is CycloneDX 1.6 with the wheel and its dependency closure in the
    environment it is resolved against (here the one running the tests)."""
    import sys
    from importlib.metadata import version

    here = Path(sys.executable)
    wheel = _wheel(tmp_path)
    a = svc.publish(store, "shop", "demo-pkg", wheel, "1.2.0", BUILD, sbom_python=here)["artifact"]
    sbom = json.loads(svc.cas_of(store).get_bytes(a["sbom_digest"]))
    assert sbom["specVersion"] == "1.6" and sbom["bomFormat"] == "CycloneDX"
    root = sbom["metadata"]["component"]
    assert root["purl"] == "pkg:pypi/demo-pkg@1.2.0"
    assert root["hashes"][0]["content"] == a["digest"].removeprefix("sha256:")
    names = {c["name"]: c.get("version") for c in sbom["components"]}
    assert names["rich"] == version("rich") and "markdown-it-py" in names  # rich's dependency
    assert "pytest" not in names  # only asked for by an extra
    assert names["nothing-installed-here"] is None
    deps = {d["ref"]: d.get("dependsOn", []) for d in sbom["dependencies"]}
    assert f"pkg:pypi/rich@{version('rich')}" in deps[root["bom-ref"]]


def test_non_python_sbom_names_the_file(store: Store, tmp_path: Path) -> None:
    """Anything but a wheel gets a minimal SBOM whose component is the file and its hash."""
    a = svc.publish(store, "shop", "shop", _file(tmp_path), "1.0.0", BUILD)["artifact"]
    sbom = json.loads(svc.cas_of(store).get_bytes(a["sbom_digest"]))
    comp = sbom["metadata"]["component"]
    assert comp["type"] == "file" and comp["name"] == "shop" and comp["version"] == "1.0.0"
    assert comp["hashes"][0]["content"] == a["digest"].removeprefix("sha256:")


SPEC = """\
project: shop
pipeline:
  jobs:
    build:
      run: mkdir -p dist && cp a.py dist/shop.zip
      inputs: [a.py]
      outputs: [dist/shop.zip]
      artifact: shop
"""


def test_release_records_release_and_artifacts_together(store: Store, tmp_path: Path) -> None:
    """A release tags, writes the changelog and records release.created with {sha, time}
    commits, the run that built it, and the artifact in the store."""
    from shipyard.spec.load import parse_spec

    spec = parse_spec(SPEC)
    repo = gitrepo.init(tmp_path / "repo")
    first = gitrepo.commit(repo, "feat: first", {"a.py": "1", ".gitignore": "dist/\n"})
    second = gitrepo.commit(repo, "fix: second", {"a.py": "2"})
    out = release.release(store, repo, project="shop", spec=spec, actor="alice@example.com")
    assert out["released"] is True and out["version"] == "0.1.0" and out["tag"] == "v0.1.0"
    assert gitrepo.git(repo, "rev-parse", "v0.1.0^{commit}") == out["commit"]
    assert "## 0.1.0" in (repo / "CHANGELOG.md").read_text()
    (event,) = _events(store, "release.created")
    assert event["subject"] == "release:shop@0.1.0" and event["actor"] == "alice@example.com"
    assert [c["sha"] for c in event["payload"]["commits"]] == [first, second]
    assert all(c["time"].endswith("Z") for c in event["payload"]["commits"])
    assert event["payload"]["run_id"] == str(out["run_id"])
    shown = svc.show(store, "shop", "shop@0.1.0")
    assert shown["commit"] == second and shown["run_id"] == str(out["run_id"])
    again = release.release(store, repo, project="shop", spec=spec, actor="alice@example.com")
    assert again["released"] is False and "nothing to release" in again["message"]


def test_failed_recording_removes_the_tag(store: Store, tmp_path: Path) -> None:
    """If the store refuses the release (other bytes under the version), no tag is left."""
    from shipyard.spec.load import parse_spec

    repo = gitrepo.init(tmp_path / "repo")
    gitrepo.commit(repo, "feat: first", {"a.py": "1", ".gitignore": "dist/\n"})
    svc.publish(store, "shop", "shop", _file(tmp_path, "older"), "0.1.0", BUILD)
    with pytest.raises(svc.ArtifactImmutable):
        release.release(store, repo, project="shop", spec=parse_spec(SPEC), actor="a@example.com")
    assert gitrepo.git(repo, "tag", "--list") == ""
    assert _events(store, "release.created") == []
