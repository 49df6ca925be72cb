"""Gates gathered from the store and the event log: approvals, break-glass, vulnerabilities."""

from __future__ import annotations

import json
import shutil
import zipfile
from datetime import timedelta
from pathlib import Path

import pytest

from shipyard.errors import Conflict, InputError, NotFound, Refused
from shipyard.services.compliance import approvals, gates, vulns
from shipyard.services.coordination import breakglass, locks
from shipyard.store.uow import Store
from tests.integration.release_helpers import QUIET, XMAS, deployed, kinds, publish, spec

OSV = Path(__file__).resolve().parents[1] / "data" / "osv"


def _by_name(verdict: object) -> dict[str, object]:
    return {g.name: g for g in verdict.gates}  # type: ignore[attr-defined]


def _ready(store: Store, *, sbom: object = ("pkg:pypi/requests@2.31.0",)) -> None:
    """A version published, soaked in staging, with advisories imported."""
    vulns.import_records(store, OSV, "sec")
    publish(store, "1.2.0", sbom=list(sbom))
    deployed(store, "staging", "1.2.0", QUIET - timedelta(hours=2))


def test_everything_in_order_passes(store: Store) -> None:
    """Tests passed, no vulnerability, an independent approval, no freeze or lock, soaked."""
    _ready(store)
    approvals.approve(store, spec(), "production", "1.2.0", "carol@example.com", QUIET)
    verdict = gates.check(store, spec(), "production", "1.2.0", "dave@example.com", QUIET)
    assert verdict.passed, verdict.reasons()
    assert _by_name(verdict)["vulnerabilities"].details["snapshot_id"].startswith("osv-")


def test_missing_facts_fail_closed_with_reasons(store: Store) -> None:
    """Without approvals, SBOM or a staging deploy, each gate fails and says why."""
    publish(store, "1.2.0")
    verdict = gates.check(store, spec(), "production", "1.2.0", "dave", XMAS)
    by = _by_name(verdict)
    assert not verdict.passed
    assert by["tests"].passed
    assert "no SBOM scan" in by["vulnerabilities"].reason
    assert "0 of 1" in by["approval"].reason
    assert "year-end" in by["freeze"].reason
    assert "never deployed to staging" in by["soak"].reason


def test_failed_run_fails_the_tests_gate(store: Store) -> None:
    """The run that built the version failed, so the tests gate fails."""
    publish(store, "1.2.0", run_status="failure")
    verdict = gates.check(store, spec(), "staging", "1.2.0", "dave", QUIET)
    assert not verdict.passed and "failed" in verdict.gates[0].reason


def test_known_vulnerability_in_the_sbom_blocks(store: Store) -> None:
    """requests 2.19.0 is affected by GHSA-x84v-xcm2-53pg (high), which blocks production."""
    _ready(store, sbom=["pkg:pypi/requests@2.19.0", "pkg:npm/elliptic@6.5.4"])
    verdict = gates.check(store, spec(), "production", "1.2.0", "dave", QUIET)
    vuln = _by_name(verdict)["vulnerabilities"]
    assert not vuln.passed and "GHSA-x84v-xcm2-53pg (high)" in vuln.reason


def test_sbom_read_from_the_artifact_store_by_digest(store: Store) -> None:
    """An SBOM published as a CycloneDX document in the CAS is scanned (a moderate finding)."""
    from shipyard.adapters.cas.disk import DiskCAS

    doc = {"bomFormat": "CycloneDX", "components": [{"purl": "pkg:npm/elliptic@6.5.3"}]}
    digest = DiskCAS(store.home / "cas").put_bytes(json.dumps(doc).encode())
    vulns.import_records(store, OSV, "sec")
    publish(store, "1.2.0", sbom=digest)
    verdict = gates.check(store, spec(), "production", "1.2.0", "dave", QUIET)
    vuln = _by_name(verdict)["vulnerabilities"]
    assert vuln.passed and vuln.details["total"] == 1


def test_osv_import_skips_and_reports_malformed_records(store: Store, tmp_path: Path) -> None:
    """A folder with a broken record imports the good ones and lists the bad one."""
    out = vulns.import_records(store, OSV, "sec")
    assert out["imported"] == 2
    assert [s["id"] for s in out["skipped"]] == ["BROKEN-1"]
    archive = tmp_path / "all.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        zf.write(OSV / "GHSA-x84v-xcm2-53pg.json", "GHSA-x84v-xcm2-53pg.json")
        zf.writestr("junk.json", "{not json")
    again = vulns.import_records(store, archive, "sec")
    assert again["imported"] == 1 and again["skipped"][0]["id"] == "junk.json"
    assert again["snapshot_id"] == out["snapshot_id"]  # same records, same snapshot
    with pytest.raises(NotFound) as missing:
        vulns.import_records(store, tmp_path / "nope", "sec")
    assert missing.value.code == "osv-source-not-found"


def test_authors_cannot_approve_their_own_change(store: Store) -> None:
    """The person who built the version is refused (not_author), and nothing is stored."""
    publish(store, "1.2.0", author="alice@example.com")
    with pytest.raises(Refused) as err:
        approvals.approve(store, spec(), "production", "1.2.0", "alice@example.com", QUIET)
    assert err.value.code == "self-approval" and err.value.exit_code == 5
    assert kinds(store, "approval.") == []


