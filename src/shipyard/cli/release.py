"""`shipyard version` and `shipyard release`: versions from conventional commits."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import typer

from shipyard.cli.common import JSON, console, emit, json_mode, open_store

SERVICE = typer.Option(None, "--service", help="A monorepo service: tags S@X.Y.Z, its paths.")
PATHS = typer.Option(
    [], "--path", help="Paths that belong to the service (default: the folder named like it)."
)
BRANCH = typer.Option(None, "--branch", help="The branch HEAD is on (default: checked out).")


def project_context() -> tuple[str, Any, Path]:
    """The project name, its spec (or None without shipyard.yaml) and its root folder."""
    from shipyard.settings import SPEC_NAME, find_project_root

    root = find_project_root()
    if root is None:
        return Path.cwd().name, None, Path.cwd()
    from shipyard.spec.load import load_spec

    spec = load_spec(root / SPEC_NAME)
    return spec.project, spec, root


def version(
    service: str | None = SERVICE,
    path: list[str] = PATHS,
    branch: str | None = BRANCH,
    json_: bool = JSON,
) -> None:
    """Print the next version and the commits that decide it; changes nothing."""
    from shipyard.services.releases import release as svc

    project, spec, _root = project_context()
    if service is None and not path and svc.services_of(spec):
        # A monorepo: one version per service of release.services.
        plans = svc.plan_services(Path.cwd(), project=project, spec=spec, branch=branch)
        every = {"services": {name: p.to_dict() for name, p in plans.items()}}

        def each() -> None:
            c = console()
            for d in every["services"].values():  # each explanation names its service
                for i, line in enumerate(d["explain"]):
                    c.print(line, markup=False, style=None if i else "bold")

        emit(every, json_, each)
        return
    plan = svc.plan(
        Path.cwd(), project=project, spec=spec, service=service, paths=tuple(path), branch=branch
    )
    data = plan.to_dict()

    def human() -> None:
        c = console()
        for i, line in enumerate(data["explain"]):
            c.print(line if i else f"[bold]{line}[/]", markup=i == 0)

    emit(data, json_, human)


def release(
    service: str | None = SERVICE,
    path: list[str] = PATHS,
    branch: str | None = BRANCH,
    artifact: list[str] = typer.Option(
        [], "--artifact", help="NAME=FILE to publish with the release (repeatable)."
    ),
    dry_run: bool = typer.Option(False, "--dry-run", help="Say what would happen; change nothing."),
    no_build: bool = typer.Option(
        False, "--no-build", help="Refuse unless a run of this commit already built it."
    ),
    allow_empty: bool = typer.Option(
        False, "--allow-empty", help="Exit 0 when nothing is releasable (for scheduled jobs)."
    ),
    bump: str | None = typer.Option(
        None,
        "--bump",
        help="major, minor or patch, whatever the commits ask for (needs --reason).",
        metavar="LEVEL",
    ),
    reason: str | None = typer.Option(
        None, "--reason", help="Why --bump overrides the commits; recorded in the release event."
    ),
    push: bool = typer.Option(
        False, "--push", help="Push the release commit and tag (atomically) to the remote."
    ),
    remote: str | None = typer.Option(
        None, "--remote", help="The remote for --push (default: the branch's, else origin)."
    ),
    no_publish: bool = typer.Option(
        False, "--no-publish", help="Record the release; push to no registry of release.publish."
    ),
    json_: bool = JSON,
) -> None:
    """Version, changelog, annotated tag and artifacts of the next release."""
    import sys

    from shipyard.cli.release_common import actor
    from shipyard.services.releases import release as svc

    project, spec, root = project_context()
    extra = [_artifact_arg(a) for a in artifact]
    reporter = None
    if not json_mode(json_):
        from shipyard.cli.pipeline_view import PlainReporter

        reporter = PlainReporter(sys.stderr)  # a build the release starts shows its steps
    from shipyard.errors import ShipyardError

    try:
        data = svc.release(
            open_store(),
            Path.cwd(),
            project=project,
            actor=actor(),
            spec=spec,
            service=service,
            paths=tuple(path),
            branch=branch,
            artifacts=extra,
            dry_run=dry_run,
            project_root=root,
            build=not no_build,
            reporter=reporter,
            bump=_bump_arg(bump),
            reason=reason,
            push=push,
            remote=remote,
            publish=not no_publish,
        )
    except ShipyardError as exc:
        # Recorded, then a push or the hook failed: say what was released before the error.
        if "release" in exc.details and not json_mode(json_):
            _print_release(exc.details["release"])
        raise

    if not data["releasable"]:
        if not allow_empty:
            from shipyard.errors import Refused

            raise Refused(
                data["message"],
                "land a feat:, fix: or breaking commit first, or pass --allow-empty to exit 0",
                code="nothing-to-release",
                details={k: data[k] for k in ("previous", "explain") if k in data},
            )
        if not json_mode(json_):
            console().print(data["message"])
            return
    emit(data, json_, lambda: _print_release(data))


def _print_release(data: Mapping[str, Any]) -> None:
    c = console()
    c.print(f"[bold]{data['message']}[/]")
    for line in data["explain"][1:]:
        c.print(line, markup=False)
    built = data.get("built")
    if built:
        how = "ran the pipeline for this release" if built["ran"] else "found"
        c.print(f"  built by run {built['run_id']} ({how}, commit {built['commit'][:12]})")
    for a in data.get("published", []):
        state = "published" if a["new"] else "already published"
        c.print(f"  {a['name']}@{a['version']} {a['digest']} ({state})")
    verb = "would write the version to" if data["dry_run"] else "version written to"
    for file in data.get("version_files", []):
        c.print(f"  {verb} {file}", markup=False)
    if data.get("remote"):
        done = "pushed" if data.get("pushed") else "would push"
        c.print(f"  {done} the release commit and {data['tag']} to {data['remote']}")
    if data["dry_run"]:
        for planned in data.get("publish", []):
            c.print(f"  would push {planned['artifact']} to {planned['target']}", markup=False)
        if data.get("hook"):
            c.print(f"  would run release.hooks.after_release: {data['hook']}", markup=False)
    for done in data.get("publications", []):
        state = "already there" if done["already"] else "pushed"
        c.print(
            f"  {state}: {done['artifact']} -> {done['target']} {done['location']}", markup=False
        )
    hook = data.get("hook")
    if isinstance(hook, dict):
        c.print(f"  ran release.hooks.after_release ({hook['duration_s']}s)")
    if data["dry_run"] and data.get("changelog"):
        c.print(data["changelog"], markup=False)


def release_hook(
    tag: str = typer.Argument(..., help="The release's tag, e.g. v1.4.0."),
    json_: bool = JSON,
) -> None:
    """Run release.hooks.after_release again for a recorded release (after it failed)."""
    from shipyard.cli.release_common import actor
    from shipyard.services.releases import release_hooks

    project, spec, root = project_context()
    data = release_hooks.rerun(open_store(), spec, root, project=project, actor=actor(), tag=tag)
    emit(data, json_, lambda: console().print(f"ran release.hooks.after_release for {tag}"))


def _bump_arg(value: str | None) -> str | None:
    if value is None:
        return None
    if value.lower() not in ("major", "minor", "patch"):
        from shipyard.errors import InputError

        raise InputError(
            f"--bump {value} is not a level", "use major, minor or patch", code="bump-invalid"
        )
    return value.lower()


def _artifact_arg(value: str) -> tuple[str, Path]:
    from shipyard.errors import InputError

    name, sep, file = value.partition("=")
    if not sep or not name or not file:
        raise InputError(
            f"--artifact '{value}' is not NAME=FILE",
            "e.g. --artifact checkout=dist/checkout.zip",
            code="artifact-arg-invalid",
        )
    return name, Path(file).resolve()
