"""Change requests: flag changes in a protected environment need approvals first.

``protect`` makes an environment require N approvals; from then on direct changes there are
refused (``flags.guard``) and a change is ``propose``d, ``approve``d by N actors other than
its proposer, and ``apply``'d, at once or, when the request names a time, by the server's
loop (or ``shipyard flags apply-schedules``) when it is due. Every step is an event in the
same transaction as the request row; applying commits the flag change, its
``flag.changed``, ``flag.change-applied`` and the request's status together, after a claim
on the row, so two appliers apply it once. Decisions are in ``domain.flag_requests``.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any, NotRequired, TypedDict

from shipyard.domain import flag_requests as rules
from shipyard.domain import flag_schedules as times
from shipyard.errors import Conflict, Forbidden, InputError, NotFound, ShipyardError
from shipyard.services.flags import flags
from shipyard.store import flag_requests as repo
from shipyard.store import flags as flag_repo
from shipyard.store.uow import Store, UnitOfWork

log = logging.getLogger(__name__)


class RequestNotFound(NotFound):
    code = "flag-request-not-found"
    default_hint = "list them with `shipyard flags request list`"


class RequestRefused(Conflict):
    code = "flag-request-not-open"
    default_hint = "see the request with `shipyard flags request show ID`"


class SelfApproval(Forbidden):
    code = "flag-request-self-approval"
    default_hint = "separation of duties: someone other than the proposer approves"


def _refuse(found: tuple[str, str] | None) -> None:
    if found is None:
        return
    code, message = found
    if code == "flag-request-self-approval":
        raise SelfApproval(message)
    if code == "flag-request-not-proposer":
        raise Forbidden(message, "ask the proposer, or reject it as an approver", code=code)
    raise RequestRefused(message, code=code)


def _stamp(moment: datetime) -> str:
    return times.fmt(moment)


def _now(now: datetime | None) -> datetime:
    return datetime.now(UTC) if now is None else times.aware(now).astimezone(UTC)


class RequestOut(TypedDict):
    """A change request: its row without the change's JSON, the change's parts, and who has
    approved it. A request just proposed lacks the closing columns and has its id after the
    columns it was inserted with."""

    id: int
    project: str
    environment: str
    flag: str
    status: str
    approvals_needed: int
    proposed_by: str
    created_at: str
    apply_at: str | None
    closed_at: NotRequired[str | None]
    closed_by: NotRequired[str | None]
    error: NotRequired[str | None]
    action: str
    percentage: int | None
    approved_by: list[str]


class RequestApplied(RequestOut):
    changed: bool


def _view(uow: UnitOfWork, row: repo.ChangeRequestRow) -> RequestOut:
    change = json.loads(row["change"])
    return {
        "id": row["id"],
        "project": row["project"],
        "environment": row["environment"],
        "flag": row["flag"],
        "status": row["status"],
        "approvals_needed": row["approvals_needed"],
        "proposed_by": row["proposed_by"],
        "created_at": row["created_at"],
        "apply_at": row["apply_at"],
        "closed_at": row["closed_at"],
        "closed_by": row["closed_by"],
        "error": row["error"],
        "action": change["action"],
        "percentage": change.get("percentage"),
        "approved_by": repo.approvers(uow.conn, row["id"]),
    }


def _load(uow: UnitOfWork, request_id: int, project: str) -> repo.ChangeRequestRow:
    row = repo.get(uow.conn, request_id)
    if row is None or row["project"] != project:
        raise RequestNotFound(f"no change request {request_id} in project '{project}'")
    return row


def _event(uow: UnitOfWork, kind: str, row: Mapping[str, Any], actor: str, **more: Any) -> None:
    uow.events.append(
        kind,
        f"flag:{row['flag']}",
        actor,
        {
            "request": row["id"],
            "environment": row["environment"],
            "change": json.loads(row["change"]),
            **more,
        },
        project=row["project"],
    )


# -- protection --------------------------------------------------------------------------------


class ProtectionSet(TypedDict):
    environment: str
    approvals: int
    changed: bool


def protect(store: Store, project: str, env: str, approvals: int, actor: str) -> ProtectionSet:
    """Require ``approvals`` approvals for flag changes in ``env`` (0 lifts the protection)."""
    flags.check_environment(env)
    problem = rules.approvals_problem(approvals)
    if problem is not None:
        raise InputError(problem, "e.g. --approvals 1", code="flag-approvals-invalid")
    with store.begin() as uow:
        before = repo.protection(uow.conn, project, env)
        if before != approvals:
            repo.set_protection(uow.conn, project, env, approvals, _stamp(_now(None)))
            uow.events.append(
                "flag.protection-changed",
                f"environment:{env}",
                actor,
                {"environment": env, "before": before, "after": approvals},
                project=project,
            )
    return {"environment": env, "approvals": approvals, "changed": before != approvals}


def protections(store: Store, project: str) -> list[repo.Protection]:
    with store.read() as uow:
        return repo.protections(uow.conn, project)


# -- the request's life ------------------------------------------------------------------------


def propose(
    store: Store,
    project: str,
    env: str,
    flag: str,
    action: str,
    actor: str,
    *,
    percentage: int | None = None,
    at: datetime | str | None = None,
    now: datetime | None = None,
) -> RequestOut:
    """Propose one change (enable, disable, rollout PCT) of a flag in a protected env."""
    current = _now(now)
    flags.check_environment(env)
    flags.check_name(flag)
    problem = rules.action_problem(action, percentage)
    if problem is not None:
        raise InputError(
            problem, "--enable, --disable or --rollout PCT", code="flag-request-invalid"
        )
    apply_at = None
    if at is not None:
        when = times.parse_when(at, current) if isinstance(at, str) else times.aware(at)
        apply_at = _stamp(times.check_future(when, current))
    with store.begin() as uow:
        needed = repo.protection(uow.conn, project, env)
        if not needed:
            raise InputError(
                f"flag changes in '{env}' need no approval",
                f"change it directly, or protect the environment: "
                f"`shipyard flags protect --env {env} --approvals 1`",
                code="flag-environment-unprotected",
            )
        if not flag_repo.rows(uow.conn, project, env, flag):
            raise flags.FlagNotFound(f"no flag '{flag}' in environment '{env}'")
        change = {"action": action, **({"percentage": percentage} if action == "rollout" else {})}
        new: repo.NewChangeRequest = {
            "project": project,
            "environment": env,
            "flag": flag,
            "change": json.dumps(change, sort_keys=True),
            "status": rules.OPEN,
            "approvals_needed": needed,
            "proposed_by": actor,
            "created_at": _stamp(current),
            "apply_at": apply_at,
        }
        request_id = repo.insert(uow.conn, new)
        _event(
            uow,
            "flag.change-requested",
            {**new, "id": request_id},
            actor,
            approvals_needed=needed,
            apply_at=apply_at,
        )
        # The view of the row as inserted: no closing columns yet, the id after the others.
        return {
            "project": project,
            "environment": env,
            "flag": flag,
            "status": new["status"],
            "approvals_needed": needed,
            "proposed_by": actor,
            "created_at": new["created_at"],
            "apply_at": apply_at,
            "id": request_id,
            "action": action,
            "percentage": percentage if action == "rollout" else None,
            "approved_by": repo.approvers(uow.conn, request_id),
        }


def approve(
    store: Store, project: str, request_id: int, actor: str, now: datetime | None = None
) -> RequestOut:
    """One approval; the request is approved once it has as many as its environment needs."""
    stamp = _stamp(_now(now))
    with store.begin() as uow:
        row = _load(uow, request_id, project)
        approved_by = repo.approvers(uow.conn, request_id)
        _refuse(rules.approval_refusal(row["status"], row["proposed_by"], actor, approved_by))
        repo.approve(uow.conn, request_id, actor, stamp)
        count = len(approved_by) + 1
        status = rules.status_after_approval(row["approvals_needed"], count)
        if status != row["status"] and not repo.move(
            uow.conn, request_id, row["status"], status=status
        ):
            raise RequestRefused("the request changed meanwhile; look at it again")
        row["status"] = status
        _event(
            uow,
            "flag.change-approved",
            row,
            actor,
            approvals=count,
            approvals_needed=row["approvals_needed"],
            status=status,
        )
        return _view(uow, row)


def close(
    store: Store,
    project: str,
    request_id: int,
    actor: str,
    *,
    cancel: bool,
    reason: str | None = None,
    now: datetime | None = None,
) -> RequestOut:
    """Reject (an approver) or cancel (the proposer) a request that is not applied."""
    stamp = _stamp(_now(now))
    status = rules.CANCELLED if cancel else rules.REJECTED
    with store.begin() as uow:
        row = _load(uow, request_id, project)
        _refuse(rules.close_refusal(row["status"], actor, row["proposed_by"], cancel=cancel))
        if not repo.move(
            uow.conn,
            request_id,
            row["status"],
            status=status,
            closed_at=stamp,
            closed_by=actor,
            error=reason,
        ):
            raise RequestRefused("the request changed meanwhile; look at it again")
        row.update({"status": status, "closed_at": stamp, "closed_by": actor, "error": reason})
        kind = "flag.change-cancelled" if cancel else "flag.change-rejected"
        _event(uow, kind, row, actor, reason=reason)
        return _view(uow, row)


def _apply_in(
    uow: UnitOfWork, row: repo.ChangeRequestRow, actor: str, stamp: str
) -> RequestApplied:
    if not repo.move(
        uow.conn, row["id"], rules.APPROVED, status=rules.APPLIED, closed_at=stamp, closed_by=actor
    ):
        raise RequestRefused("the request was applied or closed meanwhile")
    change = json.loads(row["change"])
    project, env, name = row["project"], row["environment"], row["flag"]
    with flags.applying_change_request():
        if change["action"] == "rollout":
            result = flags.set_rollout_in(
                uow, project, env, name, int(change["percentage"]), row["proposed_by"], stamp=stamp
            )
        else:
            result = flags.set_enabled_in(
                uow,
                project,
                env,
                name,
                change["action"] == "enable",
                row["proposed_by"],
                stamp=stamp,
            )
    row.update({"status": rules.APPLIED, "closed_at": stamp, "closed_by": actor})
    _event(uow, "flag.change-applied", row, actor, changed=result["changed"])
    return {**_view(uow, row), "changed": result["changed"]}


def _fail(
    store: Store, row: repo.ChangeRequestRow, actor: str, error: ShipyardError, stamp: str
) -> None:
    with store.begin() as uow:
        if repo.move(
            uow.conn,
            row["id"],
            rules.APPROVED,
            status=rules.FAILED,
            closed_at=stamp,
            closed_by=actor,
            error=str(error),
        ):
            _event(uow, "flag.change-failed", row, actor, error=error.to_dict())


def apply(
    store: Store, project: str, request_id: int, actor: str, now: datetime | None = None
) -> RequestApplied:
    """Apply an approved request that is not scheduled (or whose time has come)."""
    current = _now(now)
    stamp = _stamp(current)
    with store.read() as uow:
        row = _load(uow, request_id, project)
    apply_at = times.parse_when(row["apply_at"], current) if row["apply_at"] else None
    _refuse(rules.apply_refusal(row["status"], apply_at, current))
    try:
        with store.begin() as uow:
            return _apply_in(uow, row, actor, stamp)
    except RequestRefused:
        raise
    except ShipyardError as exc:  # the flag was deleted, say: the request fails, visibly
        _fail(store, row, actor, exc, stamp)
        raise


def apply_due(store: Store, now: datetime, *, project: str | None = None) -> list[RequestApplied]:
    """Apply every approved request whose time has come, each in its own transaction, as
    the proposer; a refused change marks its request failed."""
    current = _now(now)
    stamp = _stamp(current)
    with store.read() as uow:
        candidates = repo.due(uow.conn, stamp, project)
    applied: list[RequestApplied] = []
    for row in candidates:
        try:
            with store.begin() as uow:
                applied.append(_apply_in(uow, row, row["proposed_by"], stamp))
        except RequestRefused:
            continue  # applied by another replica meanwhile
        except ShipyardError as exc:
            log.warning("change request %s could not be applied: %s", row["id"], exc)
            _fail(store, row, row["proposed_by"], exc, stamp)
    return applied


def list_requests(
    store: Store, project: str, env: str | None = None, status: str | None = None
) -> list[RequestOut]:
    with store.read() as uow:
        return [_view(uow, r) for r in repo.rows(uow.conn, project, env, status)]


def show(store: Store, project: str, request_id: int) -> RequestOut:
    with store.read() as uow:
        return _view(uow, _load(uow, request_id, project))
