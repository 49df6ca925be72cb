"""Hotfixes: ``hotfix/<version>`` branched from a release tag, released as a patch of that line.

``start`` records which production deployment was live, because the hotfix repairs it: that
deployment counts as a change failure in the DORA figures. ``finish`` releases from the hotfix
branch with the maintenance rules of ``domain/versioning.py`` (patch versions only).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypedDict

from shipyard.adapters.vcs.git import GitRepo
from shipyard.domain import versioning as v
from shipyard.errors import Conflict, InputError, NotFound, ShipyardError
from shipyard.services.coordination.coordination import iso, latest_deployment
from shipyard.spec.promotion import production
from shipyard.store.uow import Store

if TYPE_CHECKING:
    from shipyard.services.releases.release import Published
    from shipyard.spec.models import Spec

PREFIX = "hotfix/"


def _started(store: Store, project: str, version: str) -> Any | None:
    with store.read() as uow:
        found = uow.events.query(
            project=project, kind="hotfix.started", subject=f"hotfix:{version}"
        )
    return found[-1] if found else None


class HotfixStart(TypedDict):
    """A hotfix started: its branch at the release tag, and the deployment it repairs (the
    ``hotfix.started`` event's payload)."""

    version: str  # the release it fixes
    branch: str
    tag: str
    commit: str
    environment: str  # production
    deployment_id: str | None  # live there when it started; None: nothing was
    live_version: str | None


class HotfixStarted(HotfixStart):
    started_at: str


class HotfixFinish(TypedDict):
    """A hotfix released (the ``hotfix.finished`` event's payload)."""

    version: str  # the release it fixed
    released: str | None  # the patch version released
    tag: str | None
    commit: str
    branch: str
    deployment_id: str | None


class HotfixFinished(HotfixFinish):
    changelog: str
    published: list[Published]


def start(
    store: Store,
    spec: Spec,
    root: Path,
    version: str,
    actor: str,
    now: datetime,
    *,
    checkout: bool = True,
    publish: Callable[[list[str]], None] | None = None,
) -> HotfixStarted:
    """Create ``hotfix/<version>`` at the release tag of ``version`` (and check it out);
    ``publish`` pushes it (the server's checkout) before the start is recorded."""
    base = v.parse_version(version.removeprefix("v"))
    if base.is_prerelease:
        raise InputError(
            f"{version} is a pre-release; hotfixes start from a release",
            code="hotfix-base-invalid",
        )
    version = str(base)
    repo = GitRepo.open(root)
    from shipyard.services.releases.release import config_of

    tag = v.tag_name(version, None, config_of(spec).tag_format)
    if not repo.tag_exists(tag):
        raise NotFound(
            f"no release tag {tag} in {repo.root}",
            "`git fetch --tags`, or name a released version (`git tag -l`)",
            code="release-tag-not-found",
        )
    commit = repo.resolve(tag)
    branch = PREFIX + version
    if _started(store, spec.project, version) is not None:
        raise Conflict(
            f"a hotfix of {version} is already started",
            f"finish it: `shipyard hotfix finish` on {branch}",
            code="hotfix-exists",
        )
    if checkout:
        repo.require_clean()
    try:
        repo.git("branch", branch, commit)
    except Conflict as exc:
        raise Conflict(
            f"branch {branch} already exists",
            "delete it, or finish the hotfix it holds",
            code="branch-exists",
        ) from exc
    if checkout:
        repo.git("checkout", "-q", branch)
    env = production(spec)
    with store.read() as uow:
        live = latest_deployment(uow, spec.project, env)
    deployment_id = live.subject.removeprefix("deployment:") if live is not None else None
    payload: HotfixStart = {
        "version": version,
        "branch": branch,
        "tag": tag,
        "commit": commit,
        "environment": env,
        "deployment_id": deployment_id,
        "live_version": live.payload.get("version") if live is not None else None,
    }
    with store.begin() as uow:
        if publish is not None:
            publish([branch])
        uow.events.append(
            "hotfix.started", f"hotfix:{version}", actor, payload, project=spec.project
        )
    return {**payload, "started_at": iso(now)}


def finish(
    store: Store,
    spec: Spec,
    root: Path,
    actor: str,
    now: datetime,
    *,
    version: str | None = None,
    artifacts: list[tuple[str, Path]] | None = None,
) -> HotfixFinished:
    """Release the next patch version from the hotfix branch (the current one, or that of
    ``version``), with its changelog, tag and artifacts, and record ``hotfix.finished``."""
    from shipyard.services.releases import release as rel

    repo = GitRepo.open(root)
    if version is not None:
        branch = PREFIX + str(v.parse_version(version.removeprefix("v")))
        try:
            current = repo.branch()
        except ShipyardError:
            current = None
        if current != branch:
            repo.require_clean()
            repo.git("checkout", "-q", branch)
    else:
        branch = repo.branch()
        if not branch.startswith(PREFIX):
            raise InputError(
                f"{branch} is not a hotfix branch",
                "check out hotfix/<version>, or pass the version: `shipyard hotfix finish 1.4.2`",
                code="not-a-hotfix-branch",
            )
    base = branch.removeprefix(PREFIX)
    started = _started(store, spec.project, base)
    if started is None:
        raise NotFound(
            f"no hotfix of {base} was started",
            f"`shipyard hotfix start {base}` records it and the deployment it repairs",
            code="hotfix-not-started",
        )
    with store.read() as uow:
        done = uow.events.query(
            project=spec.project, kind="hotfix.finished", subject=f"hotfix:{base}"
        )
    if done:
        raise Conflict(
            f"the hotfix of {base} was finished as {done[-1].payload.get('released')}",
            f"start a new one from that release: `shipyard hotfix start "
            f"{done[-1].payload.get('released')}`",
            code="hotfix-finished",
        )
    out = rel.release(
        store,
        root,
        project=spec.project,
        spec=spec,
        branch=branch,
        artifacts=artifacts,
        actor=actor,
        today=now.date(),
        project_root=root,
    )
    if not out["released"]:
        raise InputError(
            f"nothing to release on {branch}: {out.get('message', '')}",
            "commit the fix (a `fix:` commit) on the hotfix branch first",
            code="hotfix-empty",
        )
    payload: HotfixFinish = {
        "version": base,
        "released": out["version"],
        "tag": out["tag"],
        "commit": out["commit"],
        "branch": branch,
        "deployment_id": started.payload.get("deployment_id"),
    }
    with store.begin() as uow:
        uow.events.append("hotfix.finished", f"hotfix:{base}", actor, payload, project=spec.project)
    return {
        **payload,
        "changelog": out.get("changelog", ""),
        "published": out.get("published", []),
    }
