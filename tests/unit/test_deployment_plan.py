"""The plan recorded with a deployment: every shape stored so far reads back and is written
again exactly as it was, and an old plan reads with the defaults its readers assumed."""

from __future__ import annotations

import json
from dataclasses import replace
from typing import Any

import pytest

from shipyard.domain.rollout import Pool
from shipyard.services.deployments.deploy_plan import DeploymentPlan, Side

STRATEGY = {
    "type": "canary",
    "instances": 2,
    "progress_deadline": 60.0,
    "on_failure": "rollback",
    "steps": [{"weight": 20}, {"analysis": "errors", "duration": 10.0}],
    "scale_down_delay": 0.0,
}
TEMPLATE = {
    "provider": "builtin",
    "metric": "error_rate",
    "query": None,
    "address": None,
    "max": 0.05,
    "max_increase": None,
    "min_samples": 50,
    "interval": 10.0,
    "failure_limit": 0,
    "inconclusive_limit": None,
    "consecutive_error_limit": 4,
    "judge": "threshold",
    "alpha": 0.05,
    "metrics": [],
}
POOLS = {"stable": "blue", "canary": "green"}

# Sides as each version recorded them: before command targets (no "target"), before the
# artifact registry (no "artifact"), a process and a command target's now.
SIDE_FIRST = {
    "version": "1.0.0",
    "config_revision": "a1b2c3d4e5f6",
    "config": {"LOG_LEVEL": "info"},
    "secret_refs": {"DB_PASSWORD": {"env": "DB_PASSWORD"}},
    "root": "/srv/shop",
    "workdir": "/srv/shop",
    "command": "python app.py --port {port}",
    "readiness_path": "/healthz",
    "grace": 5.0,
}
SIDE_TARGET = {
    "version": "1.1.0",
    "config_revision": "b2c3d4e5f6a1",
    "config": {"LOG_LEVEL": "info"},
    "secret_refs": {},
    "root": "/srv/shop",
    "workdir": "/srv/shop",
    "target": "process",
    "command": "python app.py --port {port}",
    "readiness_path": "/ready",
    "grace": 10.0,
}
SIDE_ARTIFACT = {
    "version": "1.2.0",
    "config_revision": "c3d4e5f6a1b2",
    "config": {},
    "secret_refs": {"TOKEN": {"file": "secrets/token"}},
    "root": "/srv/shop",
    "workdir": "/srv/state/deploy/releases/sha256-ab12",
    "artifact": {"digest": "sha256:ab12", "filename": "shop-1.2.0.tar.gz"},
    "target": "process",
    "command": "python app.py --port {port}",
    "readiness_path": "/healthz",
    "grace": 10.0,
}
SIDE_COMMAND = {
    "version": "1.3.0",
    "config_revision": "d4e5f6a1b2c3",
    "config": {"REGION": "eu"},
    "secret_refs": {},
    "root": "/srv/shop",
    "workdir": "/srv/shop",
    "artifact": None,
    "target": "command",
    "hooks": {"deploy": "./deploy.sh {version} {instances}", "set_weight": "./route.sh {weight}"},
    "timeout": 300.0,
    "command": None,
    "readiness_path": None,
    "grace": 0.0,
}
WATCH = {"analysis": ["errors"], "window": 600.0}
BASELINES = {
    "errors": {
        "builtin|": {"requests": 400, "errors": 2, "latencies_ms": [], "latency_buckets": []}
    }
}

