"""Runs started by events: a request through the API, or a push or pull/merge request webhook,
queues a run of a commit; a worker checks the commit out of the project's repository, runs its
pipeline on the configured executor, and reports the commit's status through a command.

A project's repository (``PUT /api/v1/projects/{project}/repository``): its name as the git
host knows it (``owner/name``, matched against webhook bodies), the remote a worker fetches
from, the webhook secret, the executor (``local``, ``dask://HOST:PORT``, ``dask-local:N``) and an
optional status command. The secret is never shown again, nor written to an event.

A request is queued in one transaction with its ``run.queued`` event and its work item
(``run:<id>``, ``services/work.py``). A worker takes the oldest by lease (two workers never hold
the same one; when one dies another takes the request over within a lease period and runs it
again), runs it, and settles it ``done`` with the run's id or ``failed`` with the reason:
a commit the remote does not have, a shipyard.yaml that is missing or invalid at that commit,
or for another project. The run itself is recorded as any run is, with the commit checked out.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, TypedDict

from shipyard.adapters.commands import run_once
from shipyard.adapters.vcs import clones
from shipyard.adapters.vcs.clones import CommitMissing as CommitMissing
from shipyard.adapters.vcs.clones import RepositoryUnreachable as RepositoryUnreachable
from shipyard.adapters.vcs.clones import redact
from shipyard.domain import webhooks
from shipyard.domain.access import Permission
from shipyard.errors import InputError, NotFound, ShipyardError, Unauthenticated
from shipyard.services import work
from shipyard.services.tokens import Principal
from shipyard.store import run_requests as repo
from shipyard.store.append import utcnow
from shipyard.store.uow import Store

if TYPE_CHECKING:
    from sqlalchemy.engine import Connection

    from shipyard.services.pipelines.pipeline import RunSummary

STATUS_TIMEOUT_S = 60.0
_NAME = re.compile(r"[A-Za-z0-9._-]+(/[A-Za-z0-9._-]+)+")
MIN_SECRET = 16


class RepositoryNotConfigured(NotFound):
    code = "repository-not-configured"


class WebhookRefused(Unauthenticated):
    code = "webhook-signature-invalid"


class RepositoryUnknown(NotFound):
    code = "repository-unknown"


def _check_executor(value: str) -> str:
    if value == "local" or re.fullmatch(r"dask://[^\s/]+:\d+|dask-local:[1-9][0-9]*", value):
        return value
    raise InputError(
        f"executor {value!r} names no executor",
        "use local, dask://HOST:PORT or dask-local:N",
        code="executor-invalid",
    )


def configure(
    store: Store,
    who: Principal,
    project: str,
    *,
    name: str,
    remote: str,
    secret: str,
    executor: str = "local",
    status_command: str | None = None,
) -> RepositoryShown:
    """Set a project's repository; what may be shown of it."""
    from shipyard.identity import of_principal

    who.require(Permission.ADMIN, project)
    if not _NAME.fullmatch(name):
        raise InputError(
            f"repository name {name!r} is not owner/name",
            "write it as the git host does: acme/checkout (GitLab groups: acme/web/checkout)",
            code="repository-name-invalid",
        )
    if not remote.strip():
        raise InputError(
            "the remote is empty",
            "a URL or path git can fetch from",
            code="repository-remote-invalid",
        )
    if len(secret) < MIN_SECRET:
        raise InputError(
            f"the webhook secret is shorter than {MIN_SECRET} characters",
            "use a random secret, e.g. `openssl rand -hex 20`, and give the git host the same",
            code="webhook-secret-too-short",
        )
    values: repo.Repository = {
        "project": project,
        "name": name,
        "remote": remote,
        "secret": secret,
        "executor": _check_executor(executor),
        "status_command": status_command or None,
        "updated_at": utcnow(),
    }
    with store.begin() as uow:
        other = repo.repository_named(uow.conn, name)
        if other is not None and other["project"] != project:
            raise InputError(
                f"repository {name} is already project {other['project']}'s",
                "one repository feeds one project",
                code="repository-taken",
            )
        from shipyard.services.compliance.audit import ensure_project

        ensure_project(uow, project)
        repo.put_repository(uow.conn, values)
        shown = _public(values)
        uow.events.append(
            "repository.configured",
            f"repository:{project}",
            of_principal(who),
            {**shown, "status_command": bool(status_command)},
            project=project,
        )
    return shown


class RepositoryShown(TypedDict):
    """A project's repository as it may be shown: without its secret, the remote's password
    redacted."""

    project: str
    name: str
    remote: str
    executor: str
    status_command: str | None
    updated_at: str


def _public(values: repo.Repository) -> RepositoryShown:
    return {
        "project": values["project"],
        "name": values["name"],
        "remote": redact(str(values["remote"])),
        "executor": values["executor"],
        "status_command": values["status_command"],
        "updated_at": values["updated_at"],
    }


