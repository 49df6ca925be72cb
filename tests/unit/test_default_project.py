"""Which project a request that may name none is about: pure decisions of
shipyard.domain.projects."""

from __future__ import annotations

import pytest

from shipyard.domain.projects import choose_project, default_project
from shipyard.errors import Forbidden, InputError

CASES = [
    # (asked, token's project, projects the server holds, chosen or the error's code)
    ("shop", None, [], "shop"),
    ("shop", None, ["shop", "web"], "shop"),
    ("web", None, ["shop"], "web"),  # asked for: whether it exists is the route's to say
    (None, "shop", [], "shop"),
    (None, "shop", ["shop", "web"], "shop"),
    (None, "shop", ["web"], "shop"),  # a project-bound token means its own project
    ("shop", "shop", ["shop", "web"], "shop"),
    ("web", "shop", ["shop", "web"], "forbidden"),
    (None, None, ["shop"], "shop"),  # the only project the server holds
    (None, None, [], "project-required"),
    (None, None, ["shop", "web"], "project-required"),
    ("", None, ["shop"], "shop"),  # an empty ?project= names none
]


@pytest.mark.parametrize(("asked", "token", "held", "expected"), CASES)
def test_a_request_is_about_the_project_asked_for_the_tokens_or_the_only_one(
    asked: str | None, token: str | None, held: list[str], expected: str
) -> None:
    """The project asked for wins, then the token's own, then the server's only project; a
    server holding none or several asks which, and a token never reaches past its own."""
    if expected in ("forbidden", "project-required"):
        with pytest.raises((Forbidden, InputError)) as caught:
            choose_project(asked, token, held)
        assert caught.value.code == expected
        if expected == "project-required":
            assert default_project(asked, token, held) is None
    else:
        assert choose_project(asked, token, held) == expected
        assert default_project(asked, token, held) == expected
