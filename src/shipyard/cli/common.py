"""What every command shares: --json, output, opening the project and its store."""

from __future__ import annotations

import json
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


def console() -> Any:
    from rich.console import Console

    return Console(highlight=False)


def settings(root: Path | None = None) -> Any:
    from shipyard.settings import Settings

    return Settings.load(root)


def open_store(root: Path | None = None) -> Any:
    from shipyard.store.uow import Store

    return Store.open(settings(root))
