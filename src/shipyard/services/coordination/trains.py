"""Release trains from ``release.train``: where the current one stands, cutting it, shipping
its release candidate and picking fixes onto its branch."""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, NotRequired, TypedDict

from sqlalchemy import select

from shipyard.domain import calendar
from shipyard.domain.trains import Rides
from shipyard.errors import Conflict, InputError, NotFound, Refused, ShipyardError
from shipyard.services.coordination import breakglass, freezes, locks
from shipyard.services.coordination.coordination import iso, parse_ts
from shipyard.spec.promotion import promotion_order
from shipyard.store.release import release_trains
from shipyard.store.uow import Store

if TYPE_CHECKING:
    from shipyard.spec.models import Spec


def _schedule(spec: Spec) -> calendar.TrainSchedule:
    train = spec.release.train
    if train is None:
        raise InputError(
            "shipyard.yaml has no release.train",
            'add release: {train: {cut: "0 9 * * MON", every_weeks: 2, stabilize: 3d}}',
            code="train-not-configured",
        )
    return train.schedule()


class TrainOut(TypedDict):
    """A release train: its branch, phase and dates."""

    name: str
    branch: str
    phase: calendar.TrainPhase
    cut: str
    stabilized: str
    ship: str  # after freezes moved it
    timezone: str


class CurrentTrain(TrainOut):
    cut_done: bool
    commit: str | None  # where it was cut; None: not cut yet


class TrainStatus(TypedDict):
    """`shipyard train status`: the current train, the next ones, what stands in the way."""

    current: CurrentTrain | None
    upcoming: list[TrainOut]
    blocked_by: list[str]
    reviews_due: list[breakglass.ReviewDue]


class TrainCut(TypedDict):
    train: str
    branch: str
    commit: str
    ship: str


def _train_dict(t: calendar.Train, now: datetime) -> TrainOut:
    return {
        "name": t.name,
        "branch": f"release/{t.name}",
        "phase": t.phase(now),
        "cut": iso(t.cut),
        "stabilized": iso(t.stabilized),
        "ship": iso(t.ship),
        "timezone": t.timezone,
    }


def status(store: Store, spec: Spec, now: datetime) -> TrainStatus:
    """The current train, the next ones, and what stands in the current one's way."""
    schedule = _schedule(spec)
    ws = freezes.windows(store, spec)
    plan = calendar.train_plan(schedule, now, 2, freezes=ws)
    with store.read() as uow:
        cut_rows = {
            r.name: r
            for r in uow.conn.execute(
                select(release_trains).where(release_trains.c.project == spec.project)
            )
        }
    current: CurrentTrain | None = None
    blocks: list[str] = []
    if plan.current is not None:
        row = cut_rows.get(plan.current.name)
        current = {
            **_train_dict(plan.current, now),
            "cut_done": row is not None,
            "commit": row.commit if row is not None else None,
        }
        if row is None and current["phase"] != "scheduled":
            blocks.append(f"{plan.current.name} is due but not cut: run `shipyard train cut`")
        if plan.current.ship != plan.current.stabilized:
            blocks.append(
                f"ship moved from {iso(plan.current.stabilized)} to {iso(plan.current.ship)} "
                "by a freeze"
            )
    last_env = list(spec.environments)[-1] if spec.environments else None
    if last_env:
        st = freezes.status(store, spec, now, last_env)
        if st["frozen"]:
            blocks.append(f"{last_env}: {st['message']}")
    for lk in locks.list_locks(store, spec.project, now):
        blocks.append(f"{lk['environment']} is locked by {lk['held_by']}: {lk['reason']}")
    reviews = breakglass.reviews_due(store, spec.project)
    for bg in reviews:
        blocks.append(
            f"break-glass {bg['id']} ({bg['environment']}, approved by {bg['approved_by']}) "
            f"needs its follow-up review: `shipyard breakglass review {bg['id']} --notes ...`"
        )
    return {
        "current": current,
        "upcoming": [_train_dict(t, now) for t in plan.upcoming],
        "blocked_by": blocks,
        "reviews_due": reviews,
    }


def _branch(root: Path, ref: str, branch: str | None = None) -> str:
    """Resolve ``ref``; with ``branch``, also create that branch at it. Plain git."""
    from shipyard.adapters.vcs.git import GitRepo

    repo = GitRepo.open(root)
    commit = repo.resolve(ref)
    if branch is not None:
        try:
            repo.git("branch", branch, commit)
        except Conflict as exc:
            raise Conflict(
                f"branch {branch} already exists",
                "the train was cut by hand; delete the branch or record it differently",
                code="branch-exists",
            ) from exc
    return commit