def test_republishing_invalidates_an_earlier_approval(store: Store) -> None:
    """An approval names the digest it saw; new bytes under the version need a new one."""
    _ready(store)
    approvals.approve(store, spec(), "production", "1.2.0", "carol@example.com", QUIET)
    publish(store, "1.2.0", digest="sha256:" + "b" * 64, sbom=["pkg:pypi/requests@2.31.0"])
    verdict = gates.check(store, spec(), "production", "1.2.0", "dave", QUIET)
    approval = _by_name(verdict)["approval"]
    assert not approval.passed and "not sha256:bbbb" in approval.reason


def test_approval_errors(store: Store) -> None:
    """Unknown versions, unknown environments and a second approval by one person fail."""
    with pytest.raises(NotFound) as no_release:
        approvals.approve(store, spec(), "production", "9.9.9", "carol", QUIET)
    assert no_release.value.code == "release-not-found"
    publish(store, "1.2.0")
    with pytest.raises(NotFound) as no_env:
        approvals.approve(store, spec(), "prodution", "1.2.0", "carol", QUIET)
    assert no_env.value.code == "environment-unknown"
    approvals.approve(store, spec(), "production", "1.2.0", "carol", QUIET)
    with pytest.raises(Conflict) as twice:
        approvals.approve(store, spec(), "production", "1.2.0", "carol", QUIET)
    assert twice.value.code == "already-approved"


def test_someone_elses_lock_blocks_the_deploy(store: Store) -> None:
    """The lock gate fails for everyone but the holder."""
    _ready(store)
    approvals.approve(store, spec(), "production", "1.2.0", "carol", QUIET)
    locks.lock(store, spec(), "production", "bob", "db migration", QUIET)
    assert not _by_name(gates.check(store, spec(), "production", "1.2.0", "dave", QUIET))[
        "lock"
    ].passed
    assert gates.check(store, spec(), "production", "1.2.0", "bob", QUIET).passed


def test_break_glass_needs_a_second_person_and_expires(store: Store) -> None:
    """Requested, it does nothing; approved by another, it passes freeze; then it expires."""
    _ready(store)
    approvals.approve(store, spec(), "production", "1.2.0", "carol", XMAS)
    bg = breakglass.request(
        store,
        spec(),
        "production",
        "payments down",
        ["freeze"],
        timedelta(hours=1),
        "dave",
        XMAS,
        incident="INC-7",
    )
    pending = gates.check(store, spec(), "production", "1.2.0", "dave", XMAS)
    assert "is not approved" in _by_name(pending)["freeze"].reason
    with pytest.raises(Refused) as own:
        breakglass.approve(store, spec(), bg["id"], "dave", XMAS)
    assert own.value.code == "self-approval"
    breakglass.approve(store, spec(), bg["id"], "erin", XMAS)
    granted = gates.check(store, spec(), "production", "1.2.0", "dave", XMAS)
    assert granted.passed and _by_name(granted)["freeze"].overridden is not None
    gates.record_use(store, spec(), "production", "1.2.0", "dave", granted)
    expired = gates.check(store, spec(), "production", "1.2.0", "dave", XMAS + timedelta(hours=2))
    assert "expired" in _by_name(expired)["freeze"].reason
    breakglass.review(store, spec(), bg["id"], "dave", "postmortem PM-3")
    assert kinds(store, "break-glass.") == [
        "break-glass.requested",
        "break-glass.approved",
        "break-glass.used",
        "break-glass.reviewed",
    ]


@pytest.mark.parametrize(
    ("gate_names", "ttl", "reason", "code"),
    [
        (["freez"], timedelta(hours=1), "x", "gate-unknown"),
        ([], timedelta(hours=1), "x", "gate-unknown"),
        (["freeze"], timedelta(days=2), "x", "ttl-invalid"),
        (["freeze"], timedelta(hours=1), " ", "reason-missing"),
    ],
)
def test_bad_break_glass_requests_fail(
    store: Store, gate_names: list[str], ttl: timedelta, reason: str, code: str
) -> None:
    """Unknown gates, an over-long time box and a missing reason are refused."""
    with pytest.raises(InputError) as err:
        breakglass.request(store, spec(), "production", reason, gate_names, ttl, "dave", QUIET)
    assert err.value.code == code


def test_break_glass_approve_errors(store: Store) -> None:
    """Unknown ids are not found; a second approval conflicts."""
    with pytest.raises(NotFound):
        breakglass.approve(store, spec(), "bg-nope", "erin", QUIET)
    bg = breakglass.request(
        store, spec(), "production", "x", ["freeze"], timedelta(hours=1), "dave", QUIET
    )
    breakglass.approve(store, spec(), bg["id"], "erin", QUIET)
    with pytest.raises(Conflict):
        breakglass.approve(store, spec(), bg["id"], "frank", QUIET)


def test_sample_data_is_present() -> None:
    """The OSV sample ships with the tests."""
    assert shutil.which("git") and (OSV / "GHSA-x84v-xcm2-53pg.json").is_file()
