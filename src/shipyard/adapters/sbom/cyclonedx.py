"""CycloneDX 1.6 JSON SBOMs, built with cyclonedx-python-lib and validated against its schema.

A wheel gets its own metadata as the main component and its dependencies resolved against the
installed environment (pinned to the installed version when it satisfies the requirement,
otherwise listed with the requirement alone). Anything else gets a minimal SBOM naming the file.
"""

from __future__ import annotations

import zipfile
from email.parser import Parser
from pathlib import Path
from typing import Any

from shipyard.errors import InputError, ShipyardError

_META = ".dist-info/METADATA"


class SbomInvalid(ShipyardError):
    code = "sbom-invalid"
    default_hint = "this is a bug in SBOM generation; report it with the artifact's file name"


class WheelInvalid(InputError):
    code = "wheel-invalid"
    default_hint = "build the wheel again (`python -m build --wheel`); its METADATA is missing"


def wheel_metadata(path: Path) -> Any:
    """The parsed ``*.dist-info/METADATA`` of a wheel (an email.message.Message)."""
    try:
        with zipfile.ZipFile(path) as zf:
            names = zf.namelist()
            name = next((n for n in names if n.count("/") == 1 and n.endswith(_META)), None)
            if name is None:
                raise WheelInvalid(f"{path.name} has no .dist-info/METADATA")
            text = zf.read(name).decode("utf-8", "replace")
    except (zipfile.BadZipFile, OSError) as exc:
        raise WheelInvalid(f"{path.name} is not a readable wheel: {exc}") from exc
    return Parser().parsestr(text)


def build(path: Path, name: str, version: str, digest: str, media_type: str) -> bytes:
    """The SBOM for one artifact file, as validated JSON bytes."""
    from cyclonedx.model import HashAlgorithm, HashType, Property
    from cyclonedx.model.bom import Bom
    from cyclonedx.model.component import Component, ComponentType
    from cyclonedx.output.json import JsonV1Dot6

    sha = HashType(alg=HashAlgorithm.SHA_256, content=digest.removeprefix("sha256:"))
    bom = Bom()
    if path.suffix == ".whl":
        _python(bom, path, sha)
    else:
        bom.metadata.component = Component(
            name=name,
            version=version,
            type=ComponentType.FILE,
            bom_ref=f"{name}@{version}",
            hashes=[sha],
            # mimeType is refused by the 1.6 JSON schema, so the media type is a property.
            properties=[Property(name="shipyard:media-type", value=media_type)],
            description=path.name,
        )
    text = JsonV1Dot6(bom).output_as_string(indent=2)
    validate(text)
    return text.encode()


def validate(text: str) -> None:
    from cyclonedx.schema import SchemaVersion
    from cyclonedx.validation.json import JsonStrictValidator

    error = JsonStrictValidator(SchemaVersion.V1_6).validate_str(text)
    if error is not None:
        raise SbomInvalid(f"the SBOM is not valid CycloneDX 1.6: {str(error).splitlines()[0]}")


def _python(bom: Any, path: Path, sha: Any) -> None:
    from cyclonedx.model.component import Component, ComponentType
    from cyclonedx.model.license import LicenseExpression
    from license_expression import ExpressionError, get_spdx_licensing
    from packageurl import PackageURL

    meta = wheel_metadata(path)
    pkg, ver = meta["Name"], meta["Version"]
    licenses = []
    expr = meta.get("License-Expression")
    if expr:
        try:
            get_spdx_licensing().parse(expr, validate=True)
            licenses.append(LicenseExpression(expr))
        except ExpressionError:
            pass  # not SPDX: left out rather than failing the schema
    purl = PackageURL("pypi", name=_norm(pkg), version=ver)
    root = Component(
        name=pkg,
        version=ver,
        type=ComponentType.LIBRARY,
        bom_ref=purl.to_string(),
        purl=purl,
        hashes=[sha],
        description=meta.get("Summary") or None,
        licenses=licenses,
    )
    bom.metadata.component = root
    seen: dict[str, Any] = {}
    direct = [_component(req, seen) for req in _requirements(meta.get_all("Requires-Dist") or [])]
    bom.register_dependency(root, direct)
    # Walk the installed closure so transitive dependencies appear with their own edges.
    queue = list(direct)
    done: set[str] = set()
    while queue:
        comp = queue.pop()
        if comp.bom_ref.value in done:
            continue
        done.add(comp.bom_ref.value)
        children = [_component(req, seen) for req in _installed_requirements(comp.name)]
        children = [c for c in children if c is not comp]
        queue.extend(children)
        bom.register_dependency(comp, children)
        bom.components.add(comp)


def _norm(name: str) -> str:
    import re

    return re.sub(r"[-_.]+", "-", name).lower()


def _requirements(lines: list[str]) -> list[Any]:
    """Requirements that apply here: no extras asked for, markers evaluated for this Python."""
    from packaging.requirements import InvalidRequirement, Requirement

    out = []
    for line in lines:
        try:
            req = Requirement(line)
        except InvalidRequirement:
            continue
        if req.marker is None or req.marker.evaluate({"extra": ""}):
            out.append(req)
    return out


def _installed_requirements(name: str) -> list[Any]:
    from importlib.metadata import PackageNotFoundError, requires

    try:
        return _requirements(requires(name) or [])
    except PackageNotFoundError:
        return []


def _component(req: Any, seen: dict[str, Any]) -> Any:
    from importlib.metadata import PackageNotFoundError
    from importlib.metadata import version as installed_version

    from cyclonedx.model import Property
    from cyclonedx.model.component import Component, ComponentType
    from packageurl import PackageURL

    key = _norm(req.name)
    if key in seen:
        return seen[key]
    try:
        ver: str | None = installed_version(req.name)
    except PackageNotFoundError:
        ver = None
    if ver is not None and not req.specifier.contains(ver, prereleases=True):
        ver = None  # what is installed is not what the wheel asks for
    purl = PackageURL("pypi", name=key, version=ver)
    comp = Component(
        name=req.name,
        version=ver,
        type=ComponentType.LIBRARY,
        bom_ref=purl.to_string(),
        purl=purl,
        properties=[Property(name="shipyard:requirement", value=str(req))],
    )
    seen[key] = comp
    return comp
