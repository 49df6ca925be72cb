"""The `shipyard` command. Command groups are imported only when used, so --help stays fast:
listing commands imports click and nothing else (not Typer, not a command module)."""

from __future__ import annotations

import importlib
import sys
from typing import Any

import click

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
    "db": ("shipyard.cli.db", "app", "Database migrations, backup and restore."),
    "token": ("shipyard.cli.tokens", "app", "API tokens with roles."),
    "server": ("shipyard.cli.server", "server", "Serve the HTTP API."),
    "key": ("shipyard.cli.keys", "app", "The signing key shared by replicas and workers."),
    "metrics": ("shipyard.cli.metrics", "app", "DORA four keys, build figures, slow-build cost."),
    "incident": ("shipyard.cli.incident", "app", "Open and resolve incidents against deployments."),
    "version": ("shipyard.cli.release", "version", "Print the next version and why; no changes."),
    "release": ("shipyard.cli.release", "release", "Changelog, tag and artifacts of a release."),
    "release-hook": (
        "shipyard.cli.release",
        "release_hook",
        "Run release.hooks.after_release again for a release.",
    ),
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
    "vuln": ("shipyard.cli.vulns", "app", "OSV advisories for the vulnerabilities gate."),
    "notify": ("shipyard.cli.notify", "app", "Deliver events to webhooks and Slack."),
    "status-page": ("shipyard.cli.notify", "status", "Live versions, freezes, locks, the train."),
    "deploy": ("shipyard.cli.deploy", "deploy", "Roll a version out to an environment."),
    "env": ("shipyard.cli.deploy", "env_app", "What runs where: versions, phases, weights."),
    "rollout": ("shipyard.cli.deploy", "rollout", "Rollout status, promote, pause, resume, abort."),
    "rollback": ("shipyard.cli.deploy", "rollback", "Go straight back to an earlier version."),
    "deployments": ("shipyard.cli.deploy", "deployments", "Deployment history and results."),
    "flags": ("shipyard.cli.flags", "app", "Feature flags per environment, Unleash-compatible."),
}


# Other spellings that work but are not listed: alias -> command.
ALIASES: dict[str, str] = {"break-glass": "breakglass", "vulns": "vuln"}

# The sections of `shipyard --help`, in order. A command in none is listed under "Other".
SECTIONS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("Getting started", ("init", "validate", "demo")),
    ("Pipelines", ("run", "runs", "logs", "why", "cache")),
    ("Releases", ("version", "release", "release-hook", "artifacts", "hotfix")),
    ("Deployments", ("deploy", "env", "rollout", "rollback", "deployments")),
    ("Flags", ("flags",)),
    (
        "Coordination",
        (
            "train",
            "freeze",
            "calendar",
            "gates",
            "approve",
            "lock",
            "unlock",
            "breakglass",
            "vuln",
            "notify",
            "status-page",
        ),
    ),
    ("Audit and metrics", ("audit", "metrics", "incident")),
    ("Server", ("server", "token", "key", "db")),
)


def sections() -> list[tuple[str, list[str]]]:
    """Each help section with its commands; commands in no section come last, under Other."""
    placed = {name for _title, names in SECTIONS for name in names}
    out = [(title, [n for n in names if n in COMMANDS]) for title, names in SECTIONS]
    other = sorted(n for n in COMMANDS if n not in placed)
    return [(t, names) for t, names in out if names] + ([("Other", other)] if other else [])


class LazyGroup(click.Group):
    def list_commands(self, ctx: click.Context) -> list[str]:
        return [name for _title, names in sections() for name in names]

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        entry = COMMANDS.get(ALIASES.get(cmd_name, cmd_name))
        if entry is None:
            return None
        import typer
        import typer.main

        module, attr, _help = entry
        obj = getattr(importlib.import_module(module), attr)
        command: Any  # click's Command, or that of the copy of click Typer carries
        if isinstance(obj, typer.Typer):
            command = typer.main.get_command(obj)
        elif isinstance(obj, click.Command):
            command = obj
        else:  # a plain function: wrap it as a one-command Typer
            app = typer.Typer(add_completion=False)
            app.command(name=cmd_name)(obj)
            command = typer.main.get_command(app)
        command.name = cmd_name
        return command  # type: ignore[no-any-return]

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        width = max(map(len, COMMANDS))  # one column for every section
        for title, names in sections():
            with formatter.section(title):
                formatter.write_dl([(name.ljust(width), COMMANDS[name][2]) for name in names])


@click.group(
    cls=LazyGroup,
    context_settings={"help_option_names": ["-h", "--help"]},
    epilog="`shipyard COMMAND --help` shows a command's options.",
)
@click.version_option(__version__, prog_name="shipyard")
@click.option("--json", "json_", is_flag=True, help="Machine-readable output, errors included.")
@click.pass_context
def cli(ctx: click.Context, json_: bool) -> None:
    """Pipelines, releases, deployments, flags and audit in one control plane."""
    ctx.ensure_object(dict)["json"] = json_


def wants_json(argv: list[str]) -> bool:
    return "--json" in argv


def report_error(exc: Any, as_json: bool) -> int:
    """Print ``exc`` (a ShipyardError) the one way every error is printed; its exit status."""
    from shipyard.errors import ShipyardError

    assert isinstance(exc, ShipyardError)
    if as_json:
        import json

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


def run(argv: list[str] | None = None) -> None:
    from shipyard.errors import ShipyardError

    args = sys.argv[1:] if argv is None else argv
    try:
        cli.main(args=args, prog_name="shipyard", standalone_mode=False)
    except ShipyardError as exc:
        sys.exit(report_error(exc, wants_json(args)))
    except KeyboardInterrupt:
        sys.stderr.write("interrupted\n")
        sys.exit(130)
    except Exception as exc:
        from shipyard.cli import usage

        translated = usage.translate(exc, COMMANDS, ALIASES)
        if translated is None:
            raise
        if isinstance(translated, int):
            sys.exit(translated)
        if usage.shows_help(exc) and not wants_json(args):
            exc.show()  # type: ignore[attr-defined]
        sys.exit(report_error(translated, wants_json(args)))
    sys.exit(0)


if __name__ == "__main__":
    run()
