"""What a release writes besides CHANGELOG.md: the version in the project's own files
(``release.version_files``), decided in full before any file changes."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from shipyard.domain import versionfiles as vf
from shipyard.domain import versioning as v
from shipyard.errors import InputError

if TYPE_CHECKING:
    from shipyard.spec.models import Spec


class VersionFileMissing(InputError):
    code = "version-file-missing"
    default_hint = "create the file, or remove it from release.version_files"


@dataclass(frozen=True)
class FileChange:
    path: Path  # absolute
    relative: str  # to the repository root, as committed
    after: str


def version_file_changes(
    repo_root: Path,
    project_root: Path,
    spec: Spec | None,
    version: str,
    service_paths: tuple[str, ...] = (),
) -> list[FileChange]:
    """The new content of each configured version file (and of the Cargo.lock beside a
    Cargo.toml); with a monorepo service, only the files under its paths."""
    names = list(spec.release.version_files) if spec is not None else []
    out: list[FileChange] = []
    for name in names:
        path = (project_root / name).resolve()
        relative = path.relative_to(repo_root.resolve()).as_posix()
        if service_paths and not v.touches([relative], service_paths):
            continue
        vf.kind_of(name)  # an unknown format is refused even when the file is missing
        if not path.is_file():
            raise VersionFileMissing(f"{name} (release.version_files) does not exist")
        before = path.read_text()
        after = vf.write_version(name, before, version)
        out.append(FileChange(path, relative, after))
        if vf.kind_of(name) == "cargo":
            out += _cargo_lock(repo_root, path, before, version)
    return [c for c in out if c.path.read_text() != c.after]


def _cargo_lock(repo_root: Path, toml: Path, before: str, version: str) -> list[FileChange]:
    lock = toml.parent / "Cargo.lock"
    package = vf.cargo_package(before)
    if package is None or not lock.is_file():
        return []
    name, old = package
    after = vf.cargo_lock_version(lock.read_text(), name, old, version)
    return [FileChange(lock, lock.relative_to(repo_root.resolve()).as_posix(), after)]


def write(changes: list[FileChange]) -> None:
    for change in changes:
        change.path.write_text(change.after)
