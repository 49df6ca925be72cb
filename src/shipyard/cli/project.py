"""`shipyard init` and `shipyard validate`."""

from __future__ import annotations

from pathlib import Path

import typer

from shipyard.cli.common import FILE, JSON, console, emit


def init(
    directory: Path = typer.Option(Path("."), "--dir", help="Repository to initialise."),
    force: bool = typer.Option(False, "--force", help="Overwrite an existing shipyard.yaml."),
    json_: bool = JSON,
) -> None:
    """Write a commented shipyard.yaml for the repository in DIR."""
    from shipyard.errors import Conflict
    from shipyard.settings import SPEC_NAME
    from shipyard.spec.load import parse_spec
    from shipyard.spec.starter import ecosystem, ignore_state, starter

    target = directory / SPEC_NAME
    if target.exists() and not force:
        raise Conflict(
            f"{target} already exists", "pass --force to overwrite it", code="spec-exists"
        )
    directory.mkdir(parents=True, exist_ok=True)
    text = starter(directory)
    parse_spec(text, str(target))  # the starter must always validate
    target.write_text(text, encoding="utf-8")
    gitignore = ignore_state(directory)
    kind = ecosystem(directory).name
    done = {"written": str(target), "ecosystem": kind, "gitignore": gitignore}

    def human() -> None:
        console().print(f"wrote {target} for a {kind} repository")
        if gitignore != "unchanged":
            console().print(f"{gitignore} {directory / '.gitignore'}: .shipyard/ is not committed")

    emit(done, json_, human)


def validate(file: Path | None = FILE, json_: bool = JSON) -> None:
    """Check shipyard.yaml for everything later commands would refuse; report every problem."""
    from shipyard.spec.load import check_file, find_spec

    path = find_spec(file=file)
    spec = check_file(path)
    summary = {
        "file": str(path),
        "valid": True,
        "project": spec.project,
        "jobs": len(spec.pipeline.jobs),
        "environments": list(spec.environments),
        "flags": len(spec.flags),
    }

    def human() -> None:
        console().print(
            f"[green]ok[/] {path}: project {spec.project}, {summary['jobs']} job(s), "
            f"environments {', '.join(spec.environments) or 'none'}"
        )

    emit(summary, json_, human)


def apply(file: Path | None = FILE, json_: bool = JSON) -> None:
    """Send shipyard.yaml to the server (SHIPYARD_SERVER), checked as `validate` checks it; the
    server serves the project from it from then on. Without a server, into the local store."""
    from shipyard.cli.common import open_store, settings
    from shipyard.spec.load import check_file, find_spec, read_spec

    path = find_spec(file=file)
    spec = check_file(path)  # every problem here first, with line and column
    text = read_spec(path)
    s = settings(path.resolve().parent)
    if s.server_url:
        from shipyard.cli.client import call

        data = call(
            s.server_url,
            s.token,
            "PUT",
            f"/api/v1/projects/{spec.project}/spec",
            json={"yaml": text, "file": path.name},
        )
    else:
        from shipyard.identity import actor
        from shipyard.services import specs

        data = specs.apply(open_store(path.resolve().parent), text, path.name, actor())

    def human() -> None:
        said = "applied" if data["changed"] else "unchanged:"
        console().print(
            f"{said} {data['project']} revision {data['revision']} ({data['digest'][:19]}), "
            f"environments {', '.join(data['environments']) or 'none'}"
        )

    emit(data, json_, human)
