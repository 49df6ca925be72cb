"""Gate policies: facts in, a verdict with reasons out.

A policy is the ``gates:`` list of an environment in shipyard.yaml. Each entry is a gate name
(``tests``) or a one-key mapping from the name to its options
(``{approval: {min: 2, not_author: true}}``). Gates are checked when a deploy starts, not when
the pipeline was created (gitlab#336354), so the caller gathers the facts at that moment and
passes them in, the current time included; nothing here reads a clock or a store.

Every gate fails closed: a fact the caller did not supply is a failing reason, not a pass.
A break-glass override turns named failing gates into passes, and the verdict says which
gates it overrode and who asked and approved.
"""

from __future__ import annotations

import difflib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from shipyard.domain.durations import DurationInvalid, parse_seconds
from shipyard.domain.vulnerabilities import Finding, Severity, parse_severity
from shipyard.errors import InputError

__all__ = [
    "GATE_KINDS",
    "Approval",
    "ApprovalGate",
    "CommandResult",
    "CustomGate",
    "DeployLock",
    "FreezeGate",
    "FreezeStatus",
    "Gate",
    "GateFacts",
    "GateInvalid",
    "GatePolicy",
    "GateResult",
    "GateUnknown",
    "LockGate",
    "Override",
    "OverrideUse",
    "Release",
    "SignatureGate",
    "SignatureStatus",
    "SoakGate",
    "SoakStatus",
    "TestRun",
    "TestsGate",
    "Verdict",
    "VulnerabilitiesGate",
    "VulnerabilityScan",
    "evaluate",
    "parse_duration",
    "parse_policy",
]


class GateUnknown(InputError):
    code = "gate-unknown"


class GateInvalid(InputError):
    code = "gate-invalid"


# -- facts --------------------------------------------------------------------------------


@dataclass(frozen=True)
class Release:
    """What is about to be deployed: the version and what pins its content."""

    version: str
    digest: str  # artifact digest, e.g. sha256:...
    revision: str | None = None  # source commit


@dataclass(frozen=True)
class TestRun:
    run_id: str
    passed: bool
    failed: int = 0
    total: int = 0
    revision: str | None = None  # the commit the run tested

    __test__ = False  # not a pytest test class despite the name


@dataclass(frozen=True)
class VulnerabilityScan:
    """Findings for the artifact's SBOM and the OSV snapshot they came from."""

    findings: tuple[Finding, ...]
    snapshot_id: str
    sbom_digest: str | None = None


@dataclass(frozen=True)
class Approval:
    approver: str
    release_digest: str  # the digest the approver saw; a later rebuild invalidates it
    at: datetime
    revision: str | None = None
    comment: str = ""


@dataclass(frozen=True)
class FreezeStatus:
    """What the calendar says for this environment at ``GateFacts.now``."""

    frozen: bool
    window: str | None = None
    until: datetime | None = None


@dataclass(frozen=True)
class DeployLock:
    held_by: str
    reason: str = ""
    since: datetime | None = None


@dataclass(frozen=True)
class SignatureStatus:
    """The outcome of verifying the artifact's provenance and signature."""

    verified: bool
    signer: str | None = None
    detail: str = ""


@dataclass(frozen=True)
class SoakStatus:
    """When this release reached the environment it is promoted from (None: never)."""

    environment: str
    deployed_at: datetime | None


@dataclass(frozen=True)
class CommandResult:
    name: str  # the custom gate's name
    exit_code: int
    output: str = ""  # the caller masks secrets in it
    timed_out: bool = False


@dataclass(frozen=True)
class Override:
    """A break-glass grant: lets a deploy pass the named gates until it expires."""

    id: str
    gates: frozenset[str]
    requested_by: str
    reason: str
    expires_at: datetime
    approved_by: str | None = None
    incident: str | None = None
    environment: str | None = None  # None: any environment


@dataclass(frozen=True)
class GateFacts:
    """Everything the gates look at, gathered by the caller at deploy time."""

    environment: str
    release: Release
    now: datetime
    deployer: str
    authors: frozenset[str] = frozenset()
    tests: TestRun | None = None
    vulnerabilities: VulnerabilityScan | None = None
    approvals: tuple[Approval, ...] = ()
    freeze: FreezeStatus | None = None
    lock: DeployLock | None = None  # None: nobody holds the environment's deploy lock
    signature: SignatureStatus | None = None
    soak: SoakStatus | None = None
    commands: tuple[CommandResult, ...] = ()
    overrides: tuple[Override, ...] = ()


# -- results ------------------------------------------------------------------------------


