"""`shipyard hotfix`: a patch release from a release tag, outside the train."""

from __future__ import annotations

from pathlib import Path

import typer

from shipyard.cli.common import FILE, JSON, console, emit, open_store
from shipyard.cli.release_common import actor, root, spec

app = typer.Typer(help="Hotfixes from a release tag.", add_completion=False, no_args_is_help=True)


@app.command()
def start(
    version: str = typer.Argument(..., help="The released version to fix, e.g. 1.4.2."),
    no_checkout: bool = typer.Option(
        False, "--no-checkout", help="Create the branch without checking it out."
    ),
    file: Path | None = FILE,
    json_: bool = JSON,
) -> None:
    """Create hotfix/VERSION at the release tag and record hotfix.started.

    The production deployment live now is recorded as the one the hotfix repairs.
    """
    from datetime import UTC, datetime

    from shipyard.services.coordination import hotfix

    data = hotfix.start(
        open_store(),
        spec(file),
        root(file),
        version,
        actor(),
        datetime.now(UTC),
        checkout=not no_checkout,
    )
    live = data["deployment_id"] or "nothing live"
    emit(
        data,
        json_,
        lambda: console().print(
            f"started {data['branch']} at {data['tag']} ({data['commit'][:12]}); "
            f"repairs {data['environment']}: {live}"
        ),
    )


@app.command()
def finish(
    version: str | None = typer.Argument(
        None, help="The version the hotfix fixes (default: the checked-out hotfix branch)."
    ),
    artifact: list[str] = typer.Option([], "--artifact", help="NAME=FILE to publish with it."),
    file: Path | None = FILE,
    json_: bool = JSON,
) -> None:
    """Release the next patch version from the hotfix branch and record hotfix.finished."""
    from datetime import UTC, datetime

    from shipyard.errors import InputError
    from shipyard.services.coordination import hotfix

    pairs = []
    for a in artifact:
        name, sep, path = a.partition("=")
        if not sep or not name or not path:
            raise InputError(f"--artifact {a!r} is not NAME=FILE", code="usage")
        pairs.append((name, Path(path)))
    data = hotfix.finish(
        open_store(),
        spec(file),
        root(file),
        actor(),
        datetime.now(UTC),
        version=version,
        artifacts=pairs,
    )
    emit(
        data,
        json_,
        lambda: console().print(f"released {data['tag']} from {data['branch']}"),
    )
