"""Who may mint which token: pure decisions of shipyard.domain.access."""

from __future__ import annotations

import pytest

from shipyard.domain.access import Role, covers, grant_refusal, reaches_environment

GRANTS = [
    # (maker role, maker project, new role, new project, allowed)
    (Role.ADMIN, None, Role.ADMIN, None, True),
    (Role.ADMIN, None, Role.VIEWER, "alpha", True),
    (Role.ADMIN, "alpha", Role.ADMIN, "alpha", True),
    (Role.ADMIN, "alpha", Role.VIEWER, "alpha", True),
    (Role.ADMIN, "alpha", Role.ADMIN, None, False),
    (Role.ADMIN, "alpha", Role.VIEWER, "bravo", False),
    (Role.DEPLOYER, None, Role.DEVELOPER, None, True),
    (Role.DEPLOYER, None, Role.ADMIN, None, False),
    (Role.DEVELOPER, None, Role.APPROVER, None, False),  # approving is not a subset of running
    (Role.APPROVER, None, Role.DEVELOPER, None, False),
    (Role.VIEWER, "alpha", Role.VIEWER, "alpha", True),
]


@pytest.mark.parametrize(("role", "project", "new_role", "new_project", "ok"), GRANTS)
def test_a_new_token_is_at_or_below_its_maker(
    role: Role, project: str | None, new_role: Role, new_project: str | None, ok: bool
) -> None:
    """A token may mint only tokens whose grants and project it already has."""
    why = grant_refusal(role, project, new_role, new_project)
    assert (why is None) is ok
    if not ok:
        assert why


@pytest.mark.parametrize(
    ("scope", "project", "ok"),
    [
        (None, "alpha", True),
        (None, None, True),
        ("alpha", "alpha", True),
        ("alpha", "bravo", False),
        ("alpha", None, False),
    ],
)
def test_scope_covers_its_own_project_only(
    scope: str | None, project: str | None, ok: bool
) -> None:
    """A global token reaches everything; a project token only its project, never global ones."""
    assert covers(scope, project) is ok


@pytest.mark.parametrize(
    ("own", "asked", "refused"),
    [
        (None, None, False),
        (None, ["dev"], False),
        (["dev"], ["dev"], False),
        (["dev", "staging"], ["staging"], False),
        (["dev"], None, True),
        (["dev"], ["production"], True),
        (["dev"], ["dev", "production"], True),
    ],
)
def test_a_token_mints_no_token_for_more_environments(
    own: list[str] | None, asked: list[str] | None, refused: bool
) -> None:
    """A token limited to environments creates tokens limited to some of them, never wider."""
    why = grant_refusal(Role.ADMIN, None, Role.VIEWER, None, own, asked)
    assert (why is not None) is refused


@pytest.mark.parametrize(
    ("scope", "env", "reached"),
    [(None, "production", True), (("dev",), "dev", True), (("dev",), "production", False)],
)
def test_a_token_reaches_its_environments(
    scope: tuple[str, ...] | None, env: str, reached: bool
) -> None:
    """No limit reaches every environment; a limit reaches the ones it lists."""
    assert reaches_environment(scope, env) is reached