def request_run(
    store: Store,
    project: str,
    commit: str,
    *,
    ref: str,
    trigger: str,
    actor: str,
) -> repo.RunRequest:
    """Queue a run of ``commit`` with its event; the request."""
    if not webhooks.valid_commit(commit):
        raise InputError(
            f"{commit!r} is not a full commit id",
            "give the 40 (or 64) hex digits of the commit: `git rev-parse HEAD`",
            code="commit-invalid",
        )
    now = utcnow()
    with store.begin() as uow:
        if repo.repository(uow.conn, project) is None:
            raise RepositoryNotConfigured(
                f"project {project} has no repository to fetch commits from",
                f"an admin sets it: PUT /api/v1/projects/{project}/repository",
            )
        request_id = repo.add_request(
            uow.conn,
            {
                "project": project,
                "commit": commit,
                "ref": ref,
                "trigger": trigger,
                "requested_by": actor,
                "status": "queued",
                "run_id": None,
                "reason": "",
                "created_at": now,
                "updated_at": now,
            },
        )
        work.add(uow.conn, f"run:{request_id}", "run", project)
        payload = {"request": request_id, "commit": commit, "ref": ref, "trigger": trigger}
        uow.events.append(
            "run.queued", f"run-request:{request_id}", actor, payload, project=project
        )
    return show(store, request_id)


def show(store: Store, request_id: int, scope: str | None = None) -> repo.RunRequest:
    with store.read() as uow:
        found = repo.request(uow.conn, request_id)
    if found is None or (scope is not None and found["project"] != scope):
        raise NotFound(
            f"no run request {request_id}",
            "list them with GET /api/v1/run-requests",
            code="run-request-not-found",
        )
    return found


class RequestList(TypedDict):
    requests: list[repo.RunRequest]


def list_requests(store: Store, project: str | None, limit: int = 50) -> RequestList:
    with store.read() as uow:
        return {"requests": repo.requests(uow.conn, project, limit)}


class HookIgnored(TypedDict):
    queued: Literal[False]
    reason: str  # why the event queues nothing


class HookQueued(TypedDict):
    queued: Literal[True]
    request: repo.RunRequest


def hook(store: Store, headers: Mapping[str, str], body: bytes) -> HookIgnored | HookQueued:
    """A webhook from GitHub or GitLab: queue its commit, or say why not."""
    host = webhooks.host_of(headers)
    if host is None:
        raise InputError(
            "the request is not a GitHub or GitLab webhook (no X-GitHub-Event or X-Gitlab-Event)",
            "point the git host's webhook at /api/v1/hooks/git with content type JSON",
            code="webhook-host-unknown",
        )
    try:
        payload = json.loads(body)
        if not isinstance(payload, dict):
            raise webhooks.PayloadInvalid("the body is not a JSON object")
        name = webhooks.repository_of(host, payload)
    except (ValueError, webhooks.PayloadInvalid) as exc:
        raise InputError(
            f"the webhook body is not one: {exc}",
            "send the git host's JSON payload unchanged",
            code="webhook-payload-invalid",
        ) from exc
    with store.read() as uow:
        configured = repo.repository_named(uow.conn, name)
    if configured is None:
        raise RepositoryUnknown(
            f"no project is fed by repository {name}",
            "an admin sets it: PUT /api/v1/projects/PROJECT/repository",
        )
    if not webhooks.signed(host, headers, body, configured["secret"]):
        raise WebhookRefused(
            "the webhook's signature does not match the repository's secret",
            "give the git host the secret set for this repository",
        )
    event = headers.get("x-github-event") or headers.get("x-gitlab-event") or ""
    try:
        found = webhooks.event_of(host, event, payload)
    except webhooks.PayloadInvalid as exc:
        raise InputError(
            f"the {event} webhook is not one: {exc}",
            "send the git host's JSON payload unchanged",
            code="webhook-payload-invalid",
        ) from exc
    if isinstance(found, webhooks.Ignored):
        return {"queued": False, "reason": found.reason}
    queued = request_run(
        store,
        configured["project"],
        found.commit,
        ref=found.ref,
        trigger=found.trigger,
        actor=f"webhook:{host}",
    )
    return {"queued": True, "request": queued}


# --- the worker's side -------------------------------------------------------------------------


def adopt(conn: Connection) -> None:
    """Give every unsettled request its work item, in the caller's transaction (requests
    queued before run requests were leased work); a request that has one keeps it."""
    for request_id, project in repo.unsettled(conn):
        work.add(conn, f"run:{request_id}", "run", project)


def work_once(store: Store, owner: str) -> repo.RunRequest | None:
    """Take the oldest run request nobody holds and run it under its lease; the settled
    request, or None if there is none."""
    with store.begin() as uow:
        adopt(uow.conn)
    taken = work.take(store, ["run"], owner, 1)
    if not taken:
        return None
    return run_leased(store, taken[0])


