"""What `run`, `deploy`, `freeze` and `train` would refuse in a spec the schema accepts, found
by `shipyard validate` before any of them runs.

No rule lives here: each check calls the function the command itself calls (the graph builder,
the deploy plan, the analysis templates, the calendar, the gate policy) and places the error it
raises at the key of shipyard.yaml it is about. Every problem is collected; none stops the rest.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from shipyard.errors import InputError
from shipyard.spec.models import Spec
from shipyard.spec.source import Path_

Problem = tuple[Path_, InputError]


def problems(spec: Spec) -> list[Problem]:
    """Every problem of ``spec`` a later command would refuse, with the key it is about."""
    return [*_pipeline(spec), *_environments(spec), *_analyses(spec), *_release(spec)]


def _attempt(found: list[Problem], path: Path_, check: Callable[..., Any], *args: Any) -> bool:
    """Run ``check``; note its error at ``path`` (deepened by the error's own ``key``)."""
    try:
        check(*args)
    except InputError as exc:
        key = exc.details.get("key")
        found.append(((*path, key) if isinstance(key, str) else path, exc))
        return False
    return True


def _pipeline(spec: Spec) -> list[Problem]:
    """What `shipyard run` refuses before it starts: cycles, matrices, `if:` conditions."""
    from shipyard.domain.pipeline import graph_problems
    from shipyard.services.pipelines.pipeline import job_def

    jobs = [job_def(name, job) for name, job in spec.pipeline.jobs.items()]
    found: list[Problem] = []
    for exc in graph_problems(jobs):
        job, key = exc.details.get("job"), exc.details.get("key")
        if exc.code == "pipeline-unknown-need" and key == "needs":
            continue  # the schema's reference check names the very entry already
        path: Path_ = ("pipeline", "jobs", job) if isinstance(job, str) else ("pipeline", "jobs")
        found.append(((*path, key) if isinstance(key, str) else path, exc))
    return found


def _environments(spec: Spec) -> list[Problem]:
    """What `shipyard deploy` refuses: targets, strategies, gates and what they combine."""
    from shipyard.domain.gates import parse_policy
    from shipyard.services.deployments import deploy_plan

    found: list[Problem] = []
    for name, env in spec.environments.items():
        where: Path_ = ("environments", name)
        for sub, exc in deploy_plan.problems(spec, name):
            # An environment may exist for flags alone; it needs a target once deployed to.
            # An inherited target's own problems are reported where it is written.
            if exc.code != "target-missing" and (env.target is not None or sub[:1] != ("target",)):
                found.append(((*where, *sub), exc))
        _attempt(found, (*where, "gates"), parse_policy, list(env.gates))
    return found


def _analyses(spec: Spec) -> list[Problem]:
    """What a rollout's analysis refuses: no limit, Prometheus without an address, a query on
    the built-in provider."""
    from shipyard.services.deployments.rollout_analysis import check_template

    found: list[Problem] = []
    for name, template in spec.analysis.items():
        _attempt(found, ("analysis", name), check_template, template.model_dump())
    return found


def _release(spec: Spec) -> list[Problem]:
    """What `shipyard freeze` and `shipyard train` refuse: cron expressions, time zones."""
    from shipyard.domain import calendar

    found: list[Problem] = []
    for i, freeze in enumerate(spec.release.freezes):
        where: Path_ = ("release", "freezes", i)
        # as services/coordination/freezes.py reads it
        definition = freeze.model_dump(exclude_none=True)
        # Each field alone first, so that every bad one is named; then the window as a whole.
        ok = all(
            [
                *(
                    _attempt(found, (*where, key), calendar.normalize_cron, definition[key])
                    for key in ("start_cron", "end_cron")
                    if key in definition
                ),
                _attempt(found, (*where, "timezone"), calendar.zone, freeze.timezone),
            ]
        )
        if ok:
            _attempt(found, where, calendar.freeze_from_spec, definition)
    train = spec.release.train
    if train is not None:
        where = ("release", "train")
        ok = all(
            [
                _attempt(found, (*where, "cut"), calendar.normalize_cron, train.cut),
                _attempt(found, (*where, "timezone"), calendar.zone, train.timezone),
            ]
        )
        if ok:
            _attempt(found, where, train.schedule)
    return found