def cut(
    store: Store,
    spec: Spec,
    root: Path,
    actor: str,
    now: datetime,
    ref: str = "HEAD",
    *,
    publish: Callable[[list[str]], None] | None = None,
) -> TrainCut:
    """Create ``release/<train>`` at ``ref`` for the train due now (or the next one);
    ``publish`` pushes it (the server's checkout), before the cut is recorded."""
    schedule = _schedule(spec)
    plan = calendar.train_plan(schedule, now, 1, freezes=freezes.windows(store, spec))
    train = plan.current
    with store.read() as uow:
        done = (
            train is not None
            and uow.conn.execute(
                select(release_trains.c.name).where(
                    release_trains.c.project == spec.project, release_trains.c.name == train.name
                )
            ).first()
            is not None
        )
    if train is None or done:
        # The current train left already: cutting now starts the next one early, on demand.
        train = plan.upcoming[0]
    branch = f"release/{train.name}"
    commit = _branch(root, ref)
    with store.begin() as uow:
        exists = uow.conn.execute(
            select(release_trains.c.name).where(
                release_trains.c.project == spec.project, release_trains.c.name == train.name
            )
        ).first()
        if exists is not None:
            raise Conflict(f"{train.name} is already cut", "", code="train-already-cut")
        _branch(root, commit, branch)
        if publish is not None:
            publish([branch])
        uow.conn.execute(
            release_trains.insert(),
            {
                "project": spec.project,
                "name": train.name,
                "branch": branch,
                "commit": commit,
                "cut_by": actor,
                "cut_at": iso(now),
            },
        )
        uow.events.append(
            "train.cut",
            f"train:{train.name}",
            actor,
            {"branch": branch, "commit": commit, "ship": iso(train.ship)},
            project=spec.project,
        )
    return {"train": train.name, "branch": branch, "commit": commit, "ship": iso(train.ship)}


# -- shipping ------------------------------------------------------------------------------------


def _cut_train(store: Store, project: str, name: str | None) -> Any:
    with store.read() as uow:
        query = select(release_trains).where(release_trains.c.project == project)
        if name is not None:
            query = query.where(release_trains.c.name == name)
        rows = list(uow.conn.execute(query.order_by(release_trains.c.cut_at.desc())))
    if not rows:
        raise NotFound(
            f"train {name} was never cut" if name else "no train has been cut",
            "run `shipyard train cut` first",
            code="train-not-cut",
        )
    return rows[0]


def candidate_of(store: Store, spec: Spec, root: Path, train_name: str | None) -> str:
    """The release candidate of the train named (or the newest cut)."""
    return candidate(store, spec, root, _cut_train(store, spec.project, train_name))


def candidate(store: Store, spec: Spec, root: Path, train: Any) -> str:
    """The train's release candidate: the newest release whose commit is on the train branch."""
    from shipyard.adapters.vcs.git import GitRepo

    repo = GitRepo.open(root)
    with store.read() as uow:
        found = uow.events.query(project=spec.project, kind="release.created", descending=True)
    for e in found:
        commit = e.payload.get("commit")
        if not commit:
            continue
        try:
            repo.git("merge-base", "--is-ancestor", str(commit), train.branch)
        except ShipyardError:
            continue  # not on the branch (git exits 1), or unknown to this clone
        return str(e.payload["version"])
    raise InputError(
        f"no release is on {train.branch}, so {train.name} has no release candidate",
        "release from the commit the train was cut at, or pass --version",
        code="candidate-missing",
    )


def _live_version(store: Store, project: str, env: str) -> str | None:
    from shipyard.store import deployments

    with store.read() as uow:
        row = deployments.get_environment(uow.conn, project, env)
    return (row or {}).get("version")


class ShipStep(TypedDict):
    environment: str
    status: str  # already-live, refused, or the rollout's status
    id: NotRequired[str | None]  # the deployment, when one was started


class TrainShipped(TypedDict):
    """`shipyard train ship`: how far the candidate got; where and why it stopped."""

    train: str
    branch: str
    version: str
    environments: list[ShipStep]
    shipped: bool
    stopped_at: NotRequired[str]  # absent when shipped
    code: NotRequired[str]
    reasons: NotRequired[list[str]]
    hint: NotRequired[str | None]
    message: str


