"""``release.hooks.after_release``: a shell command run once a release is recorded (and its
artifacts pushed), for what Shipyard leaves to the forge: a GitHub or GitLab release made with
`gh release create` or `glab release create` (docs/examples/), a chat message, a docs deploy.

The command runs with ``sh -c`` in the repository root, with the environment of `shipyard
release` plus the release's facts (``hook_env``): a token such as ``GH_TOKEN`` reaches the
command from the environment, never from shipyard.yaml. Its output goes to standard error, so
``--json`` output stays one document. The artifacts are restored from the blob store into a
temporary folder, checked against their digests, and the changelog section is written to a
file; both are removed after the command. Each run is recorded as ``release.hook_ran`` with
its exit status; a command that fails (or outlives ``release.hooks.timeout``) leaves the
release recorded and is run again with `shipyard release-hook TAG`.
"""

from __future__ import annotations

import os
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, TypedDict

from shipyard.adapters.commands import run_once
from shipyard.errors import NotFound, ShipyardError
from shipyard.store.uow import Store

if TYPE_CHECKING:
    from shipyard.spec.models import Spec

HOOK = "after_release"
EVENT = "release.hook_ran"


class HookFailed(ShipyardError):
    code = "release-hook-failed"


class ReleaseNotFound(NotFound):
    code = "release-not-found"
    default_hint = "name the tag of a release `shipyard release` recorded, e.g. v1.4.0"


@dataclass(frozen=True)
class Released:
    """The release a hook runs for, as its variables name it."""

    project: str
    service: str | None
    version: str
    previous: str | None
    tag: str
    commit: str
    branch: str


def hook_env(
    release: Released, *, changelog_file: Path, artifacts: list[Path], artifacts_dir: Path
) -> dict[str, str]:
    """The variables the command gets (documented in docs/artifacts.md#hooks)."""
    version = release.version
    return {
        "SHIPYARD_PROJECT": release.project,
        "SHIPYARD_SERVICE": release.service or "",
        "SHIPYARD_VERSION": version,
        "SHIPYARD_PREVIOUS_VERSION": release.previous or "",
        "SHIPYARD_TAG": release.tag,
        "SHIPYARD_COMMIT": release.commit,
        "SHIPYARD_BRANCH": release.branch,
        "SHIPYARD_PRERELEASE": "true" if "-" in version.split("+", 1)[0] else "false",
        "SHIPYARD_CHANGELOG_FILE": str(changelog_file),
        "SHIPYARD_ARTIFACTS": "\n".join(str(p) for p in artifacts),
        "SHIPYARD_ARTIFACTS_DIR": str(artifacts_dir),
    }


def configured(spec: Spec | None) -> str | None:
    return spec.release.hooks.after_release if spec is not None else None


class HookRun(TypedDict):
    """A run of ``release.hooks.after_release`` (its event's payload)."""

    hook: str
    tag: str
    exit_code: int | None  # None: timed out
    duration_s: float


def run(
    store: Store,
    spec: Spec | None,
    root: Path,
    *,
    project: str,
    actor: str,
    service: str | None,
    version: str,
    previous: str | None,
    tag: str,
    commit: str,
    branch: str,
    changelog: str,
    artifacts: list[str],
) -> HookRun | None:
    """Run the hook for a recorded release; None when none is configured. ``artifacts`` are
    the release's ``NAME@VERSION`` references."""
    from shipyard.services.releases import artifacts as reg

    command = configured(spec)
    if spec is None or not command:
        return None
    timeout = float(spec.release.hooks.timeout)
    with tempfile.TemporaryDirectory(prefix="shipyard-hook-") as tmp:
        folder = Path(tmp) / "artifacts"
        folder.mkdir()
        paths = []
        for ref in artifacts:
            (folder / ref).mkdir()  # one folder each: two artifacts may share a file name
            paths.append(Path(reg.download(store, project, ref, folder / ref)["path"]))
        notes = Path(tmp) / "CHANGELOG.md"
        notes.write_text(changelog)
        released = Released(project, service, version, previous, tag, commit, branch)
        env = {
            **os.environ,
            **hook_env(released, changelog_file=notes, artifacts=paths, artifacts_dir=folder),
        }
        started = time.monotonic()
        try:
            ran = run_once(
                ["/bin/sh", "-c", command], cwd=root, env=env, timeout=timeout, output=sys.stderr
            )
            status: int | None = ran.status
        except TimeoutError:
            status = None
    took = round(time.monotonic() - started, 3)
    result: HookRun = {"hook": HOOK, "tag": tag, "exit_code": status, "duration_s": took}
    with store.begin() as uow:
        uow.events.append(
            EVENT, f"release:{service or project}@{version}", actor, result, project=project
        )
    if status != 0:
        how = f"timed out after {timeout:g}s" if status is None else f"exited {status}"
        raise HookFailed(
            f"release.hooks.after_release {how}; {tag} is released and recorded",
            f"fix the command (its output is above), then run it again: `shipyard release-hook "
            f"{tag}`",
            details={"hook": HOOK, "tag": tag, "exit_code": status},
        )
    return result


def rerun(store: Store, spec: Spec, root: Path, *, project: str, actor: str, tag: str) -> HookRun:
    """Run the hook again for the release tagged ``tag``, with the facts it was released with:
    the changelog section from the tag's message, the artifacts from the registry."""
    from shipyard.adapters.vcs.git import GitRepo
    from shipyard.store import artifacts as tables

    with store.read() as uow:
        found = [r for r in tables.releases(uow.conn, project) if r["tag"] == tag]
        event = None
        if found:
            r = found[0]
            events = uow.events.query(
                project=project,
                kind="release.created",
                subject=f"release:{r['service']}@{r['version']}",
            )
            event = events[0] if events else None
    if not found or event is None:
        raise ReleaseNotFound(f"no release of {project} is tagged {tag}", details={"tag": tag})
    r = found[0]
    repo = GitRepo.open(root)
    message = repo.git("tag", "-l", "--format=%(contents)", tag)
    changelog = message.split("\n\n", 1)[1] if "\n\n" in message else ""
    service = None if r["service"] == project else r["service"]
    result = run(
        store,
        spec,
        repo.root,
        project=project,
        actor=actor,
        service=service,
        version=r["version"],
        previous=r["previous"],
        tag=tag,
        commit=r["commit"],
        branch=str(event.payload.get("branch") or ""),
        changelog=changelog.strip() + "\n",
        artifacts=[f"{n}@{r['version']}" for n in event.payload.get("artifacts") or []],
    )
    if result is None:
        from shipyard.errors import InputError

        raise InputError(
            "shipyard.yaml configures no release.hooks.after_release",
            'add one, e.g. `release: {hooks: {after_release: "sh scripts/github-release.sh"}}`',
            code="release-hook-missing",
        )
    return result
