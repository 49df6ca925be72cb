"""The released version written into a project's own files (``release.version_files``).

Pure: text in, text out. Each format is edited in place, line by line, so comments, key order
and indentation stay as the project wrote them, the way ``npm version`` keeps package.json's
indentation and ``cargo set-version`` keeps Cargo.toml's layout.
"""

from __future__ import annotations

import json
import re
from typing import Any, Literal

from shipyard.domain.versioning import SemVer, VersionInvalid
from shipyard.errors import InputError

Kind = Literal["pyproject", "npm", "npm-lock", "cargo", "plain"]

# By file name; the release writes no file whose format it does not know.
KINDS: dict[str, Kind] = {
    "pyproject.toml": "pyproject",
    "package.json": "npm",
    "package-lock.json": "npm-lock",
    "Cargo.toml": "cargo",
    "VERSION": "plain",
    "VERSION.txt": "plain",
    "version.txt": "plain",
}


class VersionFileUnsupported(InputError):
    code = "version-file-unsupported"
    default_hint = (
        "list pyproject.toml, package.json, package-lock.json, Cargo.toml or a VERSION file"
    )


class VersionFieldMissing(InputError):
    code = "version-field-missing"


def kind_of(path: str) -> Kind:
    """The format of a version file, by its name."""
    name = path.replace("\\", "/").rsplit("/", 1)[-1]
    kind = KINDS.get(name)
    if kind is None:
        raise VersionFileUnsupported(f"{path}: Shipyard does not know where its version is")
    return kind


def write_version(path: str, text: str, version: str) -> str:
    """``text`` (the file's content) with its version set to ``version``.

    pyproject.toml takes the PEP 440 spelling (``1.4.0-rc.1`` -> ``1.4.0rc1``), the others the
    SemVer one. A file without a version field is an error naming the field it looked for.
    """
    kind = kind_of(path)
    if kind == "plain":
        return version + "\n"
    if kind in ("npm", "npm-lock"):
        return _json_version(path, text, version, lock=kind == "npm-lock")
    if kind == "pyproject":
        return _toml_version(path, text, pep440(version), ("project", "tool.poetry"))
    return _toml_version(path, text, version, ("package", "workspace.package"))


def pep440(version: str) -> str:
    """A semantic version in PEP 440 spelling (``1.5.0-rc.1`` -> ``1.5.0rc1``)."""
    try:
        semver = SemVer.parse(version)
    except VersionInvalid:
        return version  # a calendar version such as 2026.06.1 is already PEP 440
    return semver.to_pep440()


_TABLE_RE = re.compile(r"^\s*\[(?P<name>[^\[\]]+)\]\s*(?:#.*)?$")
_VERSION_LINE_RE = re.compile(
    r"^(?P<lead>\s*version\s*=\s*)(?P<q>\"|')(?P<value>[^\"']*)(?P=q)(?P<rest>.*)$"
)
_INHERITED_RE = re.compile(r"^\s*version(?:\.workspace\s*=\s*true|\s*=\s*\{[^}]*workspace)")
_DYNAMIC_RE = re.compile(r"^\s*dynamic\s*=\s*\[[^\]]*[\"']version[\"']")


def _toml_version(path: str, text: str, version: str, tables: tuple[str, ...]) -> str:
    """Set ``version = "..."`` in the first of ``tables`` that has one."""
    lines = text.splitlines(keepends=True)
    found: dict[str, int] = {}
    table = ""
    for i, line in enumerate(lines):
        m = _TABLE_RE.match(line)
        if m is not None:
            table = m.group("name").strip().replace(" ", "")
            continue
        if table not in tables or table in found:
            continue
        if _DYNAMIC_RE.match(line):
            raise VersionFieldMissing(
                f"{path}: [{table}] declares its version dynamic",
                "the build backend derives it (e.g. from the tag); leave this file out of "
                "release.version_files",
            )
        if _INHERITED_RE.match(line):
            raise VersionFieldMissing(
                f"{path}: [{table}] inherits its version from the workspace",
                "list the workspace's Cargo.toml, whose [workspace.package] holds the version",
            )
        if _VERSION_LINE_RE.match(line):
            found[table] = i
    for name in tables:
        if name in found:
            i = found[name]
            m = _VERSION_LINE_RE.match(lines[i])
            assert m is not None
            end = "\n" if lines[i].endswith("\n") else ""
            q = m.group("q")
            lines[i] = f"{m.group('lead')}{q}{version}{q}{m.group('rest').rstrip(chr(10))}{end}"
            return "".join(lines)
    wanted = " or ".join(f"[{t}]" for t in tables)
    raise VersionFieldMissing(
        f'{path}: no version = "..." in {wanted}',
        f"add a version line to {wanted}, or leave this file out of release.version_files",
    )


def _json_version(path: str, text: str, version: str, *, lock: bool) -> str:
    try:
        data: Any = json.loads(text)
    except json.JSONDecodeError as exc:
        raise VersionFieldMissing(
            f"{path}:{exc.lineno}:{exc.colno}: not valid JSON: {exc.msg}",
            "fix the file, or leave it out of release.version_files",
        ) from exc
    if not isinstance(data, dict) or "version" not in data:
        raise VersionFieldMissing(
            f'{path}: no top-level "version"', 'add "version": "0.0.0" to the file'
        )
    data["version"] = version
    root = data.get("packages", {}).get("") if lock else None
    if isinstance(root, dict) and "version" in root:
        root["version"] = version  # lockfile v2/v3 repeats the root package's version
    indent = _indent_of(text)
    out = json.dumps(data, indent=indent, ensure_ascii=False)
    return out + ("\n" if text.endswith("\n") else "")


def _indent_of(text: str) -> int | str:
    """The indentation of the first indented line, as detect-indent (used by npm) finds it."""
    for line in text.splitlines()[1:]:
        stripped = line.lstrip(" \t")
        if stripped and len(stripped) < len(line):
            lead = line[: len(line) - len(stripped)]
            return lead if "\t" in lead else len(lead)
    return 2


def cargo_lock_version(text: str, package: str, old: str, new: str) -> str:
    """Cargo.lock with the ``[[package]]`` entry of ``package`` at ``old`` moved to ``new``, so
    a build with ``--locked`` still passes after the release commit."""
    blocks = re.split(r"(?m)^(?=\[\[package\]\]\s*$)", text)
    out = []
    for block in blocks:
        if re.search(rf'(?m)^name = "{re.escape(package)}"\s*$', block) and re.search(
            rf'(?m)^version = "{re.escape(old)}"\s*$', block
        ):
            block = re.sub(
                rf'(?m)^version = "{re.escape(old)}"(\s*)$', f'version = "{new}"\\1', block, count=1
            )
        out.append(block)
    return "".join(out)


def cargo_package(text: str) -> tuple[str, str] | None:
    """The ``[package]`` name and version of a Cargo.toml, None if it has no plain ones."""
    table = ""
    name = version = None
    for line in text.splitlines():
        m = _TABLE_RE.match(line)
        if m is not None:
            table = m.group("name").strip()
            continue
        if table != "package":
            continue
        n = re.match(r"^\s*name\s*=\s*\"([^\"]+)\"", line)
        v = _VERSION_LINE_RE.match(line)
        name = n.group(1) if n else name
        version = v.group("value") if v else version
    return (name, version) if name and version else None