# Each plan as a version of `deploy` or `rollback` stored it, keys in their stored order.
DEPLOY_FIRST = {  # before routers were chosen
    "pools": POOLS,
    "strategy": STRATEGY,
    "analysis": {"errors": TEMPLATE},
    "readiness_path": "/healthz",
    "stable": None,
    "canary": SIDE_FIRST,
}
DEPLOY_ROUTER = {
    "pools": POOLS,
    "strategy": STRATEGY,
    "analysis": {"errors": TEMPLATE},
    "readiness_path": "/ready",
    "router": "builtin",
    "stable": SIDE_FIRST,
    "canary": SIDE_TARGET,
}
DEPLOY_MIGRATION_FILES = {**DEPLOY_ROUTER, "migration_files": {"migrations/001.sql": "e3b0c4"}}
DEPLOY_MIGRATE = {  # the migration recorded, so that a worker needs no shipyard.yaml
    "pools": POOLS,
    "strategy": STRATEGY,
    "analysis": {},
    "readiness_path": "/healthz",
    "router": "nginx",
    "stable": SIDE_TARGET,
    "canary": SIDE_ARTIFACT,
    "migration_files": {},
    "migrate": "./migrate.sh",
}
DEPLOY_WATCH = {**DEPLOY_MIGRATION_FILES, "watch": WATCH}  # the watch, not yet the migration
DEPLOY_NOW = {
    "pools": POOLS,
    "strategy": STRATEGY,
    "analysis": {"errors": TEMPLATE},
    "readiness_path": "/healthz",
    "router": "builtin",
    "stable": SIDE_ARTIFACT,
    "canary": SIDE_ARTIFACT | {"version": "1.2.1"},
    "migration_files": {},
    "migrate": None,
    "watch": WATCH,
}
DEPLOY_NOW_COMMAND = {
    **DEPLOY_NOW,
    "readiness_path": None,
    "stable": None,
    "canary": SIDE_COMMAND,
    "watch": {"analysis": [], "window": 0.0},
}
DEPLOY_WATCHED = {**DEPLOY_NOW, "watch": {**WATCH, "baselines": BASELINES}}  # once it succeeded
ROLLBACK = {
    "pools": {"stable": "green", "canary": "blue"},
    "strategy": {**STRATEGY, "type": "recreate", "steps": []},
    "analysis": {},
    "readiness_path": "/healthz",
    "router": "builtin",
    "direct": True,
    "rollback_of": "d0123456789a",
    "stable": SIDE_ARTIFACT | {"version": "1.2.1"},
    "canary": SIDE_ARTIFACT,
}
ROLLBACK_FIRST = {**ROLLBACK, "rollback_of": None, "stable": None}  # what ran was never recorded

SHAPES = {
    "deploy, first": DEPLOY_FIRST,
    "deploy with its router": DEPLOY_ROUTER,
    "deploy with its migration files": DEPLOY_MIGRATION_FILES,
    "deploy with its migration": DEPLOY_MIGRATE,
    "deploy with its watch": DEPLOY_WATCH,
    "deploy now": DEPLOY_NOW,
    "deploy now, command target": DEPLOY_NOW_COMMAND,
    "deploy now, watched": DEPLOY_WATCHED,
    "rollback": ROLLBACK,
    "rollback, nothing recorded before": ROLLBACK_FIRST,
}


def _text(plan: dict[str, Any]) -> str:
    return json.dumps(plan, sort_keys=True)


@pytest.mark.parametrize("stored", SHAPES.values(), ids=SHAPES.keys())
def test_each_stored_shape_is_written_again_as_it_was(stored: dict[str, Any]) -> None:
    again = DeploymentPlan.from_json(json.loads(json.dumps(stored))).to_json()
    assert _text(again) == _text(stored)
    assert list(again) == list(stored)  # in the order it was stored, too


@pytest.mark.parametrize(
    ("stored", "missing"),
    [
        (DEPLOY_FIRST, {"router", "migration_files", "migrate", "watch"}),
        (DEPLOY_ROUTER, {"migration_files", "migrate", "watch"}),
        (DEPLOY_MIGRATION_FILES, {"migrate", "watch"}),
        (DEPLOY_MIGRATE, {"watch"}),
        (DEPLOY_WATCH, {"migrate"}),
        (DEPLOY_NOW, set()),
        (ROLLBACK, set()),
    ],
)
def test_a_plan_knows_the_keys_it_was_stored_without(
    stored: dict[str, Any], missing: set[str]
) -> None:
    plan = DeploymentPlan.from_json(stored)
    assert plan.missing == missing
    assert [k for k in plan.keys if plan.recorded(k)] == list(stored)


