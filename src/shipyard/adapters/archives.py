"""Unpacking an artifact into the folder its instances run in: zip files and tar archives.

An archive comes from the registry, so whoever could publish could try to write outside the
folder. Nothing is written until every entry's name is checked (``domain.archives``); a tar is
then extracted with the standard library's ``data`` filter, which also refuses links that
point outside the folder, device files and fifos, and drops set-uid bits. Zip files hold no
links (``zipfile`` writes a link as a file holding its target).
"""

from __future__ import annotations

import tarfile
import zipfile
import zlib
from pathlib import Path

from shipyard.domain.archives import entry_escapes, is_tar_name
from shipyard.errors import Refused, ShipyardError


class ArtifactUnsafe(Refused):
    code = "artifact-unsafe"
    default_hint = (
        "rebuild the archive with paths relative to its root and links that stay inside it"
    )


class ArtifactUnreadable(ShipyardError):
    code = "artifact-unreadable"
    default_hint = "the published file is not a readable archive; publish a new version"


def unpack(archive: Path, dest: Path) -> str | None:
    """Unpack ``archive`` into ``dest`` when it is a tar archive (by name) or a zip file (by
    content); the format unpacked, or None for a file that is no archive."""
    if is_tar_name(archive.name):
        _untar(archive, dest)
        return "tar"
    if zipfile.is_zipfile(archive):
        _unzip(archive, dest)
        return "zip"
    return None


def _refuse(archive: Path, entry: str, why: str) -> ArtifactUnsafe:
    return ArtifactUnsafe(f"{archive.name}: entry {entry!r} {why}; nothing was unpacked")


def _untar(archive: Path, dest: Path) -> None:
    if not hasattr(tarfile, "data_filter"):  # Python before 3.11.4 cannot filter safely
        raise ArtifactUnreadable(
            f"{archive.name}: this Python cannot unpack tar archives safely",
            "use Python 3.11.4 or later, or publish a zip file",
        )
    try:
        with tarfile.open(archive, "r:*") as tar:
            members = tar.getmembers()
            for member in members:
                if entry_escapes(member.name):
                    raise _refuse(archive, member.name, "would be written outside its folder")
            tar.extractall(dest, members=members, filter="data")
    except tarfile.FilterError as exc:  # a link out of the folder, a device file...
        name = exc.tarinfo.name if exc.tarinfo is not None else "?"
        raise _refuse(archive, name, f"is refused: {exc}") from exc
    except (tarfile.TarError, EOFError, zlib.error, OSError) as exc:
        raise ArtifactUnreadable(f"{archive.name} cannot be unpacked: {exc}") from exc


def _unzip(archive: Path, dest: Path) -> None:
    try:
        with zipfile.ZipFile(archive) as z:
            for name in z.namelist():
                if entry_escapes(name):
                    raise _refuse(archive, name, "would be written outside its folder")
            z.extractall(dest)
    except (zipfile.BadZipFile, zlib.error, OSError) as exc:
        raise ArtifactUnreadable(f"{archive.name} cannot be unpacked: {exc}") from exc