@dataclass(frozen=True)
class OverrideUse:
    """Who let a failing gate pass, under which grant, and what it would have said."""

    override_id: str
    requested_by: str
    approved_by: str
    reason: str
    expires_at: datetime
    failed_reason: str
    incident: str | None = None


@dataclass(frozen=True)
class GateResult:
    name: str
    passed: bool
    reason: str
    details: Mapping[str, Any] = field(default_factory=dict)
    overridden: OverrideUse | None = None


@dataclass(frozen=True)
class Verdict:
    passed: bool
    gates: tuple[GateResult, ...]

    @property
    def failures(self) -> tuple[GateResult, ...]:
        return tuple(g for g in self.gates if not g.passed)

    @property
    def overridden(self) -> tuple[GateResult, ...]:
        return tuple(g for g in self.gates if g.overridden is not None)

    def reasons(self) -> list[str]:
        """One line per gate, for CLI output and refusal messages."""
        lines = []
        for g in self.gates:
            mark = "overridden" if g.overridden else ("pass" if g.passed else "FAIL")
            lines.append(f"{g.name}: {mark}: {g.reason}")
        return lines


# -- gates --------------------------------------------------------------------------------


class Gate:
    """A policy entry. Subclasses hold options and judge one kind of fact."""

    kind: str = ""

    @property
    def name(self) -> str:
        return self.kind

    def check(self, facts: GateFacts) -> GateResult:
        raise NotImplementedError

    def _result(self, passed: bool, reason: str, **details: Any) -> GateResult:
        return GateResult(self.name, passed, reason, details)


@dataclass(frozen=True)
class TestsGate(Gate):
    kind = "tests"
    __test__ = False  # not a pytest test class despite the name

    def check(self, facts: GateFacts) -> GateResult:
        run = facts.tests
        if run is None:
            return self._result(False, f"no test run is recorded for {facts.release.version}")
        details = {"run_id": run.run_id, "failed": run.failed, "total": run.total}
        if (
            run.revision is not None
            and facts.release.revision is not None
            and run.revision != facts.release.revision
        ):
            return self._result(
                False,
                f"run {run.run_id} tested {run.revision}, not {facts.release.revision}",
                **details,
            )
        if not run.passed:
            return self._result(
                False, f"run {run.run_id} failed ({run.failed} of {run.total} failed)", **details
            )
        return self._result(True, f"run {run.run_id} passed", **details)


@dataclass(frozen=True)
class VulnerabilitiesGate(Gate):
    """No known vulnerability at or above ``severity``; ``ignore`` names accepted ids."""

    kind = "vulnerabilities"
    severity: Severity = Severity.HIGH
    ignore: frozenset[str] = frozenset()
    # Many OSV records carry no severity; unless told otherwise, treat those as blocking.
    block_unknown: bool = True

    def check(self, facts: GateFacts) -> GateResult:
        scan = facts.vulnerabilities
        if scan is None:
            return self._result(False, "no SBOM scan is recorded for this artifact")
        blocking: list[Finding] = []
        ignored: list[str] = []
        for f in scan.findings:
            if f.names & self.ignore:
                ignored.append(f.id)
            elif (f.severity is None and self.block_unknown) or (
                f.severity is not None and f.severity >= self.severity
            ):
                blocking.append(f)
        details = {
            "snapshot_id": scan.snapshot_id,
            "threshold": self.severity.label,
            "blocking": [_finding_summary(f) for f in blocking],
            "ignored": ignored,
            "total": len(scan.findings),
        }
        if blocking:
            shown = ", ".join(
                f"{f.id} ({f.severity.label if f.severity else 'unknown severity'}) "
                f"in {f.component.name} {f.component.version}"
                for f in blocking[:3]
            )
            more = f" and {len(blocking) - 3} more" if len(blocking) > 3 else ""
            return self._result(
                False,
                f"{len(blocking)} finding(s) at or above {self.severity.label}: {shown}{more}",
                **details,
            )
        return self._result(
            True,
            f"no finding at or above {self.severity.label} "
            f"({len(scan.findings)} total, OSV snapshot {scan.snapshot_id})",
            **details,
        )


def _finding_summary(f: Finding) -> dict[str, Any]:
    return {
        "id": f.id,
        "aliases": list(f.aliases),
        "package": f.component.name,
        "version": f.component.version,
        "severity": f.severity.label if f.severity else None,
        "fixed": f.fixed,
    }


