"""The migration lint before a deploy: when the environment names its migration files
(``migrate_files``), the SQL that is new or changed since the live deployment is checked for
destructive statements (``domain.migrations_lint``). A finding refuses the deploy unless the
version is approved for the environment, the environment says ``expand_contract: true``, or the
deployer passes a reason (``--allow-destructive``); the allowance is recorded as an event."""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import TYPE_CHECKING, Any

from shipyard.domain import migrations_lint as ml
from shipyard.errors import NotFound, Refused
from shipyard.store.uow import Store

if TYPE_CHECKING:
    from shipyard.spec.models import Spec


class MigrationDestructive(Refused):
    code = "migration-destructive"
    default_hint = (
        "split it into expand and contract deploys, get the version approved for the "
        "environment, or pass --allow-destructive REASON"
    )


def files_of(pattern: str | None, workdir: Path) -> dict[str, str]:
    """The migration files ``pattern`` matches under ``workdir``, by path, with their digest."""
    if not pattern:
        return {}
    return {
        p.relative_to(workdir).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(workdir.glob(pattern))
        if p.is_file()
    }


def _approved(store: Store, project: str, env: str, version: str) -> str | None:
    """Who approved exactly what is published as ``version`` for ``env``, if anyone did."""
    from shipyard.services.compliance.approvals import for_release
    from shipyard.services.coordination.coordination import find_release

    with store.read() as uow:
        try:
            digest = find_release(uow, project, version).digest
        except NotFound:
            return None
        found = [a for a in for_release(uow, project, env, version) if a.release_digest == digest]
    return found[0].approver if found else None


def check(
    store: Store,
    spec: Spec,
    env: str,
    version: str,
    workdir: Path,
    previous: dict[str, str],
    allow_reason: str | None,
) -> tuple[dict[str, str], dict[str, Any] | None]:
    """Lint the migration files new or changed since ``previous`` (path -> digest).

    Returns the files to record with the deployment and, when destructive statements are
    allowed, what allowed them (for the ``migration.destructive-allowed`` event). Raises
    ``MigrationDestructive`` when nothing allows them.
    """
    e = spec.environments[env]
    if not e.migrate or not e.migrate_files:
        return {}, None
    files = files_of(e.migrate_files, workdir)
    findings: list[ml.Finding] = []
    for name, digest in files.items():
        if previous.get(name) != digest:
            text = (workdir / name).read_text(encoding="utf-8", errors="replace")
            findings.extend(ml.lint_file(name, text))
    if not findings:
        return files, None
    listed = [f.to_dict() for f in findings]
    if e.expand_contract:
        by, reason = "expand_contract", f"environments.{env}.expand_contract is true"
    elif allow_reason and allow_reason.strip():
        by, reason = "allow-destructive", allow_reason.strip()
    else:
        approver = _approved(store, spec.project, env, version)
        if approver is None:
            raise MigrationDestructive(
                f"the migration for {version} in {env} has {len(findings)} destructive "
                "statement(s):\n" + ml.summary(findings),
                details={"environment": env, "version": version, "statements": listed},
            )
        by, reason = "approval", f"{version} approved for {env} by {approver}"
    return files, {
        "environment": env,
        "version": version,
        "allowed_by": by,
        "reason": reason,
        "statements": listed,
    }
