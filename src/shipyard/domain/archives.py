"""Which artifacts are archives a deploy unpacks, and which archive entries it refuses."""

from __future__ import annotations

import posixpath
import re
from typing import Final

# Tar archives are known by their name; zip files by their content (wheels and jars are zips).
TAR_SUFFIXES: Final = (".tar", ".tar.gz", ".tgz", ".tar.bz2", ".tbz2", ".tar.xz", ".txz")

_DRIVE: Final = re.compile(r"^[A-Za-z]:")


def is_tar_name(filename: str) -> bool:
    """Whether ``filename`` names a tar archive, compressed or not."""
    return filename.lower().endswith(TAR_SUFFIXES)


def entry_escapes(name: str) -> bool:
    """Whether an entry named ``name`` would land outside the folder the archive is unpacked in:
    an absolute path (either separator, or a drive letter) or one that climbs above the folder
    with ``..``. A ``..`` that stays inside (``a/../b``) is allowed."""
    path = name.replace("\\", "/")
    if path.startswith("/") or _DRIVE.match(path):
        return True
    normal = posixpath.normpath(path)
    return normal == ".." or normal.startswith("../")