@dataclass(frozen=True)
class ApprovalGate(Gate):
    """``min`` distinct approvers of this exact release.

    With ``not_author``, neither an author of the change nor the person deploying it counts
    (separation of duties). An approval given for another digest or revision does not count
    either: the release changed after it was approved (growthbook#5477).
    """

    kind = "approval"
    min: int = 1
    not_author: bool = False

    def check(self, facts: GateFacts) -> GateResult:
        valid: list[str] = []
        rejected: list[str] = []
        release = facts.release
        for a in facts.approvals:
            if a.approver in valid:
                continue
            if a.release_digest != release.digest:
                rejected.append(f"{a.approver} approved {a.release_digest}, not {release.digest}")
            elif (
                a.revision is not None
                and release.revision is not None
                and a.revision != release.revision
            ):
                rejected.append(f"{a.approver} approved revision {a.revision}")
            elif self.not_author and a.approver in facts.authors:
                rejected.append(f"{a.approver} is an author of the change")
            elif self.not_author and a.approver == facts.deployer:
                rejected.append(f"{a.approver} is deploying it")
            else:
                valid.append(a.approver)
        details = {"approvers": valid, "rejected": rejected, "required": self.min}
        if len(valid) >= self.min:
            return self._result(
                True, f"{len(valid)} of {self.min} approval(s): {', '.join(valid)}", **details
            )
        why = f"; not counted: {'; '.join(rejected)}" if rejected else ""
        return self._result(
            False, f"{len(valid)} of {self.min} required approval(s){why}", **details
        )


@dataclass(frozen=True)
class FreezeGate(Gate):
    kind = "freeze"

    def check(self, facts: GateFacts) -> GateResult:
        status = facts.freeze
        if status is None:
            return self._result(False, "no freeze calendar status was supplied")
        if not status.frozen:
            return self._result(True, f"{facts.environment} is not frozen")
        until = f" until {status.until.isoformat()}" if status.until else ""
        window = f" by {status.window!r}" if status.window else ""
        return self._result(
            False,
            f"{facts.environment} is frozen{window}{until}",
            window=status.window,
            until=status.until.isoformat() if status.until else None,
        )


@dataclass(frozen=True)
class LockGate(Gate):
    kind = "lock"

    def check(self, facts: GateFacts) -> GateResult:
        lock = facts.lock
        if lock is None:
            return self._result(True, f"{facts.environment} is not locked")
        if lock.held_by == facts.deployer:
            return self._result(True, f"the deploy lock is held by the deployer {lock.held_by}")
        why = f": {lock.reason}" if lock.reason else ""
        return self._result(
            False,
            f"{facts.environment} is locked by {lock.held_by}{why}",
            held_by=lock.held_by,
            since=lock.since.isoformat() if lock.since else None,
        )


@dataclass(frozen=True)
class SignatureGate(Gate):
    """Provenance verified; with ``signers``, only those identities are trusted."""

    kind = "signature"
    signers: frozenset[str] = frozenset()

    def check(self, facts: GateFacts) -> GateResult:
        sig = facts.signature
        if sig is None:
            return self._result(False, "no provenance verification is recorded")
        if not sig.verified:
            return self._result(
                False, f"provenance does not verify: {sig.detail or 'no detail'}", signer=sig.signer
            )
        if self.signers and sig.signer not in self.signers:
            return self._result(
                False, f"signed by {sig.signer}, who is not a trusted signer", signer=sig.signer
            )
        return self._result(True, f"provenance verified (signer {sig.signer})", signer=sig.signer)


@dataclass(frozen=True)
class SoakGate(Gate):
    """The release spent at least ``duration`` in the environment it is promoted from."""

    kind = "soak"
    duration: timedelta = timedelta(hours=1)

    def check(self, facts: GateFacts) -> GateResult:
        soak = facts.soak
        if soak is None or soak.deployed_at is None:
            where = f" to {soak.environment}" if soak else " to the previous environment"
            return self._result(False, f"{facts.release.version} was never deployed{where}")
        elapsed = facts.now - soak.deployed_at
        details = {
            "environment": soak.environment,
            "elapsed_seconds": elapsed.total_seconds(),
            "required_seconds": self.duration.total_seconds(),
        }
        if elapsed >= self.duration:
            return self._result(
                True,
                f"{_fmt(elapsed)} in {soak.environment} (needs {_fmt(self.duration)})",
                **details,
            )
        return self._result(
            False,
            f"only {_fmt(elapsed)} in {soak.environment}; needs {_fmt(self.duration)}, "
            f"ready at {(soak.deployed_at + self.duration).isoformat()}",
            **details,
        )


