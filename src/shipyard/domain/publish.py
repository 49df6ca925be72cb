"""Publishing a released artifact to a package registry: what a target holds decides what to do,
and the documents each registry protocol takes, built from plain data.

A push is idempotent: the target already holding the same bytes under the version is success
(nothing is sent), other bytes there are a ``publish-conflict``. The package's own metadata
(a wheel's file name, a tarball's package.json) must carry the release's version, or the
registry would file it under another one.
"""

from __future__ import annotations

import base64
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

from packaging.utils import (
    InvalidSdistFilename,
    InvalidWheelFilename,
    canonicalize_name,
    parse_sdist_filename,
    parse_wheel_filename,
)
from packaging.version import InvalidVersion, Version

from shipyard.domain.versionfiles import pep440
from shipyard.errors import Conflict, InputError

Action = Literal["push", "already"]


class PublishConflict(Conflict):
    code = "publish-conflict"
    default_hint = (
        "a registry keeps what it was given: release a new version, or remove the other bytes "
        "from the registry first"
    )


class PublishUnsupported(InputError):
    code = "publish-unsupported"


class PublishVersionMismatch(InputError):
    code = "publish-version-mismatch"


def decide(target: str, what: str, held: str | None, ours: str) -> Action:
    """``push`` when the target holds nothing under the version, ``already`` when it holds the
    same bytes (``held`` == ``ours``, as the registry names them); a conflict otherwise."""
    if held is None:
        return "push"
    if held == ours:
        return "already"
    raise PublishConflict(
        f"{target} already holds {what} with other bytes ({held}, not {ours})",
        details={"target": target, "held": held, "offered": ours},
    )


# -- PyPI ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class PythonPackage:
    name: str  # as in the file name
    version: str
    filetype: Literal["bdist_wheel", "sdist"]
    pyversion: str  # "source" for an sdist, the wheel's python tag otherwise


def python_package(filename: str, release_version: str, target: str) -> PythonPackage:
    """What a PyPI upload says about a file, from its name (PEP 427 / PEP 625), checked
    against the version being released."""
    try:
        if filename.endswith(".whl"):
            name, ver, _build, tags = parse_wheel_filename(filename)
            pyversions = sorted({t.interpreter for t in tags})
            pkg = PythonPackage(str(name), str(ver), "bdist_wheel", ".".join(pyversions))
        elif filename.endswith(".tar.gz"):
            name, ver = parse_sdist_filename(filename)
            pkg = PythonPackage(str(name), str(ver), "sdist", "source")
        else:
            raise PublishUnsupported(
                f"{target} takes wheels and source distributions; {filename} is neither",
                "list only Python artifacts under the target's `artifacts:`",
                details={"target": target, "file": filename},
            )
    except (InvalidWheelFilename, InvalidSdistFilename) as exc:
        raise PublishUnsupported(
            f"{filename} is not a valid wheel or sdist name: {exc}",
            "build it with `python -m build`",
            details={"target": target, "file": filename},
        ) from exc
    if not same_python_version(pkg.version, release_version):
        raise version_mismatch(target, filename, pkg.version, release_version)
    return pkg


def same_python_version(package: str, release: str) -> bool:
    """``1.5.0rc1`` is ``1.5.0-rc.1``: versions compared as PEP 440 normalises them."""
    try:
        return Version(package) == Version(pep440(release))
    except InvalidVersion:
        return package == release


def version_mismatch(target: str, filename: str, found: str, release: str) -> InputError:
    return PublishVersionMismatch(
        f"{filename} is version {found}, but the release is {release}; {target} would file "
        f"it as {found}",
        "build the package with the release's version (set it in the project's files before "
        "the build, e.g. from `shipyard version --json`), then release again",
        details={"target": target, "file": filename, "package_version": found, "release": release},
    )


def simple_index_link(html: str, filename: str) -> tuple[str, str | None] | None:
    """The link a PEP 503 simple page gives ``filename`` (without its fragment) and the
    ``sha256:<hex>`` its ``#sha256=`` fragment names (None without one); None when the file
    is not listed."""
    for m in re.finditer(r"<a\s[^>]*href=\"([^\"]+)\"[^>]*>([^<]*)</a>", html):
        href, text = m.group(1), m.group(2).strip()
        link = href.split("#", 1)[0]
        if filename not in (text, link.rstrip("/").rsplit("/", 1)[-1]):
            continue
        digest = re.search(r"#sha256=([0-9a-f]{64})", href)
        return link, f"sha256:{digest.group(1)}" if digest else None
    return None


def project_name(name: str) -> str:
    return canonicalize_name(name)


# -- npm ----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class NpmTarball:
    manifest: Mapping[str, Any]  # package/package.json
    shasum: str  # sha1 hex: npm's `dist.shasum`
    integrity: str  # sha512-<base64>: npm's `dist.integrity` (SRI)
    size: int

    @property
    def name(self) -> str:
        return str(self.manifest["name"])

    @property
    def version(self) -> str:
        return str(self.manifest["version"])


