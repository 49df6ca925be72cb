"""Roles and what each may do. Approving is not deploying: separation of duties starts here."""

from __future__ import annotations

from collections.abc import Collection
from datetime import datetime
from enum import StrEnum


class Role(StrEnum):
    VIEWER = "viewer"
    DEVELOPER = "developer"
    DEPLOYER = "deployer"
    APPROVER = "approver"
    ADMIN = "admin"


class Permission(StrEnum):
    READ = "read"
    RUN = "run"  # pipelines, artifacts
    FLAGS = "flags"  # change feature flags
    DEPLOY = "deploy"  # deploy, promote, roll back, lock
    APPROVE = "approve"  # approvals and gate overrides
    ADMIN = "admin"  # tokens, checkpoints, freezes, settings


GRANTS: dict[Role, frozenset[Permission]] = {
    Role.VIEWER: frozenset({Permission.READ}),
    Role.DEVELOPER: frozenset({Permission.READ, Permission.RUN, Permission.FLAGS}),
    Role.DEPLOYER: frozenset(
        {Permission.READ, Permission.RUN, Permission.FLAGS, Permission.DEPLOY}
    ),
    Role.APPROVER: frozenset({Permission.READ, Permission.APPROVE}),
    Role.ADMIN: frozenset(Permission),
}


def allowed(role: Role, permission: Permission) -> bool:
    return permission in GRANTS[role]


def covers(scope: str | None, project: str | None) -> bool:
    """Whether a token scoped to ``scope`` (None: every project) reaches ``project``; a global
    resource (``project`` None) is reached only by a global token."""
    return scope is None or scope == project


def reaches_environment(scope: Collection[str] | None, environment: str) -> bool:
    """Whether a token limited to environments ``scope`` (None: every one) reaches one."""
    return scope is None or environment in scope


def grant_refusal(
    own_role: Role,
    own_project: str | None,
    role: Role,
    project: str | None,
    own_environments: Collection[str] | None = None,
    environments: Collection[str] | None = None,
) -> str | None:
    """Why a token may not mint a token of ``role`` for ``project`` (and ``environments``), or
    None when it may: a new token is at or below its maker, in role (a subset of its grants),
    in project and in environments."""
    if not GRANTS[role] <= GRANTS[own_role]:
        return f"role '{own_role}' may not create a token with role '{role}'"
    if not covers(own_project, project):
        where = f"project '{project}'" if project is not None else "every project"
        return f"a token limited to project '{own_project}' may not create a token for {where}"
    if own_environments is not None:
        if environments is None:
            return (
                f"a token limited to environments {', '.join(sorted(own_environments))} may not "
                "create a token for every environment"
            )
        beyond = sorted(set(environments) - set(own_environments))
        if beyond:
            return (
                f"a token limited to environments {', '.join(sorted(own_environments))} may not "
                f"create a token for {', '.join(beyond)}"
            )
    return None


def token_usable(
    expires_at: datetime | None, revoked_at: datetime | None, now: datetime
) -> str | None:
    """Why a token cannot be used now, or None when it can."""
    if revoked_at is not None and revoked_at <= now:
        return "revoked"
    if expires_at is not None and expires_at <= now:
        return "expired"
    return None