@dataclass(frozen=True)
class CustomGate(Gate):
    """A command the caller runs (and stops after ``timeout``); exit status 0 passes."""

    kind = "custom"
    gate_name: str = ""
    run: str = ""
    timeout: timedelta = timedelta(minutes=5)

    @property
    def name(self) -> str:
        return self.gate_name

    def check(self, facts: GateFacts) -> GateResult:
        result = next((c for c in facts.commands if c.name == self.gate_name), None)
        if result is None:
            return self._result(False, f"command {self.run!r} was not run")
        # The tail is where commands usually say why they failed.
        tail = result.output[-2000:]
        if result.timed_out:
            return self._result(
                False,
                f"{self.run!r} did not finish within {int(self.timeout.total_seconds())}s",
                exit_code=result.exit_code,
                output=tail,
            )
        if result.exit_code == 0:
            return self._result(True, f"{self.run!r} exited 0", exit_code=0, output=tail)
        return self._result(
            False,
            f"{self.run!r} exited {result.exit_code}",
            exit_code=result.exit_code,
            output=tail,
        )


GATE_KINDS: dict[str, type[Gate]] = {
    g.kind: g
    for g in (
        TestsGate,
        VulnerabilitiesGate,
        ApprovalGate,
        FreezeGate,
        LockGate,
        SignatureGate,
        SoakGate,
        CustomGate,
    )
}


# -- parsing ------------------------------------------------------------------------------


def parse_duration(text: str | int | float) -> timedelta:
    """``90s``, ``30m``, ``2h``, ``1d``, ``1h30m`` (``domain/durations.py``); a bare number is
    seconds."""
    try:
        return timedelta(seconds=parse_seconds(text))
    except DurationInvalid as exc:
        raise GateInvalid(exc.message, "write a duration like 30m, 2h or 1d") from exc


def _fmt(delta: timedelta) -> str:
    total = int(delta.total_seconds())
    if total < 0:
        return f"-{_fmt(-delta)}"
    days, rest = divmod(total, 86400)
    hours, rest = divmod(rest, 3600)
    minutes, seconds = divmod(rest, 60)
    parts = [f"{v}{u}" for v, u in ((days, "d"), (hours, "h"), (minutes, "m")) if v]
    if seconds or not parts:
        parts.append(f"{seconds}s")
    return "".join(parts)


def _did_you_mean(word: str, choices: Sequence[str]) -> str:
    close = difflib.get_close_matches(word, choices, n=1, cutoff=0.6)
    known = ", ".join(sorted(choices))
    return f"did you mean {close[0]!r}? known: {known}" if close else f"known: {known}"


_OPTIONS: dict[str, tuple[str, ...]] = {
    "tests": (),
    "vulnerabilities": ("severity", "ignore", "block_unknown"),
    "approval": ("min", "not_author"),
    "freeze": (),
    "lock": (),
    "signature": ("signers",),
    "soak": ("duration",),
    "custom": ("name", "run", "timeout"),
}


def _bool(kind: str, key: str, value: Any) -> bool:
    if not isinstance(value, bool):
        raise GateInvalid(f"{kind}.{key} must be true or false, not {value!r}")
    return value


def _names(kind: str, key: str, value: Any) -> frozenset[str]:
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise GateInvalid(f"{kind}.{key} must be a list of strings")
    return frozenset(value)


def _build(kind: str, options: Mapping[str, Any]) -> Gate:
    allowed = _OPTIONS[kind]
    for key in options:
        if key not in allowed:
            hint = _did_you_mean(str(key), allowed) if allowed else f"{kind} takes no options"
            raise GateInvalid(f"unknown option {key!r} for gate {kind!r}", hint)
    if kind == "vulnerabilities":
        try:
            severity = parse_severity(str(options.get("severity", "high")))
        except InputError as exc:
            raise GateInvalid(f"vulnerabilities.severity: {exc.message}", exc.hint) from exc
        return VulnerabilitiesGate(
            severity=severity,
            ignore=_names(kind, "ignore", options.get("ignore", [])),
            block_unknown=_bool(kind, "block_unknown", options.get("block_unknown", True)),
        )
    if kind == "approval":
        minimum = options.get("min", 1)
        if isinstance(minimum, bool) or not isinstance(minimum, int) or minimum < 1:
            raise GateInvalid(f"approval.min must be a whole number of at least 1, not {minimum!r}")
        return ApprovalGate(
            min=minimum, not_author=_bool(kind, "not_author", options.get("not_author", False))
        )
    if kind == "signature":
        return SignatureGate(signers=_names(kind, "signers", options.get("signers", [])))
    if kind == "soak":
        return SoakGate(duration=parse_duration(options.get("duration", "1h")))
    if kind == "custom":
        name, run = options.get("name"), options.get("run")
        if not isinstance(name, str) or not name or not isinstance(run, str) or not run:
            raise GateInvalid(
                "a custom gate needs a name and a command",
                "write {custom: {name: smoke, run: ./smoke.sh}}",
            )
        if name in GATE_KINDS:
            raise GateInvalid(
                f"custom gate name {name!r} is the name of a built-in gate", "pick another name"
            )
        timeout = parse_duration(options.get("timeout", "5m"))
        if timeout <= timedelta(0):
            raise GateInvalid(f"custom gate {name!r}: timeout must be longer than 0")
        return CustomGate(gate_name=name, run=run, timeout=timeout)
    return GATE_KINDS[kind]()