def check_npm_manifest(manifest: Any, release_version: str, target: str, filename: str) -> None:
    if not isinstance(manifest, dict) or not isinstance(manifest.get("name"), str):
        raise PublishUnsupported(
            f"{filename} has no package/package.json with a name; {target} takes `npm pack` "
            "tarballs",
            "build the artifact with `npm pack`",
            details={"target": target, "file": filename},
        )
    if manifest.get("private") is True:
        raise PublishUnsupported(
            f"{filename} is marked private in its package.json; npm would not publish it",
            "remove `private: true`, or leave this artifact out of the target's `artifacts:`",
            details={"target": target, "file": filename},
        )
    found = str(manifest.get("version", ""))
    if found != release_version:
        raise version_mismatch(target, filename, found, release_version)


def npm_tarball_name(name: str, version: str) -> str:
    """``@scope/pkg`` 1.0.0 -> ``pkg-1.0.0.tgz``, as `npm publish` names the attachment."""
    return f"{name.rsplit('/', 1)[-1]}-{version}.tgz"


def npm_publish_document(
    tarball: NpmTarball, data: bytes, registry: str, tag: str = "latest"
) -> dict[str, Any]:
    """The document `npm publish` PUTs to ``{registry}/{name}`` (libnpmpublish): the package
    document with this one version and the tarball attached in base64."""
    name, version = tarball.name, tarball.version
    file = npm_tarball_name(name, version)
    escaped = name.replace("/", "%2f")
    manifest = {
        **dict(tarball.manifest),
        "_id": f"{name}@{version}",
        "dist": {
            "shasum": tarball.shasum,
            "integrity": tarball.integrity,
            "tarball": f"{registry.rstrip('/')}/{escaped}/-/{file}",
        },
    }
    return {
        "_id": name,
        "name": name,
        "description": tarball.manifest.get("description", ""),
        "dist-tags": {tag: version},
        "versions": {version: manifest},
        "access": None,
        "_attachments": {
            file: {
                "content_type": "application/octet-stream",
                "data": base64.b64encode(data).decode(),
                "length": len(data),
            }
        },
    }


def npm_held(packument: Mapping[str, Any] | None, version: str) -> str | None:
    """The integrity a registry's package document gives ``version``; None when absent."""
    if not packument:
        return None
    entry = (packument.get("versions") or {}).get(version)
    if not isinstance(entry, dict):
        return None
    dist = entry.get("dist") or {}
    return str(dist.get("integrity") or f"sha1:{dist.get('shasum', '')}")


# -- OCI ----------------------------------------------------------------------------------------

OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_EMPTY = "application/vnd.oci.empty.v1+json"
OCI_EMPTY_DATA = b"{}"
OCI_EMPTY_DIGEST = "sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a"
ARTIFACT_TYPE = "application/vnd.shipyard.artifact.v1"
_TAG_BAD = re.compile(r"[^A-Za-z0-9_.-]")


def oci_tag(version: str) -> str:
    """An OCI tag for a version: ``+`` (semver build metadata) is not allowed there, so it
    becomes ``_`` as Helm does."""
    tag = _TAG_BAD.sub("_", version.replace("+", "_"))
    return tag[:128]


def oci_manifest(
    *,
    digest: str,
    size: int,
    media_type: str,
    filename: str,
    name: str,
    version: str,
) -> bytes:
    """An OCI image manifest for one file as an artifact (image-spec 1.1 "artifacts"
    guidance): ``artifactType`` set, the empty config, the file as the one layer titled by
    its name. Deterministic, so pushing the same file twice makes the same manifest digest."""
    doc = {
        "schemaVersion": 2,
        "mediaType": OCI_MANIFEST,
        "artifactType": ARTIFACT_TYPE,
        "config": {"mediaType": OCI_EMPTY, "digest": OCI_EMPTY_DIGEST, "size": 2},
        "layers": [
            {
                "mediaType": media_type,
                "digest": digest,
                "size": size,
                "annotations": {"org.opencontainers.image.title": filename},
            }
        ],
        "annotations": {
            "org.opencontainers.image.title": name,
            "org.opencontainers.image.version": version,
        },
    }
    return json.dumps(doc, separators=(",", ":"), sort_keys=True).encode()


def oci_held(manifest: Mapping[str, Any] | None) -> str | None:
    """The digest of the one file an artifact manifest carries; None without a manifest,
    ``unknown`` for a manifest of another shape (an image pushed under the same tag)."""
    if manifest is None:
        return None
    layers = manifest.get("layers")
    if isinstance(layers, list) and len(layers) == 1 and isinstance(layers[0], dict):
        return str(layers[0].get("digest"))
    return "unknown"