def ship(
    store: Store,
    spec: Spec,
    root: Path | None,
    actor: str,
    now: datetime,
    *,
    train_name: str | None = None,
    version: str | None = None,
    on_line: Callable[[str, dict[str, Any]], None] | None = None,
) -> TrainShipped:
    """Promote the train's release candidate through every environment in promotion order.

    An environment where the candidate is already live is skipped, so shipping again after a
    refusal carries on where it stopped. The first refusal (gates, lock, freeze) or failed
    rollout stops it, and the result says where and why; ``train.shipped`` is recorded once
    the candidate is live everywhere.
    """
    from shipyard.services.deployments import deploy

    train = _cut_train(store, spec.project, train_name)
    if version is None:
        if root is None:
            raise InputError(
                f"which version of {train.name}? no repository is at hand to find its candidate",
                "pass the version",
                code="candidate-missing",
            )
        version = candidate(store, spec, root, train)
    steps: list[ShipStep] = []

    def stopped(
        env: str, code: str, reasons: list[str], hint: str | None, message: str
    ) -> TrainShipped:
        return {
            "train": train.name,
            "branch": train.branch,
            "version": version,
            "environments": steps,
            "shipped": False,
            "stopped_at": env,
            "code": code,
            "reasons": reasons,
            "hint": hint,
            "message": message,
        }

    for env in promotion_order(spec):
        if _live_version(store, spec.project, env) == version:
            steps.append({"environment": env, "status": "already-live"})
            continue
        try:
            result = deploy.deploy(
                store, spec, root, env, version=version, actor=actor, on_line=on_line
            )
        except Refused as exc:
            steps.append({"environment": env, "status": "refused"})
            reasons = [
                f"{g['name']}: {g['reason']}"
                for g in exc.details.get("gates", [])
                if not g.get("passed")
            ] or [exc.message]
            return stopped(
                env,
                exc.code,
                reasons,
                exc.hint,
                f"{version} stopped before {env}: " + "; ".join(reasons),
            )
        steps.append({"environment": env, "status": result["status"], "id": result.get("id")})
        if result["status"] != "succeeded":
            return stopped(
                env,
                "rollout-failed",
                [str(result.get("reason") or result["status"])],
                f"see `shipyard rollout status {env}`",
                f"{version} {result['status']} in {env}",
            )
    with store.begin() as uow:
        uow.events.append(
            "train.shipped",
            f"train:{train.name}",
            actor,
            {
                "branch": train.branch,
                "version": version,
                "environments": [s["environment"] for s in steps],
            },
            project=spec.project,
        )
    return {
        "train": train.name,
        "branch": train.branch,
        "version": version,
        "environments": steps,
        "shipped": True,
        "message": f"shipped {train.name}: {version} is live in every environment",
    }


# -- cherry-picks onto a cut train ---------------------------------------------------------------


def _pick_facts(store: Store, spec: Spec, root: Path, sha: str, train_name: str | None) -> Any:
    """The train, the commit (resolved, with its author and conventional type) and the
    approvals recorded for picking it onto that train."""
    from types import SimpleNamespace

    from shipyard.adapters.vcs.git import GitRepo
    from shipyard.domain import versioning as v

    train = _cut_train(store, spec.project, train_name)
    repo = GitRepo.open(root)
    full = repo.resolve(sha)
    author, email, message = repo.git("log", "-1", "--format=%an%x00%ae%x00%B", full).split("\0", 2)
    commit = SimpleNamespace(author=author, author_email=email, message=message.strip("\n"))
    parsed = v.parse_commit(v.Commit(full, commit.message), squash_types=())
    kind = parsed[0].type if parsed else "other"
    subject = f"train:{train.name}"
    with store.read() as uow:
        cut_events = uow.events.query(project=spec.project, kind="train.cut", subject=subject)
        approved = [
            e
            for e in uow.events.query(
                project=spec.project, kind="train.pick-approved", subject=subject
            )
            if e.payload.get("sha") == full
        ]
        picked = [
            e
            for e in uow.events.query(project=spec.project, kind="train.picked", subject=subject)
            if e.payload.get("sha") == full
        ]
    ship_at = parse_ts(cut_events[-1].payload.get("ship")) if cut_events else None
    if ship_at is None:
        ship_at = _schedule_ship(store, spec, train.name)
    return SimpleNamespace(
        train=train,
        repo=repo,
        sha=full,
        commit=commit,
        kind=kind,
        header=(commit.message.splitlines() or [""])[0],
        cut=parse_ts(train.cut_at),
        ship=ship_at,
        approvers=sorted({e.actor for e in approved}),
        picked=picked,
    )


def _schedule_ship(store: Store, spec: Spec, name: str) -> datetime:
    schedule = _schedule(spec)
    for t in calendar.train_plan(schedule, datetime.now(UTC), 8).upcoming:
        if t.name == name:
            return t.ship
    raise NotFound(f"no ship date is known for train {name}", code="train-not-cut")


class PickRule(TypedDict):
    """Whether a commit may be picked onto a cut train now, and with how many approvals."""

    train: str
    branch: str
    sha: str
    header: str
    kind: str  # its conventional type
    allowed: bool
    rides: Rides
    approvals_needed: int
    approved_by: list[str]
    reason: str
    ship: str


class Picked(PickRule):
    picked: bool
    commit: str  # the cherry-pick on the train branch