@dataclass(frozen=True)
class GatePolicy:
    gates: tuple[Gate, ...] = ()

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(g.name for g in self.gates)


def parse_policy(entries: Sequence[str | Mapping[str, Any]] | None) -> GatePolicy:
    """The ``gates:`` list of an environment as a policy.

    Accepts ``"tests"``, ``{approval: {min: 1, not_author: true}}``, ``{soak: 30m}`` (the
    one option of a gate given directly) and ``{freeze: null}``.
    """
    if entries is None:
        return GatePolicy()
    if isinstance(entries, str | bytes) or not isinstance(entries, Sequence):
        raise GateInvalid("gates must be a list", "write gates: [tests, vulnerabilities]")
    gates: list[Gate] = []
    for entry in entries:
        options: dict[str, Any]
        if isinstance(entry, str):
            kind, options = entry, {}
        elif isinstance(entry, Mapping) and len(entry) == 1:
            ((kind, raw),) = entry.items()
            if raw is None:
                options = {}
            elif isinstance(raw, Mapping):
                options = dict(raw)
            elif kind == "soak":
                options = {"duration": raw}
            elif kind == "approval" and isinstance(raw, int):
                options = {"min": raw}
            else:
                raise GateInvalid(f"options of gate {kind!r} must be a mapping, not {raw!r}")
        else:
            raise GateInvalid(
                f"a gate is a name or a one-key mapping, not {entry!r}",
                "write tests or {approval: {min: 1}}",
            )
        if not isinstance(kind, str) or kind not in GATE_KINDS:
            raise GateUnknown(f"unknown gate {kind!r}", _did_you_mean(str(kind), list(GATE_KINDS)))
        gate = _build(kind, options)
        if gate.name in (g.name for g in gates):
            raise GateInvalid(f"gate {gate.name!r} is listed twice", "list each gate once")
        gates.append(gate)
    return GatePolicy(tuple(gates))


# -- evaluation ---------------------------------------------------------------------------


def evaluate(policy: GatePolicy, facts: GateFacts) -> Verdict:
    """Check every gate of the policy in order; the verdict passes when all of them pass."""
    results: list[GateResult] = []
    for gate in policy.gates:
        result = gate.check(facts)
        if not result.passed:
            result = _apply_overrides(result, facts)
        results.append(result)
    return Verdict(all(r.passed for r in results), tuple(results))


def _apply_overrides(result: GateResult, facts: GateFacts) -> GateResult:
    unusable: list[str] = []
    for override in facts.overrides:
        if result.name not in override.gates:
            continue
        if override.environment is not None and override.environment != facts.environment:
            continue
        approver = override.approved_by
        if approver is None:
            unusable.append(f"break-glass {override.id} is not approved")
        elif approver == override.requested_by:
            # Separation of duties holds for the emergency path too.
            unusable.append(f"break-glass {override.id} was approved by its own requester")
        elif facts.now >= override.expires_at:
            unusable.append(
                f"break-glass {override.id} expired at {override.expires_at.isoformat()}"
            )
        else:
            use = OverrideUse(
                override_id=override.id,
                requested_by=override.requested_by,
                approved_by=approver,
                reason=override.reason,
                expires_at=override.expires_at,
                failed_reason=result.reason,
                incident=override.incident,
            )
            return GateResult(
                result.name,
                True,
                f"overridden by break-glass {override.id} (requested by "
                f"{override.requested_by}, approved by {approver}: {override.reason}); "
                f"would have failed: {result.reason}",
                result.details,
                use,
            )
    if not unusable:
        return result
    return GateResult(result.name, False, f"{result.reason}; {'; '.join(unusable)}", result.details)
