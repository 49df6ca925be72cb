"""Release trains from ``release.train``: where the current one stands and cutting it."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Any

from sqlalchemy import select

from shipyard.domain import calendar
from shipyard.errors import Conflict, InputError
from shipyard.services import breakglass, freezes, locks
from shipyard.services.coordination import iso
from shipyard.store.release import release_trains
from shipyard.store.uow import Store


def _schedule(spec: Any) -> calendar.TrainSchedule:
    if spec.release.train is None:
        raise InputError(
            "shipyard.yaml has no release.train",
            'add release: {train: {cut: "0 9 * * MON", every_weeks: 2, stabilize: 3d}}',
            code="train-not-configured",
        )
    return freezes.train_schedule(spec)


def _train_dict(t: calendar.Train, now: datetime) -> dict[str, Any]:
    return {
        "name": t.name,
        "branch": f"release/{t.name}",
        "phase": t.phase(now),
        "cut": iso(t.cut),
        "stabilized": iso(t.stabilized),
        "ship": iso(t.ship),
        "timezone": t.timezone,
    }


def status(store: Store, spec: Any, now: datetime) -> dict[str, Any]:
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
    current = _train_dict(plan.current, now) if plan.current else None
    blocks: list[str] = []
    if plan.current is not None and current is not None:
        row = cut_rows.get(plan.current.name)
        current["cut_done"] = row is not None
        current["commit"] = row.commit if row is not None else None
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
    for bg in breakglass.list_overrides(store, spec.project):
        if bg["approved_by"] and not bg["reviewed_at"]:
            blocks.append(
                f"break-glass {bg['id']} needs its follow-up review: "
                f"`shipyard break-glass review {bg['id']} --notes ...`"
            )
    return {
        "current": current,
        "upcoming": [_train_dict(t, now) for t in plan.upcoming],
        "blocked_by": blocks,
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
    store: Store, spec: Any, root: Path, actor: str, now: datetime, ref: str = "HEAD"
) -> dict[str, Any]:
    """Create ``release/<train>`` at ``ref`` for the train due now (or the next one)."""
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