def test_an_old_plan_reads_with_the_defaults_its_readers_assumed() -> None:
    plan = DeploymentPlan.from_json(DEPLOY_FIRST)
    assert plan.router is None  # the built-in router
    assert plan.migration_files == {}  # every migration file is new
    assert plan.migrate is None and not plan.recorded("migrate")  # the spec says, if any
    assert plan.watch == {"analysis": [], "window": 0.0}  # nothing watched
    assert "baselines" not in plan.watch
    assert not plan.direct and plan.rollback_of is None
    assert plan.stable is None and plan.canary == SIDE_FIRST
    assert plan.canary.get("target") is None  # a process target
    assert plan.canary.get("artifact") is None  # run from the project's folder


def test_a_rollback_reads_as_one() -> None:
    plan = DeploymentPlan.from_json(ROLLBACK)
    assert plan.direct and plan.rollback_of == "d0123456789a"
    assert plan.analysis == {} and plan.watch == {"analysis": [], "window": 0.0}
    assert plan.migration_files == {} and plan.migrate is None
    assert not plan.recorded("migrate") and not plan.recorded("watch")


def test_each_pool_has_its_side() -> None:
    plan = DeploymentPlan.from_json(DEPLOY_ROUTER)
    assert plan.side(Pool.STABLE) == SIDE_FIRST
    assert plan.side(Pool.CANARY) == SIDE_TARGET
    assert DeploymentPlan.from_json(DEPLOY_FIRST).side(Pool.STABLE) is None


def test_keys_of_no_shape_are_kept_as_read() -> None:
    stored = {**DEPLOY_NOW, "rollout_hint": {"from": "a newer version"}}
    assert _text(DeploymentPlan.from_json(stored).to_json()) == _text(stored)


def test_a_deploy_is_recorded_as_before() -> None:
    """What `deploy.create` records, field by field, is the dict it recorded before."""
    side: Side = json.loads(json.dumps(SIDE_ARTIFACT))
    plan = DeploymentPlan(
        pools={"stable": "blue", "canary": "green"},
        strategy=STRATEGY,
        analysis={"errors": TEMPLATE},
        readiness_path=side["readiness_path"],
        router="builtin",
        stable=None,
        canary=side,
        migration_files={"migrations/001.sql": "e3b0c4"},
        migrate="./migrate.sh",
        watch={"analysis": ["errors"], "window": 600.0},
    )
    before = {
        "pools": {"stable": "blue", "canary": "green"},
        "strategy": STRATEGY,
        "analysis": {"errors": TEMPLATE},
        "readiness_path": side["readiness_path"],
        "router": "builtin",
        "stable": None,
        "canary": side,
        "migration_files": {"migrations/001.sql": "e3b0c4"},
        "migrate": "./migrate.sh",
        "watch": {"analysis": ["errors"], "window": 600.0},
    }
    assert json.dumps(plan.to_json()) == json.dumps(before)


def test_a_rollback_is_recorded_as_before() -> None:
    """What `deploy.create_rollback` records is the dict it recorded before."""
    side: Side = json.loads(json.dumps(SIDE_ARTIFACT))
    plan = DeploymentPlan(
        pools={"stable": "green", "canary": "blue"},
        strategy=STRATEGY,
        analysis={},
        readiness_path=side.get("readiness_path"),
        router="nginx",
        direct=True,
        rollback_of=None,
        stable=None,
        canary=side,
    )
    before = {
        "pools": {"stable": "green", "canary": "blue"},
        "strategy": STRATEGY,
        "analysis": {},
        "readiness_path": side.get("readiness_path"),
        "router": "nginx",
        "direct": True,
        "rollback_of": None,
        "stable": None,
        "canary": side,
    }
    assert json.dumps(plan.to_json()) == json.dumps(before)


def test_the_baselines_of_the_watch_are_added_as_before() -> None:
    """The controller's rewrite at a success: the watch's baselines beside the watch."""
    plan = DeploymentPlan.from_json(DEPLOY_NOW)
    watched = replace(plan, watch={**plan.watch, "baselines": BASELINES})
    before = {**DEPLOY_NOW, "watch": {**DEPLOY_NOW["watch"], "baselines": BASELINES}}
    assert json.dumps(watched.to_json()) == json.dumps(before)
    assert plan.to_json() == DEPLOY_NOW  # the plan read is as it was
