"""CycloneDX 1.6 JSON SBOMs, built with cyclonedx-python-lib's model and serializer.

Not validated against the schema here: importing jsonschema's format checkers costs seconds of
every `release` and `artifacts publish`; the tests validate what this writes (wheel or not)
with the library's strict validator instead.

A wheel gets its own metadata as the main component and its dependencies resolved the way its
installer resolves them (``domain/dependencies.py``: Requires-Dist with extras and markers)
against the build's environment (``environment.py``), recorded in the SBOM as
``shipyard:resolved-against``. Anything else gets a minimal SBOM naming the file.
"""

from __future__ import annotations

import zipfile
from email.parser import Parser
from pathlib import Path
from typing import Any

from shipyard.errors import InputError

_META = ".dist-info/METADATA"


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


def build(
    path: Path,
    name: str,
    version: str,
    digest: str,
    media_type: str,
    python: Path | None = None,
) -> bytes:
    """The SBOM for one artifact file, as JSON bytes; a wheel's dependencies are
    resolved against the environment of ``python`` (default: see ``environment``)."""
    from cyclonedx.model import HashAlgorithm, HashType, Property
    from cyclonedx.model.bom import Bom
    from cyclonedx.model.component import Component, ComponentType
    from cyclonedx.output.json import JsonV1Dot6

    sha = HashType(alg=HashAlgorithm.SHA_256, content=digest.removeprefix("sha256:"))
    bom = Bom()
    if path.suffix == ".whl":
        _python(bom, path, sha, python)
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
    return JsonV1Dot6(bom).output_as_string(indent=2).encode()


def _python(bom: Any, path: Path, sha: Any, python: Path | None) -> None:
    from cyclonedx.model import Property
    from cyclonedx.model.component import Component, ComponentType
    from cyclonedx.model.license import LicenseExpression
    from license_expression import ExpressionError, get_spdx_licensing
    from packageurl import PackageURL

    from shipyard.adapters.sbom.environment import default_python, snapshot
    from shipyard.domain.dependencies import normalize, resolve

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
    purl = PackageURL("pypi", name=normalize(pkg), version=ver)
    env = snapshot(python or default_python(Path.cwd()))
    available, label = env.dists, env.label
    lock = Path.cwd() / "uv.lock"
    if python is None and lock.is_file():
        # A lock file pins what an install gets; the interpreter only supplies marker values.
        from shipyard.adapters.sbom import uvlock

        available = uvlock.read(lock)
        label = f"lock {lock} (markers of Python {env.version} at {env.python})"
    root = Component(
        name=pkg,
        version=ver,
        type=ComponentType.LIBRARY,
        bom_ref=purl.to_string(),
        purl=purl,
        hashes=[sha],
        description=meta.get("Summary") or None,
        licenses=licenses,
        # Where the versions come from, so a reader knows what the SBOM claims.
        properties=[Property(name="shipyard:resolved-against", value=label)],
    )
    bom.metadata.component = root
    closure = resolve(meta.get_all("Requires-Dist") or [], env.markers, available)
    components: dict[str, Any] = {}
    for key, node in closure.nodes.items():
        props = [
            Property(name="shipyard:requirement", value=r) for r in dict.fromkeys(node.requirements)
        ]
        if node.extras:
            props.append(Property(name="shipyard:extras", value=",".join(sorted(node.extras))))
        if node.version is None:
            props.append(Property(name="shipyard:missing", value=f"not in the {label}"))
        elif not node.satisfied:
            props.append(
                Property(
                    name="shipyard:unsatisfied",
                    value="the installed version does not meet a requirement",
                )
            )
        p = PackageURL("pypi", name=key, version=node.version)
        components[key] = Component(
            name=node.name,
            version=node.version,
            type=ComponentType.LIBRARY,
            bom_ref=p.to_string(),
            purl=p,
            properties=props,
        )
    for key, comp in components.items():
        bom.components.add(comp)
        bom.register_dependency(comp, [components[c] for c in sorted(closure.edges.get(key, ()))])
    bom.register_dependency(root, [components[c] for c in sorted(closure.edges.get("", ()))])
