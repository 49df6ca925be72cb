"""Approvals bound to a release's digest, with separation of duties."""

from __future__ import annotations

import secrets
from datetime import datetime
from typing import TYPE_CHECKING, Any, TypedDict

from sqlalchemy import select

from shipyard.errors import Conflict, Refused
from shipyard.services.coordination.coordination import environment, find_release, iso, parse_ts
from shipyard.store.release import release_approvals
from shipyard.store.uow import Store, UnitOfWork

if TYPE_CHECKING:
    from shipyard.spec.models import Spec


class ApprovalOut(TypedDict):
    """An approval of the release published as ``version``, for ``environment``."""

    id: str
    environment: str
    version: str
    release_digest: str
    revision: str | None  # the release's commit
    approver: str
    comment: str
    created_at: str


def approve(
    store: Store,
    spec: Spec,
    env: str,
    version: str,
    approver: str,
    now: datetime,
    comment: str = "",
) -> ApprovalOut:
    """Record an approval of exactly what is published as ``version`` now.

    A later republish changes the digest, and the approval stops counting.
    """
    environment(spec, env)
    with store.begin() as uow:
        release = find_release(uow, spec.project, version)
        if approver in release.authors:
            raise Refused(
                f"{approver} {release.roles.get(approver, 'made')} and cannot approve it",
                "separation of duties: whoever wrote, built, released or deployed a version does "
                "not approve it; ask someone else",
                code="self-approval",
                details={"approver": approver, "role": release.roles.get(approver)},
            )
        dup = uow.conn.execute(
            select(release_approvals.c.id).where(
                release_approvals.c.project == spec.project,
                release_approvals.c.environment == env,
                release_approvals.c.version == version,
                release_approvals.c.release_digest == release.digest,
                release_approvals.c.approver == approver,
            )
        ).first()
        if dup is not None:
            raise Conflict(
                f"{approver} already approved {version} ({release.digest}) for {env}",
                "one approval per person counts once",
                code="already-approved",
            )
        approval_id = secrets.token_hex(8)
        approval: ApprovalOut = {
            "id": approval_id,
            "environment": env,
            "version": version,
            "release_digest": release.digest,
            "revision": release.commit,
            "approver": approver,
            "comment": comment,
            "created_at": iso(now),
        }
        uow.conn.execute(release_approvals.insert(), {**approval, "project": spec.project})
        uow.events.append(
            "approval.granted",
            f"approval:{approval_id}",
            approver,
            {
                "environment": env,
                "version": version,
                "digest": release.digest,
                "comment": comment,
            },
            project=spec.project,
        )
    return approval


def for_release(uow: UnitOfWork, project: str, env: str, version: str) -> list[Any]:
    from shipyard.domain.gates import Approval

    rows = uow.conn.execute(
        select(release_approvals).where(
            release_approvals.c.project == project,
            release_approvals.c.environment == env,
            release_approvals.c.version == version,
        )
    ).all()
    return [
        Approval(
            approver=r.approver,
            release_digest=r.release_digest,
            at=parse_ts(r.created_at),  # type: ignore[arg-type]
            revision=r.revision,
            comment=r.comment,
        )
        for r in rows
    ]