def run_leased(store: Store, lease: work.Lease) -> repo.RunRequest | None:
    """Run the request ``lease`` holds, renewing it meanwhile. A request found running was
    started by a worker that died or stalled past its lease: it is run again from its commit
    (the step cache keeps what that worker finished). None when the lease was lost."""
    request_id = int(lease.item.removeprefix("run:"))
    try:
        with lease.heartbeat():
            with lease.fenced.begin() as uow:
                found = repo.request(uow.conn, request_id)
                if found is None or found["status"] in ("done", "failed"):
                    settled = found
                else:
                    repo.start(uow.conn, request_id, utcnow())
                    settled = None
                repository = repo.repository(uow.conn, found["project"]) if found else None
            if found is not None and settled is None:
                if found["run_id"] is not None:  # the run of a worker that is gone
                    _abandon(lease.fenced, int(found["run_id"]))
                settled = execute(lease.fenced, found, repository)
    except work.LeaseLost:
        return None
    except BaseException as exc:  # Ctrl-C too: another worker may take it at once
        lease.release(done=False, wait_s=work.RETRY_S if isinstance(exc, Exception) else 0.0)
        raise
    lease.release(done=True)
    return settled


def _abandon(store: Store, run_id: int) -> None:
    from shipyard.store.runlog import RunLog

    with store.begin():  # the lease is still ours
        pass
    with RunLog(store.url, store.home).begin() as tx:
        tx.abandon(run_id, "worker")


def execute(
    store: Store, request: Mapping[str, Any], repository: Mapping[str, Any] | None
) -> repo.RunRequest:
    """Run a claimed request; settle it ``done`` or ``failed`` and report the status."""
    status, run_id, reason = "failed", None, ""
    hook_notes: list[str] = []
    folder = Path(tempfile.mkdtemp(prefix="shipyard-checkout-"))
    try:
        if repository is None:
            raise RepositoryNotConfigured(
                f"project {request['project']} has no repository any more", "set it again"
            )
        hook_notes += _report(repository, request, "pending", None)
        root = clones.checkout(repository["remote"], request["commit"], folder / "work")
        summary = _run(store, request, repository, root)
        run_id = summary["run_id"]
        status = "done"
        outcome = "success" if summary["status"] == "success" else "failure"
        reason = "" if outcome == "success" else f"run {run_id} {summary['status']}"
        hook_notes += _report(repository, request, outcome, run_id)
    except ShipyardError as exc:
        reason = f"{exc.code}: {exc.message}"
        if repository is not None:
            hook_notes += _report(repository, request, "error", run_id)
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    if hook_notes:
        reason = "; ".join([r for r in (reason, *hook_notes) if r])
    with store.begin() as uow:  # fenced under a lease: a stale worker's result is refused
        repo.settle(uow.conn, request["id"], status, run_id, reason, utcnow())
    return show(store, request["id"])


def _run(
    store: Store, request: Mapping[str, Any], repository: Mapping[str, Any], root: Path
) -> RunSummary:
    from shipyard.services.pipelines import pipeline
    from shipyard.spec.load import find_spec, load_spec

    spec = load_spec(find_spec(file=root / "shipyard.yaml"))
    if spec.project != request["project"]:
        raise InputError(
            f"shipyard.yaml at {request['commit'][:12]} is project {spec.project!r}, "
            f"not {request['project']!r}",
            "the repository configured for a project must hold that project's shipyard.yaml",
            code="project-mismatch",
        )

    class Started(pipeline.NullReporter):
        """Writes the run's id on the request as the run starts: a worker taking the request
        over then knows which run to mark abandoned."""

        def started(self, run_id: int, total: int) -> None:
            with store.begin() as uow:
                repo.set_run(uow.conn, int(request["id"]), run_id)

    executor = repository["executor"]
    return pipeline.run(
        store,
        spec,
        root,
        trigger=request["trigger"],
        actor=request["requested_by"],
        executor_target=None if executor == "local" else executor,
        reporter=Started(),
    )


def _report(
    repository: Mapping[str, Any], request: Mapping[str, Any], state: str, run_id: int | None
) -> list[str]:
    """Run the status command for ``state``; a note when it failed (the run stands)."""
    command = repository.get("status_command")
    if not command:
        return []
    env = {
        **os.environ,
        "SHIPYARD_PROJECT": str(request["project"]),
        "SHIPYARD_COMMIT": str(request["commit"]),
        "SHIPYARD_REF": str(request["ref"]),
        "SHIPYARD_TRIGGER": str(request["trigger"]),
        "SHIPYARD_STATUS": state,
        "SHIPYARD_RUN_ID": "" if run_id is None else str(run_id),
        "SHIPYARD_REQUEST_ID": str(request["id"]),
    }
    try:
        done = run_once(["bash", "-c", command], cwd=None, env=env, timeout=STATUS_TIMEOUT_S)
    except TimeoutError:
        return [f"the status command timed out reporting {state}"]
    if done.status != 0:
        return [f"the status command exited {done.status} reporting {state}"]
    return []
