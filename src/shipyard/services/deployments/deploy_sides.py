"""One side of a deployment on the host that runs it: the folder its instances run in (the
artifact unpacked once per digest) and how to launch them, with secrets read again each time.
The deployment service records sides; its runner and the supervisor start them."""

from __future__ import annotations

import contextlib
import secrets as _secrets
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from shipyard.adapters.targets import local as rt
from shipyard.services.deployments import deploy_plan as dp
from shipyard.store.uow import Store


def workdir(store: Store, root: Path, artifact: Mapping[str, Any] | None) -> Path:
    """Where instances run: the artifact unpacked once per digest (a zip file or a tar
    archive; any other file as it is), else the project folder."""
    if artifact is None:
        return root
    import shutil

    from shipyard.adapters.archives import unpack
    from shipyard.domain.filenames import safe_basename
    from shipyard.services.releases.artifacts import cas_of

    digest: str = artifact["digest"].replace(":", "-")
    dest = store.home / "deploy" / "releases" / digest
    if dest.is_dir():
        return dest
    tmp = dest.with_name(dest.name + f".{_secrets.token_hex(4)}")
    tmp.mkdir(parents=True)
    try:
        path = tmp / safe_basename(artifact["filename"], digest)
        cas_of(store).restore(artifact["digest"], path, verify=True)
        unpack(path, tmp)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)  # a refused or broken archive leaves nothing
        raise
    with contextlib.suppress(OSError):  # another deploy may have unpacked the same bytes
        tmp.rename(dest)
    return dest


def launch_for(store: Store, side: dp.Side | None) -> rt.Launch | None:
    """How to start one side of a deployment; secrets are read again, never stored. A command
    target's side has no command and no readiness path: its launch serves its migration (the
    folder and the environment) only."""
    if not side:
        return None
    values = dp.resolve_secrets(side["secret_refs"], Path(side["root"]))
    command, path = side["command"], side["readiness_path"]
    return rt.Launch(
        command="" if command is None else command,
        version=side["version"],
        workdir=materialized(store, side),
        env={**side["config"], **values},
        readiness_path="/healthz" if path is None else path,
        grace=side["grace"],
        secrets=tuple(v for v in values.values() if v),
        revision=rt.revision_of(side),
    )


def materialized(store: Store | None, side: dp.Side) -> str:
    """Where one side's instances run on this host: the folder recorded, or, when it is not
    here (a worker on another host than the replica that recorded the deployment), the
    artifact unpacked again from the blob store into this host's state folder."""
    artifact = side.get("artifact")
    if store is None or artifact is None or Path(side["workdir"]).is_dir():
        return str(side["workdir"])
    return str(workdir(store, Path(side["root"]), artifact))
