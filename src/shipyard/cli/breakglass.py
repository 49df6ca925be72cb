"""`shipyard breakglass`: a recorded, second-person-approved, time-boxed gate override.

``shipyard breakglass request --reason ... --incident ...`` asks for one (for the end of the
promotion chain unless an environment is named); ``break-glass`` is the same group, and
``break-glass ENV --reason ...`` is short for ``break-glass request ENV ...``.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import typer
import typer.core

from shipyard.cli.common import FILE, JSON, console, emit, open_store
from shipyard.cli.release_common import actor, remote, spec, ttl


class _DefaultRequest(typer.core.TyperGroup):
    """Treat an unknown first word as the environment of a request."""

    # ctx and the command are click's, or those of the copy of click newer Typer releases carry.
    def resolve_command(self, ctx: Any, args: list[str]) -> tuple[str | None, Any, list[str]]:
        if args and args[0] not in self.commands and not args[0].startswith("-"):
            args = ["request", *args]
        return super().resolve_command(ctx, args)


app = typer.Typer(
    cls=_DefaultRequest,
    help="Emergency overrides of gates, approved by a second person.",
    add_completion=False,
    no_args_is_help=True,
)


def _show(data: Mapping[str, Any]) -> None:
    c = console()
    state = (
        f"approved by {data['approved_by']}, expires {data['expires_at']}"
        if data["approved_by"]
        else "waiting for a second person's approval"
    )
    c.print(
        f"{data['id']}: {data['environment']} gates {', '.join(data['gates'])} "
        f"requested by {data['requested_by']} ({state})"
    )


@app.command()
def request(
    env: str | None = typer.Argument(
        None, help="The environment (default: the end of the promotion chain, e.g. production)."
    ),
    reason: str = typer.Option(..., help="Why the emergency path is needed."),
    incident: str | None = typer.Option(None, help="The incident this fixes, e.g. INC-42."),
    gates: str = typer.Option(
        "freeze", help="Gates to override, comma-separated: freeze,approval."
    ),
    ttl_: str = typer.Option("1h", "--ttl", help="How long the grant lasts once approved."),
    file: Path | None = FILE,
    json_: bool = JSON,
) -> None:
    """Request an override; it applies only after someone else approves it."""
    from datetime import UTC, datetime

    from shipyard.services.coordination import breakglass

    names = [g for g in gates.split(",") if g.strip()]
    body = {"environment": env, "reason": reason, "gates": names, "ttl": ttl_, "incident": incident}
    data = remote("POST", "/break-glass", json=body)
    if data is None:
        data = breakglass.request(
            open_store(),
            spec(file),
            env,
            reason,
            names,
            ttl(ttl_),
            actor(),
            datetime.now(UTC),
            incident,
        )
    emit(data, json_, lambda: _show(data))


@app.command()
def approve(
    override_id: str = typer.Argument(..., help="The request's id (bg-...)."),
    file: Path | None = FILE,
    json_: bool = JSON,
) -> None:
    """Approve someone else's request; its time box starts now."""
    from datetime import UTC, datetime

    from shipyard.services.coordination import breakglass

    data = remote("POST", f"/break-glass/{override_id}/approve")
    if data is None:
        data = breakglass.approve(open_store(), spec(file), override_id, actor(), datetime.now(UTC))
    emit(data, json_, lambda: _show(data))


@app.command()
def review(
    override_id: str = typer.Argument(..., help="The request's id (bg-...)."),
    notes: str = typer.Option(..., help="What happened and what follows."),
    file: Path | None = FILE,
    json_: bool = JSON,
) -> None:
    """Close the follow-up review an approved break-glass opens."""
    from shipyard.services.coordination import breakglass

    data = remote("POST", f"/break-glass/{override_id}/review", json={"notes": notes})
    if data is None:
        data = breakglass.review(open_store(), spec(file), override_id, actor(), notes)
    emit(data, json_, lambda: console().print(f"{override_id} reviewed"))


@app.command("list")
def list_(file: Path | None = FILE, json_: bool = JSON) -> None:
    """Every request, approved or not."""
    from shipyard.services.coordination import breakglass

    data = remote("GET", "/break-glass")
    if data is None:
        data = {"overrides": breakglass.list_overrides(open_store(), spec(file).project)}

    def human() -> None:
        for o in data["overrides"]:
            _show(o)

    emit(data, json_, human)
