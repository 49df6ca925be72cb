"""Errors raised outside Shipyard's own code, in Shipyard's one error format.

Click and Typer report a bad command line their own way (a usage line, then `Error: ...`).
Here each becomes a ShipyardError with the stable code `usage` (exit 2), the parser's message
and a hint naming the help to read; a mistyped command or option gets the closest valid names
(difflib, as git does). An exception nobody expected keeps its traceback on standard error and
ends with an `internal-error` line, so the last line of a failure always has one form.
"""

from __future__ import annotations

import difflib
import re
import sys
from collections.abc import Mapping
from typing import Any

from shipyard.errors import InputError, ShipyardError


class UsageFailed(InputError):
    code = "usage"


class InternalError(ShipyardError):
    code = "internal-error"
    default_hint = "this is a defect in Shipyard: please report it with the traceback above"


_UNKNOWN_COMMAND = re.compile(r"^No such command (['\"])(?P<name>.*?)\1\.")


def _classes(name: str) -> tuple[type[BaseException], ...]:
    """Click's exception class ``name``, and Typer's of that name: its own (``typer.Exit``) and
    those of the copy of click newer Typer releases carry, which commands built by Typer raise.
    Typer's count only once it is loaded: before that, nothing could have raised them."""
    import click.exceptions

    found: list[type[BaseException]] = [getattr(click.exceptions, name)]
    for module in ("typer.exceptions", "typer._click.exceptions"):
        loaded = sys.modules.get(module)
        if loaded is not None and hasattr(loaded, name):
            found.append(getattr(loaded, name))
    return tuple(found)


def shows_help(exc: BaseException) -> bool:
    """Whether ``exc`` carries a help text to print (a group called without a command)."""
    return type(exc).__name__ == "NoArgsIsHelpError"


def translate(
    exc: BaseException, commands: Mapping[str, object], aliases: Mapping[str, str]
) -> ShipyardError | int:
    """The error to report for ``exc``, or the exit status when there is nothing to report."""
    if isinstance(exc, _classes("Exit")):
        return int(getattr(exc, "exit_code", 0) or 0)
    if isinstance(exc, _classes("Abort")):
        sys.stderr.write("aborted\n")
        return 130
    if isinstance(exc, _classes("UsageError")):
        return _usage(exc, commands, aliases)
    if isinstance(exc, _classes("ClickException")):  # e.g. a file click could not open
        return ShipyardError(exc.format_message(), code="command-failed")  # type: ignore[attr-defined]
    import traceback

    traceback.print_exception(exc)
    return InternalError(f"unexpected {type(exc).__name__}: {exc}")


def _usage(exc: Any, commands: Mapping[str, object], aliases: Mapping[str, str]) -> UsageFailed:
    ctx = exc.ctx
    path = ctx.command_path if ctx is not None else "shipyard"
    see = f"see `{path} --help`"
    if shows_help(exc):  # the help it carries is printed above this error
        if hasattr(ctx.command, "list_commands"):
            return UsageFailed(f"`{path}` needs a command", "pick one of the commands above")
        return UsageFailed(f"`{path}` needs arguments", see)
    unknown = _UNKNOWN_COMMAND.match(exc.message)
    if unknown is not None:
        typed = unknown["name"]
        names = _command_names(ctx, commands, aliases, with_aliases=True)
        close = difflib.get_close_matches(typed, names, n=3, cutoff=0.7)
        # An alias that matches stands for its command.
        close = list(dict.fromkeys(aliases.get(c, c) if ctx.parent is None else c for c in close))
        if close:
            hint = "did you mean " + " or ".join(f"`{path} {c}`" for c in close) + f"? {see}"
        else:
            hint = f"{see} for the commands"
        return UsageFailed(f"no such command {typed!r}", hint)
    possibilities = getattr(exc, "possibilities", None)
    if getattr(exc, "option_name", None) is not None and possibilities is not None:
        # An unknown option: click's own message, without the list it appends to it.
        close = sorted(possibilities)
        hint = ("did you mean " + " or ".join(close) + f"? {see}") if close else see
        return UsageFailed(_sentence(exc.message), hint)
    usage = ctx.get_usage().removeprefix("Usage: ").strip() if ctx is not None else ""
    hint = f"usage: {usage}; {see}" if usage else see
    return UsageFailed(_sentence(exc.format_message()), hint)


def _sentence(message: str) -> str:
    """Click's message worded as Shipyard's are: lower-case first letter, no final full stop."""
    message = message.strip().removesuffix(".")
    return message[:1].lower() + message[1:]


def _command_names(
    ctx: Any, commands: Mapping[str, object], aliases: Mapping[str, str], with_aliases: bool = False
) -> list[str]:
    """The commands a group offers: the top level's from its table, a Typer group's unhidden."""
    if ctx is None:
        return []
    if ctx.parent is None:
        return [*commands, *aliases] if with_aliases else list(commands)
    group = ctx.command
    if not hasattr(group, "list_commands"):
        return []
    names = []
    for name in group.list_commands(ctx):
        command = group.get_command(ctx, name)
        if command is not None and not getattr(command, "hidden", False):
            names.append(name)
    return names
