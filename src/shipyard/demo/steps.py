"""`shipyard demo`: a bundled sample service walked through Shipyard, one step per capability.

Each capability appends a step to STEPS; a step gets the context and returns report lines.
"""

from __future__ import annotations

from collections.abc import Callable

from shipyard.demo.context import ACTOR, DemoContext, prepare

__all__ = ["STEPS", "prepare"]  # the CLI prepares a context, then runs the steps


def step_validate(ctx: DemoContext) -> list[str]:
    from shipyard.services.compliance.audit import ensure_project
    from shipyard.spec.load import check_file

    ctx.spec = check_file(ctx.root / "shipyard.yaml")  # as `shipyard validate` checks it
    with ctx.store.begin() as uow:
        ensure_project(uow, ctx.spec.project)
        uow.events.append(
            "project.registered",
            f"project:{ctx.spec.project}",
            ACTOR,
            {"jobs": sorted(ctx.spec.pipeline.jobs), "environments": sorted(ctx.spec.environments)},
            project=ctx.spec.project,
        )
    return [
        f"shipyard.yaml valid: project {ctx.spec.project}, {len(ctx.spec.pipeline.jobs)} jobs, "
        f"environments {' -> '.join(ctx.spec.environments)}"
    ]


def step_audit(ctx: DemoContext) -> list[str]:
    from shipyard.services.compliance import audit

    cp = audit.checkpoint(ctx.store, ACTOR)
    result = audit.verify_or_raise(ctx.store).to_dict()
    last = result["tree_size"] - 1
    proof = audit.prove_inclusion(ctx.store, last)
    from shipyard.domain import merkle

    ok = merkle.verify_inclusion(
        bytes.fromhex(proof["leaf_hash"]),
        last,
        proof["tree_size"],
        [bytes.fromhex(h) for h in proof["audit_path"]],
        bytes.fromhex(proof["root_hash"]),
    )
    ctx.facts["audit"] = result
    return [
        f"audit log verified: {result['tree_size']} events, root {result['root_hash'][:16]}…",
        f"signed checkpoint at size {cp['tree_size']} (key {cp['key_id']})",
        f"inclusion proof for event {last}: {len(proof['audit_path'])} hashes, "
        f"{'verifies' if ok else 'DOES NOT VERIFY'}",
    ]


def step_pipeline(ctx: DemoContext) -> list[str]:
    from shipyard.demo.pipeline import step

    return step(ctx)


def step_release(ctx: DemoContext) -> list[str]:
    from shipyard.demo.release import step

    return step(ctx)


def step_deploy(ctx: DemoContext) -> list[str]:
    from shipyard.demo.deploy import step

    return step(ctx)


def step_coordination(ctx: DemoContext) -> list[str]:
    from shipyard.demo.coordination import step

    return step(ctx)


def step_hotfix(ctx: DemoContext) -> list[str]:
    from shipyard.demo.coordination import hotfix_step

    return hotfix_step(ctx)


def step_flags(ctx: DemoContext) -> list[str]:
    from shipyard.demo.flags import step

    return step(ctx)


STEPS: list[tuple[str, Callable[[DemoContext], list[str]]]] = [
    ("validate shipyard.yaml", step_validate),
    ("run the pipeline, then again from cache", step_pipeline),
    ("release the sample service: version, changelog, tag, artifact", step_release),
    ("freezes, trains and the production gates", step_coordination),
    ("deploy, then catch a bad canary and roll it back", step_deploy),
    (
        "cut a train; a freeze stops a hotfix until a second person approves break-glass",
        step_hotfix,
    ),
    ("a feature flag rolled out to the sample's users, then flipped off", step_flags),
    ("verify the audit log", step_audit),
]


def step_metrics(ctx: DemoContext) -> list[str]:
    from shipyard.demo.metrics import step_metrics as report

    return report(ctx)


STEPS.append(("DORA figures and build time of this demo", step_metrics))  # runs last
