"""What every command shares: --json, output, opening the project and its store."""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import click
import typer

JSON = typer.Option(False, "--json", help="Machine-readable output, errors included.")
FILE = typer.Option(None, "--file", "-f", help="Path to shipyard.yaml (default: found upwards).")


def json_mode(flag: bool) -> bool:
    ctx = click.get_current_context(silent=True)
    root = ctx.find_root().obj if ctx is not None else None
    return flag or bool(isinstance(root, dict) and root.get("json"))


def emit(data: Any, as_json: bool, human: Callable[[], None] | None = None) -> None:
    if json_mode(as_json):
        sys.stdout.write(json.dumps(data, indent=2, default=str) + "\n")
    elif human is not None:
        human()
    else:
        sys.stdout.write(json.dumps(data, indent=2, default=str) + "\n")


def interactive() -> bool:
    """Whether a person watches standard output in a terminal: then output may fit its width
    and progress may redraw in place. Piped, redirected or in CI (``CI`` set, as CI services
    do), output is plain lines."""
    if os.environ.get("CI", "").lower() not in ("", "0", "false", "no"):
        return False
    try:
        return sys.stdout.isatty()
    except (AttributeError, ValueError):  # replaced or closed
        return False


# Wide enough that Rich never wraps a line or cuts a table cell to fit.
UNBOUNDED = 1 << 20


def console() -> Any:
    """A Rich console for human output. On a terminal it fits the terminal; otherwise lines are
    never wrapped and table cells never cut, whatever COLUMNS says: a pipe or a CI log has no
    width, and a cut value (``hello-src@0.1…``) is lost to whoever reads it."""
    from rich.console import Console

    if interactive():
        return Console(highlight=False)
    return Console(highlight=False, width=UNBOUNDED, soft_wrap=True)


def settings(root: Path | None = None) -> Any:
    from shipyard.settings import Settings

    return Settings.load(root)


def open_store(root: Path | None = None) -> Any:
    from shipyard.store.uow import Store

    return Store.open(settings(root))
