"""`shipyard token`: API tokens with roles."""

from __future__ import annotations

import typer

from shipyard.cli.common import JSON, console, emit, open_store
from shipyard.identity import actor

app = typer.Typer(help="API tokens with roles.", add_completion=False, no_args_is_help=True)


@app.command()
def create(
    role: str = typer.Option(..., help="viewer, developer, deployer, approver or admin."),
    name: str = typer.Option("cli", help="What the token is for."),
    project: str | None = typer.Option(None, help="Limit the token to one project."),
    env: list[str] = typer.Option(
        [], "--env", help="Limit the token to this environment (repeat for more)."
    ),
    expires: str | None = typer.Option(None, help="Lifetime, e.g. 30d or 12h."),
    json_: bool = JSON,
) -> None:
    """Create a token; its secret is shown once and stored only hashed."""
    from shipyard.domain.calendar import parse_duration
    from shipyard.services import tokens

    life = parse_duration(expires) if expires else None
    data = tokens.create(
        open_store(),
        role,
        name,
        project=project,
        expires_in=life,
        actor=actor(),
        environments=env or None,
    )

    def human() -> None:
        c = console()
        c.print(f"token {data['id']} ({data['role']}) created; copy it now, it is not shown again:")
        print(data["token"])

    emit(data, json_, human)


@app.command("list")
def list_(json_: bool = JSON) -> None:
    """List tokens, API and flag client tokens (never their secrets)."""
    from shipyard.services import tokens

    rows = tokens.list_tokens(open_store())

    def human() -> None:
        from rich.table import Table

        t = Table("id", "name", "role", "project", "environments", "expires", "revoked", box=None)
        for r in rows:
            t.add_row(
                r["id"],
                r["name"],
                r["role"],
                r["project"] or "*",
                r.get("environment") or ", ".join(r.get("environments") or []) or "*",
                r["expires_at"] or "-",
                r["revoked_at"] or "-",
            )
        console().print(t)

    emit({"tokens": rows}, json_, human)


@app.command()
def revoke(token_id: str = typer.Argument(..., help="The token's id."), json_: bool = JSON) -> None:
    """Revoke a token (API or flag client token) at once."""
    from shipyard.services import tokens

    data = tokens.revoke(open_store(), token_id, actor=actor())
    emit(data, json_, lambda: console().print(f"token {token_id} revoked"))
