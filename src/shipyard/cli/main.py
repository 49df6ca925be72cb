"""The `shipyard` command. Command groups are imported only when used, so --help stays fast."""

from __future__ import annotations

import importlib
import json
import sys
from typing import Any

import click
import typer
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
    "metrics": ("shipyard.cli.metrics", "app", "DORA four keys, build figures, slow-build cost."),
    "incident": ("shipyard.cli.incident", "app", "Open and resolve incidents against deployments."),
    "version": ("shipyard.cli.release", "version", "Print the next version and why; no changes."),
    "release": ("shipyard.cli.release", "release", "Changelog, tag and artifacts of a release."),
    "artifacts": ("shipyard.cli.artifacts", "app", "Publish, list, download and verify artifacts."),
    "run": ("shipyard.cli.pipeline", "run", "Run the pipeline; unchanged steps come from cache."),
    "runs": ("shipyard.cli.pipeline", "runs", "List pipeline runs, or `runs show RUN`."),
    "logs": ("shipyard.cli.pipeline", "logs", "Print a job's step logs from a run."),
    "why": ("shipyard.cli.pipeline", "why", "Say why a job's step missed the cache."),
    "cache": ("shipyard.cli.pipeline", "cache", "Step cache statistics and eviction."),
    "freeze": ("shipyard.cli.freeze", "app", "Deploy freeze windows: list, add, remove, status."),
    "calendar": ("shipyard.cli.freeze", "calendar", "Trains and freezes as an iCalendar file."),
    "train": ("shipyard.cli.train", "app", "Release trains: status, cut, ship and pick."),
    "hotfix": ("shipyard.cli.hotfix", "app", "Hotfixes: branch from a release tag, patch it."),
    "gates": ("shipyard.cli.gates", "gates", "Each gate's verdict for a deploy, and why."),
    "approve": ("shipyard.cli.gates", "approve", "Approve a version for an environment."),
    "lock": ("shipyard.cli.gates", "lock", "Hold an environment's deploy lock."),
    "unlock": ("shipyard.cli.gates", "unlock", "Release an environment's deploy lock."),
    "breakglass": ("shipyard.cli.breakglass", "app", "Emergency gate overrides, second-approved."),
    "break-glass": ("shipyard.cli.breakglass", "app", "Same as `breakglass`."),
    "vuln": ("shipyard.cli.vulns", "app", "OSV advisories for the vulnerabilities gate."),
    "vulns": ("shipyard.cli.vulns", "app", "Same as `vuln`."),
    "notify": ("shipyard.cli.notify", "app", "Deliver events to webhooks and Slack."),
    "status-page": ("shipyard.cli.notify", "status", "Live versions, freezes, locks, the train."),
    "deploy": ("shipyard.cli.deploy", "deploy", "Roll a version out to an environment."),
    "env": ("shipyard.cli.deploy", "env_app", "What runs where: versions, phases, weights."),
    "rollout": ("shipyard.cli.deploy", "rollout", "Rollout status, promote, pause, resume, abort."),
    "rollback": ("shipyard.cli.deploy", "rollback", "Go straight back to an earlier version."),
    "flags": ("shipyard.cli.flags", "app", "Feature flags per environment, Unleash-compatible."),
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
        sys.stdout.write(json.dumps({"error": exc.to_dict()}, default=str) + "\n")
    else:
        problems = getattr(exc, "problems", None) or [exc]  # a file's problems, all at once
        for one in problems:
            msg = f"error[{one.code}]: {one}"
            if one.hint:
                msg += f"\n  hint: {one.hint}"
            sys.stderr.write(msg + "\n")
        if len(problems) > 1:
            sys.stderr.write(f"{len(problems)} problems in {getattr(exc, 'file', '')}\n")
    return exc.exit_code


def _click_classes() -> tuple[tuple[type[Exception], ...], tuple[type[BaseException], ...]]:
    """Usage-error and abort classes: click's, and those of the copy of click newer Typer
    releases carry inside them (commands built by Typer raise those)."""
    usage: list[type[Exception]] = [click.ClickException]
    try:
        from typer._click.exceptions import ClickException as VendoredClickException
    except ImportError:
        pass
    else:
        usage.append(VendoredClickException)
    return tuple(usage), (click.exceptions.Abort, typer.Abort)


def run(argv: list[str] | None = None) -> None:
    from shipyard.errors import ShipyardError

    args = sys.argv[1:] if argv is None else argv
    usage_errors, aborts = _click_classes()
    try:
        cli.main(args=args, prog_name="shipyard", standalone_mode=False)
    except ShipyardError as exc:
        sys.exit(report_error(exc, wants_json(args)))
    except (click.exceptions.Exit, typer.Exit) as exc:
        sys.exit(exc.exit_code)
    except aborts:
        sys.stderr.write("aborted\n")
        sys.exit(130)
    except usage_errors as exc:
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