def _rule_dict(f: Any, now: datetime) -> PickRule:
    from shipyard.domain.trains import cherry_pick_rule

    rule = cherry_pick_rule(f.kind, f.cut, f.ship, now)
    return {
        "train": f.train.name,
        "branch": f.train.branch,
        "sha": f.sha,
        "header": f.header,
        "kind": f.kind,
        "allowed": rule.allowed,
        "rides": rule.rides,
        "approvals_needed": rule.approvals,
        "approved_by": f.approvers,
        "reason": rule.reason,
        "ship": iso(f.ship),
    }


def approve_pick(
    store: Store,
    spec: Spec,
    root: Path,
    sha: str,
    approver: str,
    now: datetime,
    *,
    train_name: str | None = None,
    comment: str = "",
) -> PickRule:
    """Approve picking ``sha`` onto the train; its author cannot approve it."""
    f = _pick_facts(store, spec, root, sha, train_name)
    if approver in {f.commit.author_email, f.commit.author}:
        raise Refused(
            f"{approver} wrote {f.sha[:12]} and cannot approve picking it",
            "separation of duties: ask someone who did not make the change",
            code="self-approval",
        )
    if approver in f.approvers:
        raise Conflict(
            f"{approver} already approved picking {f.sha[:12]} onto {f.train.name}",
            "one approval per person counts once",
            code="already-approved",
        )
    with store.begin() as uow:
        uow.events.append(
            "train.pick-approved",
            f"train:{f.train.name}",
            approver,
            {"sha": f.sha, "comment": comment},
            project=spec.project,
        )
    f.approvers = sorted([*f.approvers, approver])
    return _rule_dict(f, now)


def pick(
    store: Store,
    spec: Spec,
    root: Path,
    sha: str,
    actor: str,
    now: datetime,
    *,
    train_name: str | None = None,
    publish: Callable[[list[str]], None] | None = None,
) -> Picked:
    """Cherry-pick ``sha`` onto the train's branch when the rule allows it now and enough
    people other than its author approved it (``train-pick-approve``); ``publish`` pushes the
    branch before the pick is recorded."""
    f = _pick_facts(store, spec, root, sha, train_name)
    out = _rule_dict(f, now)
    if f.picked:
        raise Conflict(
            f"{f.sha[:12]} is already picked onto {f.train.branch}",
            code="already-picked",
        )
    if not out["allowed"]:
        raise Refused(
            f"{f.sha[:12]} ({f.kind}) cannot be picked onto {f.train.name}: {out['reason']}",
            "land it on the main line; it rides the next train",
            code="pick-refused",
            details=out,
        )
    others = [a for a in f.approvers if a not in {f.commit.author_email, f.commit.author}]
    if len(others) < out["approvals_needed"]:
        have = ", ".join(others) or "none"
        raise Refused(
            f"picking {f.sha[:12]} onto {f.train.name} needs {out['approvals_needed']} "
            f"approval(s) ({out['reason']}); it has {len(others)}: {have}",
            f"ask a reviewer to run `shipyard train approve-pick {f.sha[:12]}`",
            code="pick-approval-required",
            details=out,
        )
    new = _cherry_pick(f.repo, f.train.branch, f.sha)
    with store.begin() as uow:
        if publish is not None:
            publish([f.train.branch])
        uow.events.append(
            "train.picked",
            f"train:{f.train.name}",
            actor,
            {
                "sha": f.sha,
                "commit": new,
                "branch": f.train.branch,
                "kind": f.kind,
                "approved_by": others,
                "rule": out["reason"],
            },
            project=spec.project,
        )
    return {**out, "picked": True, "commit": new}


def _cherry_pick(repo: Any, branch: str, sha: str) -> str:
    """``git cherry-pick -x`` onto ``branch`` in a temporary work tree, so the user's checkout
    is left alone; a conflict changes nothing."""
    import tempfile

    from shipyard.adapters.vcs.git import GitRepo

    current = None
    with contextlib.suppress(ShipyardError):
        current = repo.branch()
    if current == branch:
        repo.require_clean()
        return _apply(repo, sha)
    with tempfile.TemporaryDirectory(prefix="shipyard-pick-") as tmp:
        path = Path(tmp) / "tree"
        repo.git("worktree", "add", "-q", str(path), branch)
        try:
            return _apply(GitRepo(path), sha)
        finally:
            repo.git("worktree", "remove", "--force", str(path))


def _apply(repo: Any, sha: str) -> str:
    try:
        repo.git("cherry-pick", "-x", sha)
    except ShipyardError as exc:
        with contextlib.suppress(ShipyardError):
            repo.git("cherry-pick", "--abort")
        raise Conflict(
            f"{sha[:12]} does not apply cleanly: {exc.message}",
            "backport it by hand on the train branch, or pick the commits it depends on first",
            code="pick-conflict",
        ) from exc
    return str(repo.head())
