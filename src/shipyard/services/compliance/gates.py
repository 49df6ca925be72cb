"""Gates at deploy time: gather each fact from the store and the event log, then let the pure
policy decide. A fact that cannot be found is left out, so its gate fails closed and says why.
"""

from __future__ import annotations

import contextlib
import json
import os
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypedDict

from shipyard.domain import gates as g
from shipyard.errors import ShipyardError
from shipyard.ports.commands import Commands
from shipyard.services.compliance import approvals, vulns
from shipyard.services.coordination import breakglass, freezes, locks
from shipyard.services.coordination.coordination import (
    ReleaseFacts,
    environment,
    find_release,
    latest_deployment,
    latest_version,
    parse_ts,
)
from shipyard.store.uow import Store, UnitOfWork

if TYPE_CHECKING:
    from shipyard.spec.models import Spec

PASSED = frozenset({"success", "succeeded", "passed"})


def policy_for(spec: Spec, env: str) -> g.GatePolicy:
    return g.parse_policy(environment(spec, env).gates)


def runs_commands(spec: Spec, env: str) -> bool:
    """Whether ``env``'s gates run commands (which need the project's code)."""
    return any(isinstance(gate, g.CustomGate) for gate in policy_for(spec, env).gates)


def default_version(store: Store, spec: Spec, env: str) -> str | None:
    """What would be promoted: the version live in the previous environment, else the newest."""
    source = environment(spec, env).promote_from
    with store.read() as uow:
        if source:
            e = latest_deployment(uow, spec.project, source)
            if e is not None:
                return str(e.payload.get("version"))
        return latest_version(uow, spec.project)


def _tests(uow: UnitOfWork, project: str, release: ReleaseFacts) -> g.TestRun | None:
    if release.run_id is None:
        return None
    subject = f"run:{release.run_id}"
    finished = uow.events.query(project=project, kind="run.finished", subject=subject)
    if not finished:
        return None
    status = str(finished[-1].payload.get("status", ""))
    # A run answered by the up-to-date check has no step events: its steps are an earlier run's.
    # Cached steps have none either: run.finished counts every step.
    same_as = finished[-1].payload.get("same_as")
    steps_of = f"run:{same_as}" if same_as is not None else subject
    steps = uow.events.query(project=project, kind="step.finished", subject=steps_of)
    failed = sum(1 for s in steps if s.payload.get("status") == "failure")
    total = int(finished[-1].payload.get("steps", len(steps)))
    started = uow.events.query(project=project, kind="run.started", subject=subject)
    # An empty commit (a run over an uncommitted tree) pins nothing, so it is not compared.
    revision = (started[-1].payload.get("commit") or None) if started else None
    return g.TestRun(
        run_id=release.run_id,
        passed=status in PASSED,
        failed=failed,
        total=total,
        revision=revision,
    )


def _sbom(store: Store, release: ReleaseFacts) -> Any | None:
    """The SBOM published with the artifact: its CAS digest in the event, or given inline."""
    payload = release.published.payload
    ref = payload.get("sbom", payload.get("sbom_digest"))
    if ref is None:
        return None
    if not isinstance(ref, str):
        return ref  # components listed in the event itself
    from shipyard.errors import NotFound

    try:
        return json.loads(store.blobs.get_bytes(ref, verify=False).decode("utf-8"))
    except NotFound:
        return None


def _vulnerabilities(
    store: Store, uow: UnitOfWork, release: ReleaseFacts
) -> g.VulnerabilityScan | None:
    sbom = _sbom(store, release)
    if sbom is None:
        return None
    index, snapshot, count = vulns.load(uow)
    if count == 0:
        return None  # no advisories imported: a clean scan would prove nothing
    from shipyard.domain.vulnerabilities import scan

    result = scan(vulns.components_from_sbom(sbom), index)
    ref = release.published.payload.get("sbom")
    return g.VulnerabilityScan(result.findings, snapshot, ref if isinstance(ref, str) else None)


def _signature(store: Store, project: str, release: ReleaseFacts) -> g.SignatureStatus | None:
    """The artifacts capability's own verification of bytes, provenance and signature."""
    from shipyard.errors import ShipyardError

    try:
        from shipyard.services.releases import artifacts
    except ImportError:
        return None
    verify = getattr(artifacts, "verify", None)
    if verify is None:
        return None
    try:
        out = verify(store, project, f"{release.name}@{release.version}")
    except ShipyardError:
        return None  # not registered there: the fact is missing, and the gate says so
    failed = [c for c in out.get("checks", []) if not c.get("ok")]
    detail = "; ".join(str(c.get("detail") or c.get("name")) for c in failed)
    return g.SignatureStatus(bool(out.get("ok")), out.get("signer"), detail)


def _soak(uow: UnitOfWork, spec: Spec, env: str, version: str) -> g.SoakStatus | None:
    source = environment(spec, env).promote_from
    if not source:
        return None
    e = latest_deployment(uow, spec.project, source, version)
    return g.SoakStatus(source, parse_ts(e.ts) if e is not None else None)


