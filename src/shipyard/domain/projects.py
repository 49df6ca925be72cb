"""Which project a request is about, when it may name none.

A server holds any number of projects and never guesses one from where it runs: a request
names its project, or its token is limited to one, or the server holds exactly one.
"""

from __future__ import annotations

from collections.abc import Sequence

from shipyard.errors import Forbidden, InputError


def default_project(asked: str | None, token: str | None, held: Sequence[str]) -> str | None:
    """The project asked for, else the token's own, else the one the server holds (if only
    one); None when that leaves it open."""
    if asked:
        return asked
    if token is not None:
        return token
    return held[0] if len(held) == 1 else None


def choose_project(asked: str | None, token: str | None, held: Sequence[str]) -> str:
    """`default_project`, refusing an open choice and a project beyond the token's own."""
    chosen = default_project(asked, token, held)
    if chosen is None:
        raise InputError(
            f"which project? this token is not limited to one and the server holds {len(held)}",
            "pass ?project=NAME",
            code="project-required",
        )
    if token is not None and chosen != token:
        raise Forbidden(
            f"this token is limited to project '{token}'", "use a token for this project"
        )
    return chosen
