"""The `shipyard` command. Command groups are imported only when used, so --help stays fast."""

from __future__ import annotations

import importlib
import json
import sys
from typing import Any

import click
import typer.main

from shipyard import __version__

# name -> (module, attribute, one-line help). The help is here so listing commands imports
# nothing else.
COMMANDS: dict[str, tuple[str, str, str]] = {
    "init": (
        "shipyard.cli.project",
        "init",
        "Write a commented shipyard.yaml for this repository.",
    ),
    "validate": (
        "shipyard.cli.project",
        "validate",
        "Check shipyard.yaml and report every problem's position.",
    ),
    "demo": ("shipyard.cli.demo", "demo", "Walk a sample service through Shipyard end to end."),
    "audit": ("shipyard.cli.audit", "app", "Read, verify and prove the tamper-evident event log."),
    "db": ("shipyard.cli.db", "app", "Database migrations."),
    "token": ("shipyard.cli.tokens", "app", "API tokens with roles."),
    "server": ("shipyard.cli.server", "server", "Serve the HTTP API."),
}


class LazyGroup(click.Group):
    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(COMMANDS)

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        entry = COMMANDS.get(cmd_name)
        if entry is None:
            return None
        module, attr, _help = entry
        obj = getattr(importlib.import_module(module), attr)
        if isinstance(obj, typer.Typer):
            command = typer.main.get_command(obj)
        elif isinstance(obj, click.Command):
            command = obj
        else:  # a plain function: wrap it as a one-command Typer
            app = typer.Typer(add_completion=False)
            app.command(name=cmd_name)(obj)
            command = typer.main.get_command(app)
        command.name = cmd_name
        return command

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        rows = [(name, COMMANDS[name][2]) for name in self.list_commands(ctx)]
        with formatter.section("Commands"):
            formatter.write_dl(rows)


@click.group(cls=LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="shipyard")
@click.option("--json", "json_", is_flag=True, help="Machine-readable output, errors included.")
@click.pass_context
def cli(ctx: click.Context, json_: bool) -> None:
    """Shipyard: pipelines, releases, deployments, flags and audit in one control plane."""
    ctx.ensure_object(dict)["json"] = json_


def wants_json(argv: list[str]) -> bool:
    return "--json" in argv


def report_error(exc: Any, as_json: bool) -> int:
    from shipyard.errors import ShipyardError

    assert isinstance(exc, ShipyardError)
    if as_json:
        sys.stdout.write(json.dumps({"error": exc.to_dict()}) + "\n")
    else:
        msg = f"error[{exc.code}]: {exc}"
        if exc.hint:
            msg += f"\n  hint: {exc.hint}"
        sys.stderr.write(msg + "\n")
    return exc.exit_code


def run(argv: list[str] | None = None) -> None:
    from shipyard.errors import ShipyardError

    args = sys.argv[1:] if argv is None else argv
    try:
        cli.main(args=args, prog_name="shipyard", standalone_mode=False)
    except ShipyardError as exc:
        sys.exit(report_error(exc, wants_json(args)))
    except click.exceptions.Abort:
        sys.stderr.write("aborted\n")
        sys.exit(130)
    except click.ClickException as exc:
        if wants_json(args):
            err = {"code": "usage", "message": exc.format_message(), "hint": "see --help"}
            sys.stdout.write(json.dumps({"error": err}) + "\n")
        else:
            exc.show()
        sys.exit(2)
    except KeyboardInterrupt:
        sys.stderr.write("interrupted\n")
        sys.exit(130)
    sys.exit(0)


if __name__ == "__main__":
    run()
