"""Gate policies: parsing the shipyard.yaml list, each gate's judgement, break-glass overrides."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from shipyard.domain.gates import (
    Approval,
    ApprovalGate,
    CommandResult,
    CustomGate,
    DeployLock,
    FreezeStatus,
    GateFacts,
    GateInvalid,
    GateUnknown,
    Override,
    Release,
    SignatureStatus,
    SoakGate,
    SoakStatus,
    TestRun,
    VulnerabilitiesGate,
    VulnerabilityScan,
    evaluate,
    parse_duration,
    parse_policy,
)
from shipyard.domain.vulnerabilities import Component, Finding, Severity

NOW = datetime(2026, 3, 10, 12, 0, tzinfo=UTC)
DIGEST = "sha256:" + "a" * 64
OLD_DIGEST = "sha256:" + "b" * 64


def finding(fid: str, severity: Severity | None, aliases: tuple[str, ...] = ()) -> Finding:
    """A finding in a fixed component."""
    return Finding(fid, aliases, Component("PyPI", "requests", "2.19.0"), severity, fixed="2.20.0")


FACTS = GateFacts(
    environment="production",
    release=Release("1.4.0", DIGEST, "c0ffee"),
    now=NOW,
    deployer="dana",
    authors=frozenset({"alice"}),
    tests=TestRun("run-41", passed=True, failed=0, total=120, revision="c0ffee"),
    vulnerabilities=VulnerabilityScan((finding("GHSA-low", Severity.LOW),), "osv-2026-03-10"),
    approvals=(Approval("bob", DIGEST, NOW - timedelta(minutes=5)),),
    freeze=FreezeStatus(frozen=False),
    lock=None,
    signature=SignatureStatus(verified=True, signer="ci@example.com"),
    soak=SoakStatus("staging", NOW - timedelta(hours=3)),
    commands=(CommandResult("smoke", 0, "ok\n"),),
)

# The production gates of DESIGN.md plus the rest, with options.
FULL_POLICY: list[Any] = [
    "tests",
    "vulnerabilities",
    {"approval": {"min": 1, "not_author": True}},
    "freeze",
    "lock",
    {"signature": {"signers": ["ci@example.com"]}},
    {"soak": {"duration": "2h"}},
    {"custom": {"name": "smoke", "run": "./smoke.sh"}},
]


def test_all_gates_pass_on_good_facts() -> None:
    """With every fact in order, each gate passes and so does the verdict."""
    verdict = evaluate(parse_policy(FULL_POLICY), FACTS)
    assert verdict.passed, verdict.reasons()
    assert [g.name for g in verdict.gates] == [
        "tests",
        "vulnerabilities",
        "approval",
        "freeze",
        "lock",
        "signature",
        "soak",
        "smoke",
    ]
    assert verdict.overridden == ()


def test_empty_policy_passes() -> None:
    """An environment without gates lets every deploy through."""
    assert evaluate(parse_policy([]), FACTS).passed
    assert evaluate(parse_policy(None), FACTS).gates == ()


@pytest.mark.parametrize(
    ("entries", "expected"),
    [
        (["tests"], [("tests", {})]),
        ([{"approval": {"min": 2, "not_author": True}}], [("approval", {"min": 2})]),
        ([{"approval": 3}], [("approval", {"min": 3})]),
        ([{"soak": "30m"}], [("soak", {"duration": timedelta(minutes=30)})]),
        ([{"freeze": None}], [("freeze", {})]),
        ([{"vulnerabilities": {"severity": "critical"}}], [("vulnerabilities", {})]),
        ([{"custom": {"name": "smoke", "run": "x"}}], [("smoke", {"run": "x"})]),
    ],
)
def test_parse_policy_shapes(
    entries: list[Any], expected: list[tuple[str, dict[str, Any]]]
) -> None:
    """Names, one-key mappings of options, a bare option value and null all parse."""
    policy = parse_policy(entries)
    assert list(policy.names) == [name for name, _ in expected]
    for gate, (_, attrs) in zip(policy.gates, expected, strict=True):
        for attr, value in attrs.items():
            assert getattr(gate, attr) == value


def test_parse_policy_options_reach_the_gates() -> None:
    """Options of the DESIGN.md gate list end up on the gate objects."""
    gates = parse_policy(FULL_POLICY).gates
    assert gates[2] == ApprovalGate(min=1, not_author=True)
    assert gates[6] == SoakGate(duration=timedelta(hours=2))
    assert gates[7] == CustomGate(gate_name="smoke", run="./smoke.sh")
    assert VulnerabilitiesGate().severity is Severity.HIGH


@pytest.mark.parametrize(
    ("entry", "suggestion"),
    [("aproval", "'approval'"), ("test", "'tests'"), ("vulns", "known:"), ("frezee", "'freeze'")],
)
def test_unknown_gate_has_code_and_did_you_mean(entry: str, suggestion: str) -> None:
    """An unknown gate name raises gate-unknown whose hint suggests the closest known name."""
    with pytest.raises(GateUnknown) as info:
        parse_policy(["tests", entry])
    assert info.value.code == "gate-unknown"
    assert info.value.family == "input"
    assert suggestion in info.value.hint


@pytest.mark.parametrize(
    ("entries", "message"),
    [
        ("tests", "must be a list"),
        ([{"approval": {"min": 0}}], "at least 1"),
        ([{"approval": {"min": True}}], "whole number"),
        ([{"approval": {"mni": 1}}], "unknown option 'mni'"),
        ([{"approval": {"not_author": "yes"}}], "true or false"),
        ([{"soak": "soon"}], "not a duration"),
        ([{"vulnerabilities": {"severity": "urgent"}}], "unknown severity"),
        ([{"custom": {"name": "tests", "run": "x"}}], "built-in gate"),
        ([{"custom": {"run": "x"}}], "needs a name"),
        (["tests", "tests"], "listed twice"),
        ([{"tests": None, "freeze": None}], "one-key mapping"),
        ([{"tests": "yes"}], "must be a mapping"),
        ([{"freeze": {"window": "x"}}], "takes no options"),
    ],
)
def test_invalid_policy_is_refused(entries: Any, message: str) -> None:
    """A malformed gate list raises gate-invalid saying what is wrong."""
    with pytest.raises(GateInvalid) as info:
        parse_policy(entries)
    assert info.value.code == "gate-invalid"
    assert message in f"{info.value.message} {info.value.hint}"


def test_unknown_option_suggests_the_right_one() -> None:
    """A misspelt option name gets a did-you-mean hint."""
    with pytest.raises(GateInvalid) as info:
        parse_policy([{"approval": {"not_athor": True}}])
    assert "'not_author'" in info.value.hint


@pytest.mark.parametrize(
    ("text", "seconds"),
    [("90s", 90), ("30m", 1800), ("2h", 7200), ("1d", 86400), ("1h30m", 5400), (45, 45),
     ("1w", 604800), ("1.5h", 5400)],
)  # fmt: skip
def test_parse_duration(text: str | int, seconds: float) -> None:
    """Durations are written with s, m, h, d or w units, combinable; bare numbers are seconds."""
    assert parse_duration(text).total_seconds() == seconds


@pytest.mark.parametrize("text", ["", "h", "10x", "5m garbage", "-5m", True])
def test_parse_duration_rejects_garbage(text: Any) -> None:
    """Text that is not a duration raises gate-invalid."""
    with pytest.raises(GateInvalid):
        parse_duration(text)


def check(entry: Any, **changes: Any) -> tuple[bool, str, dict[str, Any]]:
    """Evaluate a one-gate policy over FACTS with some facts changed."""
    verdict = evaluate(parse_policy([entry]), replace(FACTS, **changes))
    (result,) = verdict.gates
    assert verdict.passed is result.passed
    return result.passed, result.reason, dict(result.details)


@pytest.mark.parametrize(
    ("entry", "changes", "passed", "reason"),
    [
        ("tests", {}, True, "run-41 passed"),
        ("tests", {"tests": None}, False, "no test run"),
        ("tests", {"tests": TestRun("run-42", False, 3, 120)}, False, "3 of 120 failed"),
        ("tests", {"tests": TestRun("run-40", True, revision="beef")}, False, "tested beef"),
        ("freeze", {}, True, "not frozen"),
        ("freeze", {"freeze": None}, False, "no freeze calendar"),
        (
            "freeze",
            {"freeze": FreezeStatus(True, "year-end", datetime(2027, 1, 4, tzinfo=UTC))},
            False,
            "frozen by 'year-end' until 2027-01-04",
        ),
        ("lock", {}, True, "not locked"),
        ("lock", {"lock": DeployLock("erin", "db migration")}, False, "locked by erin"),
        ("lock", {"lock": DeployLock("dana")}, True, "held by the deployer"),
        ("signature", {}, True, "verified"),
        ("signature", {"signature": None}, False, "no provenance"),
        ("signature", {"signature": SignatureStatus(False, detail="bad sig")}, False, "bad sig"),
        (
            {"signature": {"signers": ["release@example.com"]}},
            {},
            False,
            "not a trusted signer",
        ),
        ({"soak": "2h"}, {}, True, "3h in staging"),
        ({"soak": "4h"}, {}, False, "only 3h in staging; needs 4h"),
        ({"soak": "1h"}, {"soak": SoakStatus("staging", None)}, False, "never deployed"),
        ({"soak": "1h"}, {"soak": None}, False, "never deployed"),
        ({"custom": {"name": "smoke", "run": "./s"}}, {}, True, "exited 0"),
        (
            {"custom": {"name": "smoke", "run": "./s"}},
            {"commands": (CommandResult("smoke", 2, "boom"),)},
            False,
            "exited 2",
        ),
        ({"custom": {"name": "smoke", "run": "./s"}}, {"commands": ()}, False, "was not run"),
    ],
)
def test_gate_judgements(entry: Any, changes: dict[str, Any], passed: bool, reason: str) -> None:
    """Each gate passes or fails on its facts, with a reason naming why; missing facts fail."""
    got_passed, got_reason, _ = check(entry, **changes)
    assert got_passed is passed
    assert reason in got_reason


@pytest.mark.parametrize(
    ("entry", "findings", "passed"),
    [
        ("vulnerabilities", (finding("A", Severity.LOW),), True),
        ("vulnerabilities", (finding("A", Severity.MODERATE),), True),
        ("vulnerabilities", (finding("A", Severity.HIGH),), False),
        ("vulnerabilities", (finding("A", Severity.CRITICAL),), False),
        ("vulnerabilities", (finding("A", None),), False),
        ({"vulnerabilities": {"block_unknown": False}}, (finding("A", None),), True),
        ({"vulnerabilities": {"severity": "moderate"}}, (finding("A", Severity.MODERATE),), False),
        ({"vulnerabilities": {"severity": "critical"}}, (finding("A", Severity.HIGH),), True),
        (
            {"vulnerabilities": {"ignore": ["CVE-2018-18074"]}},
            (finding("GHSA-x", Severity.HIGH, ("CVE-2018-18074",)),),
            True,
        ),
        ("vulnerabilities", (), True),
    ],
)
def test_vulnerability_threshold(entry: Any, findings: tuple[Finding, ...], passed: bool) -> None:
    """Findings at or above the threshold block, unknown severity blocks by default,
    and an ignored id or alias does not."""
    scan = VulnerabilityScan(findings, "osv-snap-7")
    got, _, details = check(entry, vulnerabilities=scan)
    assert got is passed
    assert details["snapshot_id"] == "osv-snap-7"


def test_vulnerability_gate_fails_without_scan() -> None:
    """No SBOM scan recorded for the artifact fails the gate."""
    passed, reason, _ = check("vulnerabilities", vulnerabilities=None)
    assert not passed
    assert "no SBOM scan" in reason


def test_vulnerability_reason_names_the_findings() -> None:
    """A failing vulnerability gate names ids, packages and the fix in its details."""
    scan = VulnerabilityScan((finding("GHSA-1", Severity.CRITICAL),), "snap")
    _, reason, details = check("vulnerabilities", vulnerabilities=scan)
    assert "GHSA-1 (critical) in requests 2.19.0" in reason
    assert details["blocking"][0]["fixed"] == "2.20.0"


APPROVAL = {"approval": {"min": 1, "not_author": True}}


@pytest.mark.parametrize(
    ("entry", "approvals", "passed", "reason"),
    [
        (APPROVAL, [("bob", DIGEST, None)], True, "1 of 1 approval(s): bob"),
        (APPROVAL, [], False, "0 of 1 required"),
        (APPROVAL, [("alice", DIGEST, None)], False, "alice is an author"),
        (APPROVAL, [("dana", DIGEST, None)], False, "dana is deploying it"),
        (
            APPROVAL,
            [("bob", OLD_DIGEST, None)],
            False,
            f"bob approved {OLD_DIGEST}, not {DIGEST}",
        ),
        (APPROVAL, [("bob", DIGEST, "deadbeef")], False, "bob approved revision deadbeef"),
        ({"approval": {"min": 1}}, [("alice", DIGEST, None)], True, "alice"),
        ({"approval": {"min": 2}}, [("bob", DIGEST, None), ("bob", DIGEST, None)], False, "1 of 2"),
        (
            {"approval": {"min": 2, "not_author": True}},
            [("bob", DIGEST, None), ("carol", DIGEST, "c0ffee"), ("alice", DIGEST, None)],
            True,
            "bob, carol",
        ),
    ],
)
def test_approval_separation_of_duties(
    entry: Any, approvals: list[tuple[str, str, str | None]], passed: bool, reason: str
) -> None:
    """Only distinct approvers of this exact digest count, and with not_author neither the
    author nor the deployer does."""
    facts_approvals = tuple(
        Approval(who, digest, NOW, revision) for who, digest, revision in approvals
    )
    got, got_reason, _ = check(entry, approvals=facts_approvals)
    assert got is passed
    assert reason in got_reason


def test_approval_before_a_rebuild_is_invalid() -> None:
    """Approving, then changing the release, leaves the release unapproved (growthbook#5477)."""
    facts = replace(FACTS, release=replace(FACTS.release, digest=OLD_DIGEST))
    verdict = evaluate(parse_policy([APPROVAL]), facts)
    assert not verdict.passed
    assert verdict.gates[0].details["rejected"] == [f"bob approved {DIGEST}, not {OLD_DIGEST}"]


FROZEN = FreezeStatus(True, "year-end", datetime(2027, 1, 4, tzinfo=UTC))
GRANT = Override(
    id="bg-7",
    gates=frozenset({"freeze", "soak"}),
    requested_by="dana",
    approved_by="erin",
    reason="payment outage hotfix",
    expires_at=NOW + timedelta(hours=2),
    incident="inc-12",
)


def test_break_glass_overrides_named_gates_and_says_who() -> None:
    """A valid grant turns its failing gates into passes and the verdict names who and why."""
    policy = parse_policy(["tests", "freeze", {"soak": "1d"}])
    verdict = evaluate(policy, replace(FACTS, freeze=FROZEN, overrides=(GRANT,)))
    assert verdict.passed
    assert [g.name for g in verdict.overridden] == ["freeze", "soak"]
    use = verdict.gates[1].overridden
    assert use is not None
    assert (use.override_id, use.requested_by, use.approved_by) == ("bg-7", "dana", "erin")
    assert use.incident == "inc-12"
    assert "frozen by 'year-end'" in use.failed_reason
    assert "approved by erin" in verdict.gates[1].reason
    assert verdict.gates[0].overridden is None


def test_break_glass_does_not_touch_unnamed_gates() -> None:
    """A grant for freeze and soak leaves a failing tests gate failing."""
    verdict = evaluate(
        parse_policy(["tests", "freeze"]),
        replace(FACTS, tests=None, freeze=FROZEN, overrides=(GRANT,)),
    )
    assert not verdict.passed
    assert [g.name for g in verdict.failures] == ["tests"]


@pytest.mark.parametrize(
    ("grant", "reason"),
    [
        (replace(GRANT, expires_at=NOW), "bg-7 expired at"),
        (replace(GRANT, approved_by=None), "bg-7 is not approved"),
        (replace(GRANT, approved_by="dana"), "approved by its own requester"),
    ],
)
def test_unusable_break_glass_is_reported(grant: Override, reason: str) -> None:
    """An expired, unapproved or self-approved grant does not override, and the reason says so."""
    verdict = evaluate(parse_policy(["freeze"]), replace(FACTS, freeze=FROZEN, overrides=(grant,)))
    assert not verdict.passed
    assert verdict.gates[0].overridden is None
    assert reason in verdict.gates[0].reason


def test_break_glass_for_another_environment_is_ignored() -> None:
    """A grant scoped to staging does not open production."""
    grant = replace(GRANT, environment="staging")
    verdict = evaluate(parse_policy(["freeze"]), replace(FACTS, freeze=FROZEN, overrides=(grant,)))
    assert not verdict.passed
    assert "bg-7" not in verdict.gates[0].reason


def test_break_glass_on_passing_gate_is_not_recorded_as_used() -> None:
    """A gate that passes on its own is not reported as overridden."""
    verdict = evaluate(parse_policy(["freeze"]), replace(FACTS, overrides=(GRANT,)))
    assert verdict.passed
    assert verdict.overridden == ()


def test_verdict_reasons_list_every_gate() -> None:
    """The verdict prints one line per gate with pass, FAIL or overridden."""
    verdict = evaluate(
        parse_policy(["tests", "freeze", "lock"]),
        replace(
            FACTS,
            tests=None,
            freeze=FROZEN,
            overrides=(replace(GRANT, gates=frozenset({"freeze"})),),
        ),
    )
    lines = verdict.reasons()
    assert lines[0].startswith("tests: FAIL: ")
    assert lines[1].startswith("freeze: overridden: ")
    assert lines[2].startswith("lock: pass: ")