def _secret_env(spec: Spec, env: str, root: Path) -> tuple[dict[str, str], list[str]]:
    """The environment's config and secrets as variables for a gate command, and the secret
    values to mask; a secret that cannot be read is left out (the command says if it needs it)."""
    from shipyard.services.deployments import deploy_plan as dp

    config, refs = dp.config_of(spec, env)
    values: dict[str, str] = {}
    for name, ref in refs.items():
        with contextlib.suppress(ShipyardError):
            values.update(dp.resolve_secrets({name: ref}, root))
    return {**config, **values}, list(values.values())


def run_command(
    gate: g.CustomGate,
    spec: Spec,
    env: str,
    version: str,
    root: Path,
    commands: Commands | None = None,
) -> g.CommandResult:
    """Run a custom gate's command in the project folder with a timeout (through ``commands``,
    the shell's unless given); its output and errors come back as one text with every secret
    value masked. The whole process group stops at the timeout."""
    from shipyard.adapters.commands import ShellCommands
    from shipyard.adapters.targets.base import mask

    variables, secret_values = _secret_env(spec, env, root)
    environ = {
        **os.environ,
        **variables,
        "SHIPYARD_ENVIRONMENT": env,
        "SHIPYARD_VERSION": version,
        "SHIPYARD_GATE": gate.gate_name,
    }
    limit = gate.timeout.total_seconds()
    try:
        ran = (commands or ShellCommands()).run(
            gate.run, cwd=root, env=environ, timeout=limit, merge=True
        )
    except OSError as exc:
        return g.CommandResult(gate.gate_name, 127, mask(f"could not start: {exc}", secret_values))
    text = ran.stdout.decode("utf-8", "replace")
    return g.CommandResult(
        gate.gate_name,
        ran.status if not ran.timed_out else 124,
        mask(text, secret_values),
        timed_out=ran.timed_out,
    )


def _commands(
    policy: g.GatePolicy,
    spec: Spec,
    env: str,
    version: str,
    root: Path | None,
    commands: Commands | None,
) -> tuple[g.CommandResult, ...]:
    where = root or Path.cwd()
    return tuple(
        run_command(gate, spec, env, version, where, commands)
        for gate in policy.gates
        if isinstance(gate, g.CustomGate)
    )


def check(
    store: Store,
    spec: Spec,
    env: str,
    version: str,
    actor: str,
    now: datetime,
    root: Path | None = None,
    commands: Commands | None = None,
) -> g.Verdict:
    """The verdict of ``env``'s gates for deploying ``version`` as ``actor`` at ``now``, on the
    facts they look at; custom gate commands run in ``root`` (the project folder) through
    ``commands`` (the shell's unless given)."""
    policy = policy_for(spec, env)
    ran = _commands(policy, spec, env, version, root, commands)
    with store.read() as uow:
        release = find_release(uow, spec.project, version)
        lock_row = locks._row(uow, spec.project, env, now)
        facts = g.GateFacts(
            environment=env,
            release=g.Release(version, release.digest, release.commit),
            now=now,
            deployer=actor,
            authors=release.authors,
            tests=_tests(uow, spec.project, release),
            vulnerabilities=_vulnerabilities(store, uow, release),
            approvals=tuple(approvals.for_release(uow, spec.project, env, version)),
            freeze=freezes.gate_status(store, spec, env, now),
            lock=g.DeployLock(lock_row.held_by, lock_row.reason, parse_ts(lock_row.created_at))
            if lock_row is not None
            else None,
            signature=_signature(store, spec.project, release),
            soak=_soak(uow, spec, env, version),
            commands=ran,
            overrides=breakglass.for_environment(uow, spec.project, env),
        )
    return g.evaluate(policy, facts)


class GateOut(TypedDict):
    name: str
    passed: bool
    reason: str
    overridden_by: str | None  # the break-glass override that let it pass
    details: dict[str, Any]  # as JSON has it


class VerdictOut(TypedDict):
    """An environment's gates for deploying a version: `shipyard gates check`."""

    environment: str
    version: str
    passed: bool
    gates: list[GateOut]


def verdict_dict(verdict: g.Verdict, env: str, version: str) -> VerdictOut:
    return {
        "environment": env,
        "version": version,
        "passed": verdict.passed,
        "gates": [
            {
                "name": r.name,
                "passed": r.passed,
                "reason": r.reason,
                "overridden_by": r.overridden.override_id if r.overridden else None,
                "details": json.loads(json.dumps(dict(r.details), default=str)),
            }
            for r in verdict.gates
        ],
    }


def record_use(
    store: Store, spec: Spec, env: str, version: str, actor: str, verdict: g.Verdict
) -> None:
    """For the deploy service: each break-glass a passing verdict relied on becomes an event."""
    if not verdict.passed:
        return
    with store.begin() as uow:
        for r in verdict.overridden:
            use = r.overridden
            assert use is not None
            uow.events.append(
                "break-glass.used",
                f"break-glass:{use.override_id}",
                actor,
                {
                    "environment": env,
                    "version": version,
                    "gate": r.name,
                    "would_have_failed": use.failed_reason,
                    "incident": use.incident,
                },
                project=spec.project,
            )
