"""OSV matching: the schema's range evaluation, version ordering, names, CVSS severity."""

from __future__ import annotations

from typing import Any

import pytest

from shipyard.domain.vulnerabilities import (
    Component,
    CvssInvalid,
    OsvAffected,
    OsvIndex,
    OsvRecordInvalid,
    SemVer,
    Severity,
    VersionUnorderable,
    cvss3_base_score,
    cvss4_base_score,
    fixed_version,
    is_affected,
    normalize_name,
    parse_record,
    parse_severity,
    parse_version,
    scan,
    severity_from_score,
)


def affected(
    ecosystem: str, ranges: list[dict[str, Any]], versions: list[str] | None = None
) -> OsvAffected:
    """One ``affected`` entry of an OSV record, parsed."""
    raw = {
        "id": "TEST-0000",
        "affected": [
            {
                "package": {"ecosystem": ecosystem, "name": "pkg"},
                "ranges": ranges,
                "versions": versions or [],
            }
        ],
    }
    return parse_record(raw).affected[0]


# The OSV schema's own examples (https://ossf.github.io/osv-schema/#examples) and edge cases
# of its IsVulnerable algorithm, as literal JSON.
FIXED_102 = [{"type": "SEMVER", "events": [{"introduced": "0"}, {"fixed": "1.0.2"}]}]
TWO_INTERVALS = [
    {
        "type": "SEMVER",
        "events": [
            {"introduced": "1.0.0"},
            {"fixed": "1.0.2"},
            {"introduced": "3.0.0"},
            {"fixed": "3.2.5"},
        ],
    }
]
LAST_AFFECTED = [
    {"type": "ECOSYSTEM", "events": [{"introduced": "0"}, {"last_affected": "2.1.214"}]}
]
UNFIXED = [{"type": "SEMVER", "events": [{"introduced": "0"}]}]
LIMITED = [{"type": "ECOSYSTEM", "events": [{"introduced": "1.0"}, {"limit": "2.0"}]}]
LIMIT_STAR = [{"type": "ECOSYSTEM", "events": [{"introduced": "1.0"}, {"limit": "*"}]}]
UNSORTED = [{"type": "ECOSYSTEM", "events": [{"fixed": "1.5"}, {"introduced": "1.0"}]}]
PEP440 = [{"type": "ECOSYSTEM", "events": [{"introduced": "0"}, {"fixed": "2.0.0"}]}]
TEN = [{"type": "ECOSYSTEM", "events": [{"introduced": "1.2"}, {"fixed": "1.10.0"}]}]
INTRODUCED_LATE = [
    {"type": "ECOSYSTEM", "events": [{"introduced": "1.0"}, {"last_affected": "1.4"}]}
]
TWO_RANGES = [
    {"type": "ECOSYSTEM", "events": [{"introduced": "1.0"}, {"fixed": "1.1"}]},
    {"type": "ECOSYSTEM", "events": [{"introduced": "2.0"}, {"fixed": "2.3"}]},
]
GIT_ONLY = [
    {
        "type": "GIT",
        "repo": "https://github.com/owner/repo",
        "events": [{"introduced": "a" * 40}, {"fixed": "b" * 40}],
    }
]


@pytest.mark.parametrize(
    ("ecosystem", "ranges", "versions", "version", "expected"),
    [
        ("npm", FIXED_102, None, "1.0.1", True),
        ("npm", FIXED_102, None, "1.0.2", False),
        ("npm", FIXED_102, None, "0.0.1", True),
        ("npm", FIXED_102, None, "1.0.2-rc.1", True),
        ("npm", TWO_INTERVALS, None, "0.9.0", False),
        ("npm", TWO_INTERVALS, None, "1.0.0", True),
        ("npm", TWO_INTERVALS, None, "1.0.1", True),
        ("npm", TWO_INTERVALS, None, "2.0.0", False),
        ("npm", TWO_INTERVALS, None, "3.2.4", True),
        ("npm", TWO_INTERVALS, None, "3.2.5", False),
        ("PyPI", LAST_AFFECTED, None, "2.1.214", True),
        ("PyPI", LAST_AFFECTED, None, "2.1.215", False),
        ("PyPI", LAST_AFFECTED, None, "0.1", True),
        ("npm", UNFIXED, None, "99.0.0", True),
        ("PyPI", LIMITED, None, "1.5", True),
        ("PyPI", LIMITED, None, "2.0", False),
        ("PyPI", LIMITED, None, "2.5", False),
        ("PyPI", LIMIT_STAR, None, "5.0", True),
        ("PyPI", UNSORTED, None, "1.2", True),
        ("PyPI", UNSORTED, None, "1.5", False),
        ("PyPI", PEP440, None, "2.0.0rc1", True),
        ("PyPI", PEP440, None, "2.0", False),
        ("PyPI", PEP440, None, "2.0.0.post1", False),
        ("PyPI", PEP440, None, "1!0.1", False),
        ("PyPI", TEN, None, "1.9.0", True),
        ("PyPI", TEN, None, "1.10.0", False),
        ("npm", TEN, None, "1.9.0", True),
        ("PyPI", INTRODUCED_LATE, None, "0.9", False),
        ("PyPI", INTRODUCED_LATE, None, "1.4", True),
        ("PyPI", INTRODUCED_LATE, None, "1.4.1", False),
        ("PyPI", TWO_RANGES, None, "1.0.5", True),
        ("PyPI", TWO_RANGES, None, "1.5", False),
        ("PyPI", TWO_RANGES, None, "2.2", True),
        ("Go", GIT_ONLY, ["1.2.3"], "1.2.3", True),
        ("Go", GIT_ONLY, ["1.2.3"], "1.2.4", False),
        ("PyPI", [], ["2.0", "2.1"], "2.0.0", True),
        ("PyPI", [], ["2.0", "2.1"], "2.2", False),
        ("Go", FIXED_102, None, "v1.0.1", True),
    ],
)
def test_range_evaluation(
    ecosystem: str,
    ranges: list[dict[str, Any]],
    versions: list[str] | None,
    version: str,
    expected: bool,
) -> None:
    """A version is affected exactly when the OSV IsVulnerable algorithm says so."""
    assert is_affected(ecosystem, version, affected(ecosystem, ranges, versions)) is expected


@pytest.mark.parametrize(
    ("ranges", "version", "expected"),
    [
        (FIXED_102, "1.0.1", "1.0.2"),
        (TWO_INTERVALS, "1.0.1", "1.0.2"),
        (TWO_INTERVALS, "3.0.0", "3.2.5"),
        (TWO_INTERVALS, "4.0.0", None),
        (LAST_AFFECTED, "1.0.0", None),
        (TWO_RANGES, "2.1.0", "2.3"),
    ],
)
def test_fixed_version(ranges: list[dict[str, Any]], version: str, expected: str | None) -> None:
    """The fix offered is the lowest fixed event above the installed version."""
    assert fixed_version("npm", version, affected("npm", ranges).ranges) == expected


@pytest.mark.parametrize(
    ("lower", "higher"),
    [
        ("1.0.0-alpha", "1.0.0-alpha.1"),
        ("1.0.0-alpha.1", "1.0.0-alpha.beta"),
        ("1.0.0-alpha.beta", "1.0.0-beta"),
        ("1.0.0-beta.2", "1.0.0-beta.11"),
        ("1.0.0-rc.1", "1.0.0"),
        ("1.9.0", "1.10.0"),
        ("1.2", "1.2.1"),
    ],
)
def test_semver_precedence(lower: str, higher: str) -> None:
    """SemVer 2.0 section 11 precedence orders pre-releases and numeric parts correctly."""
    assert SemVer.parse(lower) < SemVer.parse(higher)


def test_semver_ignores_build_metadata() -> None:
    """Build metadata does not take part in precedence."""
    assert SemVer.parse("1.0.0+20130313144700") == SemVer.parse("1.0.0")


@pytest.mark.parametrize(
    ("ecosystem", "name", "expected"),
    [
        ("PyPI", "Python_Dateutil", "python-dateutil"),
        ("pypi", "zope.interface", "zope-interface"),
        ("PyPI", "Foo__-.Bar", "foo-bar"),
        ("npm", "Left_Pad", "Left_Pad"),
    ],
)
def test_normalize_name(ecosystem: str, name: str, expected: str) -> None:
    """PyPI names are PEP 503 normalised; other ecosystems keep names as written."""
    assert normalize_name(ecosystem, name) == expected


# A CVSS v3 vector and its published base score (NVD and the CVSS v3.1 examples).
@pytest.mark.parametrize(
    ("vector", "score", "level"),
    [
        ("CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H", 9.8, Severity.CRITICAL),
        ("CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:C/C:H/I:H/A:H", 10.0, Severity.CRITICAL),
        ("CVSS:3.1/AV:N/AC:L/PR:L/UI:N/S:C/C:H/I:H/A:H", 9.9, Severity.CRITICAL),
        ("CVSS:3.1/AV:N/AC:L/PR:L/UI:N/S:U/C:H/I:H/A:H", 8.8, Severity.HIGH),
        ("CVSS:3.1/AV:L/AC:L/PR:L/UI:N/S:U/C:H/I:H/A:H", 7.8, Severity.HIGH),
        ("CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:N/I:N/A:H", 7.5, Severity.HIGH),
        ("CVSS:3.1/AV:N/AC:L/PR:H/UI:N/S:U/C:H/I:H/A:H", 7.2, Severity.HIGH),
        ("CVSS:3.1/AV:N/AC:H/PR:N/UI:N/S:C/C:H/I:N/A:N", 6.8, Severity.MODERATE),
        ("CVSS:3.0/AV:N/AC:L/PR:N/UI:R/S:C/C:L/I:L/A:N", 6.1, Severity.MODERATE),
        ("CVSS:3.1/AV:N/AC:H/PR:N/UI:N/S:U/C:H/I:N/A:N", 5.9, Severity.MODERATE),
        ("CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:L/I:N/A:N", 5.3, Severity.MODERATE),
        ("CVSS:3.1/AV:P/AC:H/PR:H/UI:R/S:U/C:L/I:N/A:N", 1.6, Severity.LOW),
        ("CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:N/I:N/A:N", 0.0, Severity.NONE),
        ("CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H/E:P/RL:O", 9.8, Severity.CRITICAL),
    ],
)
def test_cvss3_base_score(vector: str, score: float, level: Severity) -> None:
    """The CVSS v3.1 base formula reproduces published scores and their rating."""
    assert cvss3_base_score(vector) == score
    assert severity_from_score(score) is level


@pytest.mark.parametrize(
    "vector",
    [
        "AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H",
        "CVSS:2.0/AV:N/AC:L/Au:N/C:P/I:P/A:P",
        "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H",
        "CVSS:3.1/AV:X/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H",
        "CVSS:3.1/AV:N/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H",
        "CVSS:3.1/AV:N/AC/PR:N/UI:N/S:U/C:H/I:H/A:H",
    ],
)
def test_cvss3_rejects_malformed_vectors(vector: str) -> None:
    """A vector without every base metric exactly once, or not v3, is refused with a code."""
    with pytest.raises(CvssInvalid) as info:
        cvss3_base_score(vector)
    assert info.value.code == "cvss-invalid"


@pytest.mark.parametrize(
    ("score", "level"),
    [(0.1, Severity.LOW), (3.9, Severity.LOW), (4.0, Severity.MODERATE), (6.9, Severity.MODERATE),
     (7.0, Severity.HIGH), (8.9, Severity.HIGH), (9.0, Severity.CRITICAL)],
)  # fmt: skip
def test_severity_rating_boundaries(score: float, level: Severity) -> None:
    """Scores map to the CVSS v3.1 qualitative rating bands at their exact boundaries."""
    assert severity_from_score(score) is level


@pytest.mark.parametrize(
    ("label", "level"),
    [("MODERATE", Severity.MODERATE), ("medium", Severity.MODERATE), ("High", Severity.HIGH)],
)
def test_parse_severity(label: str, level: Severity) -> None:
    """Severity labels are case-insensitive and medium means moderate."""
    assert parse_severity(label) is level


# The GitHub advisory the OSV schema document quotes as its npm example.
ELLIPTIC = {
    "schema_version": "1.2.0",
    "id": "GHSA-r9p9-mrjm-926w",
    "modified": "2021-03-08T16:02:43Z",
    "published": "2021-03-08T16:06:50Z",
    "aliases": ["CVE-2020-28498"],
    "summary": "Use of a Broken or Risky Cryptographic Algorithm",
    "severity": [{"type": "CVSS_V3", "score": "CVSS:3.1/AV:N/AC:H/PR:N/UI:N/S:C/C:H/I:N/A:N"}],
    "affected": [
        {
            "package": {"ecosystem": "npm", "name": "elliptic"},
            "ranges": [{"type": "ECOSYSTEM", "events": [{"introduced": "0"}, {"fixed": "6.5.4"}]}],
        }
    ],
}
PYPI_LABEL_AFFECTED = {
    "package": {"ecosystem": "PyPI", "name": "python-dateutil"},
    "ranges": [{"type": "ECOSYSTEM", "events": [{"introduced": "2.0"}, {"fixed": "2.8.1"}]}],
}
PYPI_LABEL_ONLY = {
    "id": "TEST-PYPI-1",
    "aliases": ["CVE-0000-0001"],
    "database_specific": {"severity": "HIGH"},
    "affected": [PYPI_LABEL_AFFECTED],
}
NO_SEVERITY = {
    "id": "TEST-PYPI-2",
    "affected": [
        {
            "package": {"ecosystem": "PyPI", "name": "python-dateutil"},
            "versions": ["2.8.0"],
        }
    ],
}


def test_scan_reports_finding_with_severity_and_fix() -> None:
    """A component inside a range yields a finding with id, aliases, severity and fix."""
    result = scan([Component("npm", "elliptic", "6.5.3")], [ELLIPTIC])
    (finding,) = result.findings
    assert finding.id == "GHSA-r9p9-mrjm-926w"
    assert finding.aliases == ("CVE-2020-28498",)
    assert finding.score == 6.8
    assert finding.severity is Severity.MODERATE
    assert finding.fixed == "6.5.4"
    assert result.skipped == ()


def test_scan_skips_fixed_versions() -> None:
    """A component at the fixed version yields nothing."""
    assert scan([Component("npm", "elliptic", "6.5.4")], [ELLIPTIC]).findings == ()


def test_scan_matches_pypi_names_after_normalisation() -> None:
    """An SBOM spelling of a PyPI name matches the record's normalised name."""
    result = scan([Component("pypi", "Python_Dateutil", "2.8.0")], [PYPI_LABEL_ONLY, NO_SEVERITY])
    assert [(f.id, f.severity) for f in result.findings] == [
        ("TEST-PYPI-1", Severity.HIGH),
        ("TEST-PYPI-2", None),
    ]
    assert result.at_or_above(Severity.HIGH)[0].id == "TEST-PYPI-1"


def test_affected_level_severity_wins() -> None:
    """A package-level severity vector is used in preference to the record's label."""
    package_severity = [
        {"type": "CVSS_V3", "score": "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:L/I:N/A:N"}
    ]
    record = {
        **PYPI_LABEL_ONLY,
        "affected": [{**PYPI_LABEL_AFFECTED, "severity": package_severity}],
    }
    (finding,) = scan([Component("PyPI", "python-dateutil", "2.7")], [record]).findings
    assert finding.severity is Severity.MODERATE
    assert finding.score == 5.3


@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        ({"affected": []}, "id"),
        ({"id": "BAD-1", "affected": {"package": {}}}, "list"),
        (
            {
                "id": "BAD-2",
                "affected": [
                    {
                        "package": {"ecosystem": "PyPI", "name": "x"},
                        "ranges": [
                            {"type": "ECOSYSTEM", "events": [{"introduced": "0", "fixed": "1"}]}
                        ],
                    }
                ],
            },
            "exactly one",
        ),
        (
            {
                "id": "BAD-3",
                "affected": [
                    {
                        "package": {"ecosystem": "PyPI", "name": "x"},
                        "ranges": [{"type": "ECOSYSTEM", "events": [{"fixed": "1"}]}],
                    }
                ],
            },
            "introduced",
        ),
        ({"id": "BAD-4", "affected": [{"package": {"name": "x"}}]}, "ecosystem"),
    ],
)
def test_malformed_record_is_rejected(raw: dict[str, Any], reason: str) -> None:
    """A record that breaks the OSV schema raises osv-record-invalid saying what is wrong."""
    with pytest.raises(OsvRecordInvalid) as info:
        parse_record(raw)
    assert info.value.code == "osv-record-invalid"
    assert reason in info.value.message


def test_malformed_and_withdrawn_records_are_skipped_and_reported() -> None:
    """A bad or withdrawn record in an export is skipped, listed, and the rest still match."""
    bad = {
        "id": "BAD-9",
        "affected": [
            {
                "package": {"ecosystem": "npm", "name": "elliptic"},
                "ranges": [{"type": "SEMVER", "events": []}],
            }
        ],
    }
    withdrawn = {**ELLIPTIC, "id": "GHSA-old", "withdrawn": "2022-01-01T00:00:00Z"}
    index = OsvIndex.build([bad, withdrawn, ELLIPTIC])
    result = scan([Component("npm", "elliptic", "6.0.0")], index)
    assert [f.id for f in result.findings] == ["GHSA-r9p9-mrjm-926w"]
    assert [s.id for s in result.skipped] == ["BAD-9", "GHSA-old"]
    assert len(index) == 1


def test_unorderable_version_is_reported_not_ignored() -> None:
    """A component version that cannot be ordered is reported as skipped, not as safe."""
    result = scan([Component("PyPI", "python-dateutil", "not a version")], [PYPI_LABEL_ONLY])
    assert result.findings == ()
    assert result.skipped[0].id == "TEST-PYPI-1"
    assert "PEP 440" in result.skipped[0].reason


def test_bad_cvss_vector_keeps_the_finding() -> None:
    """A finding whose vector does not parse is still reported, with unknown severity."""
    record = {**ELLIPTIC, "severity": [{"type": "CVSS_V3", "score": "CVSS:3.1/AV:N"}]}
    result = scan([Component("npm", "elliptic", "6.5.3")], [record])
    assert result.findings[0].severity is None
    assert "severity not computed" in result.skipped[0].reason


def test_version_unorderable_is_an_input_error() -> None:
    """An unorderable SemVer string raises version-unorderable."""
    with pytest.raises(VersionUnorderable):
        SemVer.parse("banana")


@pytest.mark.parametrize(
    ("purl", "ecosystem", "name", "version"),
    [
        ("pkg:pypi/requests@2.19.0", "PyPI", "requests", "2.19.0"),
        ("pkg:npm/%40babel/core@7.0.0", "npm", "@babel/core", "7.0.0"),
        (
            "pkg:maven/org.apache.logging.log4j/log4j-core@2.14.1?type=jar",
            "Maven",
            "org.apache.logging.log4j:log4j-core",
            "2.14.1",
        ),
        ("pkg:golang/github.com/gin-gonic/gin@v1.6.0", "Go", "github.com/gin-gonic/gin", "v1.6.0"),
        ("pkg:cargo/smallvec@1.6.0", "crates.io", "smallvec", "1.6.0"),
    ],
)
def test_component_from_purl(purl: str, ecosystem: str, name: str, version: str) -> None:
    """Package URLs from an SBOM become components in OSV's ecosystem and name spelling."""
    c = Component.from_purl(purl)
    assert (c.ecosystem, c.name, c.version) == (ecosystem, name, version)


# -- CVSS v4 ---------------------------------------------------------------------------------


# CVSS v4.0 vectors and their scores. Where each number comes from:
#   simple4  - tests/vectors_simple4 of the cvss library (github.com/RedHatProductSecurity/cvss),
#              generated with FIRST's official JavaScript calculator (the library's README);
#   json     - the same library's tests/test_cvss4.py (test_json_schema_high_va and
#              test_json_schema_no_impact_metrics);
#   readme   - the CVSS4 sample output in the library's README;
#   threat4  - tests/vectors_threat4 of the library: the E:A row, since the base score is
#              scored with E unset whatever E the vector states, and an unset Threat metric
#              takes "the highest severity" (the CVSS v4.0 specification's abstract).
@pytest.mark.parametrize(
    ("vector", "score", "level"),
    [
        # simple4
        ("CVSS:4.0/AV:N/AC:L/AT:N/PR:N/UI:N/VC:L/VI:H/VA:L/SC:N/SI:H/SA:L", 9.2, Severity.CRITICAL),
        ("CVSS:4.0/AV:N/AC:L/AT:P/PR:N/UI:N/VC:H/VI:H/VA:H/SC:H/SI:N/SA:H", 9.5, Severity.CRITICAL),
        ("CVSS:4.0/AV:N/AC:L/AT:N/PR:N/UI:N/VC:L/VI:L/VA:L/SC:H/SI:N/SA:L", 7.8, Severity.HIGH),
        ("CVSS:4.0/AV:N/AC:L/AT:N/PR:N/UI:N/VC:L/VI:L/VA:N/SC:N/SI:L/SA:N", 6.9, Severity.MODERATE),
        ("CVSS:4.0/AV:N/AC:L/AT:N/PR:N/UI:P/VC:L/VI:N/VA:N/SC:L/SI:N/SA:L", 5.3, Severity.MODERATE),
        ("CVSS:4.0/AV:N/AC:H/AT:N/PR:H/UI:A/VC:N/VI:N/VA:N/SC:N/SI:H/SA:N", 4.0, Severity.MODERATE),
        ("CVSS:4.0/AV:N/AC:L/AT:P/PR:N/UI:A/VC:N/VI:N/VA:N/SC:L/SI:N/SA:N", 2.1, Severity.LOW),
        ("CVSS:4.0/AV:N/AC:L/AT:P/PR:H/UI:A/VC:N/VI:L/VA:L/SC:L/SI:N/SA:N", 1.8, Severity.LOW),
        # json
        ("CVSS:4.0/AV:N/AC:L/AT:N/PR:N/UI:N/VC:N/VI:N/VA:H/SC:N/SI:N/SA:N", 8.7, Severity.HIGH),
        ("CVSS:4.0/AV:A/AC:H/AT:P/PR:L/UI:P/VC:N/VI:N/VA:N/SC:N/SI:N/SA:N", 0.0, Severity.NONE),
        # readme
        ("CVSS:4.0/AV:N/AC:L/AT:N/PR:N/UI:N/VC:H/VI:H/VA:H/SC:H/SI:H/SA:N", 9.9, Severity.CRITICAL),
        # threat4: the E:U vector scores 4.1 as CVSS-BT; its base score is the E:A row's 7.3.
        ("CVSS:4.0/AV:P/AC:H/AT:P/PR:H/UI:A/VC:H/VI:H/VA:H/SC:H/SI:H/SA:H/E:U", 7.3, Severity.HIGH),
        ("CVSS:4.0/AV:P/AC:H/AT:P/PR:H/UI:A/VC:H/VI:H/VA:H/SC:H/SI:H/SA:H/E:A", 7.3, Severity.HIGH),
        # simple4's 9.2 again, metrics out of order and with Supplemental metrics, which "do not
        # modify the final score" (the specification's abstract).
        (
            "CVSS:4.0/VC:L/AV:N/AC:L/AT:N/PR:N/UI:N/VI:H/VA:L/SC:N/SI:H/SA:L/S:P/AU:Y/U:Red",
            9.2,
            Severity.CRITICAL,
        ),
    ],
)
def test_cvss4_base_score(vector: str, score: float, level: Severity) -> None:
    """CVSS v4.0 base scores match the FIRST calculator's, and rate on the same scale as v3."""
    assert cvss4_base_score(vector) == score
    assert severity_from_score(score) is level


@pytest.mark.parametrize(
    "vector",
    [
        "CVSS:4.0/AV:N/AC:L/AT:N/PR:N/UI:N/VC:H/VI:H/VA:H/SC:N/SI:N",  # SA missing
        "CVSS:4.0/AV:N/AC:L/AT:N/PR:N/UI:N/VC:H/VI:H/VA:H/SC:N/SI:N/SA:J",  # no value J
        "CVSS:4.0/AV:N/AC:L/AT:N/PR:N/UI:N/VC:N/VI:N/VA:N/SC:N/SI:N/SI:H",  # SI twice, SA missing
        "CVSS:4.0/AV:N/AC:L/AT:N/PR:N/UI:N/VC:H/VI:H/VA:H/SC:N/SI:N/SA:N/JJ:H",  # no metric JJ
        "CVSS:4.0/AV:N/AC:L/AT:N/PR:N/UI:N/VC:H/VI:H/VA:H/SC:N/SI:N/SA:N/E:Z",  # no E:Z
        "CVSS:4.0/AV:N/AC:L/AT:N/PR:N/UI:N/VC:H/VI:H/VA:H/SC:N/SI:N/SA:N/",
        "CVSS:4.0",
        "CVSS:4.1/AV:N/AC:L/AT:N/PR:N/UI:N/VC:H/VI:H/VA:H/SC:N/SI:N/SA:N",
        "AV:N/AC:L/AT:N/PR:N/UI:N/VC:H/VI:H/VA:H/SC:N/SI:N/SA:N",
        "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H",  # a v3 vector is not a v4 one
    ],
)
def test_cvss4_rejects_malformed_vectors(vector: str) -> None:
    """A v4 vector that is incomplete, repeats or invents a metric, or is not v4.0 is refused."""
    with pytest.raises(CvssInvalid) as info:
        cvss4_base_score(vector)
    assert info.value.code == "cvss-invalid"


def test_cvss_invalid_names_both_shapes_and_keeps_the_cause() -> None:
    """The error shows a v3 and a v4 vector, and chains the library's own exception."""
    with pytest.raises(CvssInvalid) as info:
        cvss4_base_score("CVSS:4.0/AV:N/AC:L/AT:N/PR:N/UI:N/VC:H/VI:H/VA:H/SC:N/SI:N")
    assert "v4" in info.value.message
    assert "SA" in info.value.message
    assert "CVSS:3.1/AV:N" in info.value.hint
    assert "CVSS:4.0/AV:N" in info.value.hint
    assert info.value.__cause__ is not None
    assert type(info.value.__cause__).__module__.startswith("cvss")
    with pytest.raises(CvssInvalid) as info:
        cvss3_base_score("CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H")
    assert "v3" in info.value.message
    assert info.value.__cause__ is not None


V3_68 = {"type": "CVSS_V3", "score": "CVSS:3.1/AV:N/AC:H/PR:N/UI:N/S:C/C:H/I:N/A:N"}
V3_98 = {"type": "CVSS_V3", "score": "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H"}
V4_87 = {
    "type": "CVSS_V4",
    "score": "CVSS:4.0/AV:N/AC:L/AT:N/PR:N/UI:N/VC:N/VI:N/VA:H/SC:N/SI:N/SA:N",
}
V4_ONLY = {
    "id": "GHSA-v4v4-0000-0001",
    "aliases": ["CVE-0000-0004"],
    "severity": [V4_87],
    "affected": [
        {
            "package": {"ecosystem": "npm", "name": "elliptic"},
            "ranges": [{"type": "ECOSYSTEM", "events": [{"introduced": "0"}, {"fixed": "6.5.4"}]}],
        }
    ],
}
V4_69 = {
    "type": "CVSS_V4",
    "score": "CVSS:4.0/AV:N/AC:L/AT:N/PR:N/UI:N/VC:L/VI:L/VA:N/SC:N/SI:L/SA:N",
}


def test_record_with_only_cvss_v4_gets_a_score_and_severity() -> None:
    """A CVSS_V4 severity, ignored before, now yields its base score and rating."""
    (finding,) = scan([Component("npm", "elliptic", "6.5.3")], [V4_ONLY]).findings
    assert finding.score == 8.7
    assert finding.severity is Severity.HIGH
    assert finding.vector == V4_87["score"]


@pytest.mark.parametrize(
    ("severity", "score", "vector"),
    [
        ([V3_68, V4_87], 8.7, V4_87["score"]),  # v4 rates higher
        ([V4_87, V3_68], 8.7, V4_87["score"]),  # order does not matter
        ([V3_98, V4_69], 9.8, V3_98["score"]),  # v3 rates higher
        ([V4_69, {"type": "CVSS_V2", "score": "AV:N/AC:L/Au:N/C:C/I:C/A:C"}], 6.9, V4_69["score"]),
    ],
)
def test_record_with_v3_and_v4_takes_the_higher_score(
    severity: list[dict[str, str]], score: float, vector: str
) -> None:
    """With both versions, the higher base score counts (as osv-scanner); v2 is not read."""
    record = {**V4_ONLY, "severity": severity}
    (finding,) = scan([Component("npm", "elliptic", "6.5.3")], [record]).findings
    assert (finding.score, finding.vector) == (score, vector)
    assert finding.severity is severity_from_score(score)


def test_bad_cvss_v4_vector_keeps_the_finding() -> None:
    """A malformed v4 vector leaves the finding with unknown severity and says why."""
    bad = {"type": "CVSS_V4", "score": "CVSS:4.0/AV:N/AC:L/AT:N/PR:N/UI:N/VC:H/VI:H/VA:H"}
    record = {**V4_ONLY, "severity": [V3_98, bad]}
    result = scan([Component("npm", "elliptic", "6.5.3")], [record])
    (finding,) = result.findings
    assert (finding.severity, finding.score) == (None, None)
    (skipped,) = result.skipped
    assert skipped.id == "GHSA-v4v4-0000-0001"
    assert "severity not computed" in skipped.reason
    assert "v4" in skipped.reason


# -- version ordering per ecosystem ----------------------------------------------------------

# Pairs (lower, higher) in each ecosystem's own order. Sources:
#   Maven     - ComparableVersionTest in apache/maven (maven-artifact), VERSIONS_QUALIFIER and
#               testVersionComparing; the four-part and .Final rows are jackson-databind's and
#               Hibernate's spellings;
#   npm       - SemVer 2.0.0 section 11 (node-semver follows it);
#   Go        - the Go modules reference, "Pseudo-versions": vX.0.0-yyyymmddhhmmss-abcdefabcdef
#               sorts below vX.0.0, vX.Y.(Z+1)-0.yyyymmddhhmmss-... between vX.Y.Z and
#               vX.Y.(Z+1), and vX.Y.Z-pre.0.yyyymmddhhmmss-... just after vX.Y.Z-pre;
#   NuGet     - Microsoft's "Package versioning" page (pre-release labels below the release,
#               compared per dot-separated part; an optional fourth part);
#   RubyGems  - Gem::Version's documentation (a letter makes a pre-release, sorted below its
#               release; more segments sort above);
#   Debian    - Debian Policy 5.6.12 (the example "~~ < ~~a < ~ < (empty) < a", the epoch
#               first); the deb12u rows are how security updates are numbered;
#   RPM       - rpm's rpmvercmp (tilde sorts before anything, epoch first, digit runs by value);
#   Alpine    - apk-tools' version rules (_rc before the release, _p after it, -rN revisions).
ORDERED = [
    ("Maven", "1.0-alpha-1", "1.0-beta-1"),
    ("Maven", "1.0-beta-1", "1.0-SNAPSHOT"),
    ("Maven", "1.0-SNAPSHOT", "1.0"),
    ("Maven", "1-m11", "1-rc"),
    ("Maven", "1-rc", "1-SNAPSHOT"),
    ("Maven", "1", "1-sp"),
    ("Maven", "2.0.1", "2.0.1-xyz"),
    ("Maven", "2.0.1-xyz", "2.0.1-123"),
    ("Maven", "2.9.10.7", "2.9.10.8"),
    ("Maven", "5.4.23.Final", "5.4.24.Final"),
    ("npm", "1.0.0-alpha", "1.0.0-alpha.1"),
    ("npm", "1.0.0-beta.2", "1.0.0-beta.11"),
    ("npm", "1.0.0-rc.1", "1.0.0"),
    ("Go", "v0.0.0-20191109021931-daa7c04131f5", "v0.1.0"),
    ("Go", "v1.2.3", "v1.2.4-0.20191109021931-daa7c04131f5"),
    ("Go", "v1.2.4-0.20191109021931-daa7c04131f5", "v1.2.4"),
    ("Go", "v1.2.4-pre", "v1.2.4-pre.0.20191109021931-daa7c04131f5"),
    ("NuGet", "1.0.0-alpha", "1.0.0-beta"),
    ("NuGet", "1.0.0-alpha.2", "1.0.0-alpha.10"),
    ("NuGet", "1.0.0-beta", "1.0.0"),
    ("NuGet", "1.0.0", "1.0.0.1"),
    ("RubyGems", "1.0.a", "1.0"),
    ("RubyGems", "1.0.a.2", "1.0.b1"),
    ("RubyGems", "6.1.7", "6.1.7.1"),
    ("Debian", "1.0~~", "1.0~~a"),
    ("Debian", "1.0~~a", "1.0~"),
    ("Debian:12", "1.0~", "1.0"),
    ("Debian", "1.0", "1.0a"),
    ("Ubuntu:22.04:LTS", "2.0", "1:0.9"),
    ("Debian:12", "7.88.1-10+deb12u4", "7.88.1-10+deb12u5"),
    ("Red Hat", "1.0~rc1-1", "1.0-1"),
    ("Red Hat", "1.1.1k-6.el8_5", "1.1.1k-7.el8_6"),
    ("Rocky Linux:9", "1.0-1.el9", "1.0-2.el9"),
    ("AlmaLinux:8", "2.0-1", "1:0.9-1"),
    ("SUSE", "1.9-1", "1.10-1"),
    ("Alpine:v3.18", "1.2.3_rc1-r0", "1.2.3-r0"),
    ("Alpine", "1.2.3-r0", "1.2.3_p1-r0"),
    ("Alpine", "1.2.3-r0", "1.2.3-r1"),
    ("Alpine", "1.9-r0", "1.10-r0"),
]


@pytest.mark.parametrize(("ecosystem", "lower", "higher"), ORDERED)
def test_ecosystem_version_order(ecosystem: str, lower: str, higher: str) -> None:
    """Each ecosystem's versions sort by its own rule, every comparison agreeing."""
    low, high = parse_version(ecosystem, lower), parse_version(ecosystem, higher)
    assert low < high
    assert high > low
    assert low <= high
    assert high >= low
    assert not high < low
    assert not low >= high
    assert low != high


@pytest.mark.parametrize(
    ("ecosystem", "one", "other"),
    [
        ("Maven", "1", "1.0.0"),  # ComparableVersionTest.testVersionsEqual
        ("Maven", "1ga", "1"),
        ("Maven", "1cr", "1rc"),
        ("Maven", "1a1", "1alpha1"),
        ("NuGet", "1.0.0-BETA", "1.0.0-beta"),  # labels compare case-insensitively
        ("NuGet", "1.0", "1.0.0.0"),
        ("NuGet", "1.0.0+abc", "1.0.0"),  # build metadata ignored
        ("RubyGems", "1.0", "1.0.0"),
        ("Debian", "1.0", "0:1.0"),  # a missing epoch is 0
        ("Red Hat", "0:1.0-1", "1.0-1"),
        ("npm", "1.0.0+build.1", "1.0.0"),  # SemVer 10: build metadata has no precedence
    ],
)
def test_ecosystem_version_equality(ecosystem: str, one: str, other: str) -> None:
    """Two spellings of one version are equal in their ecosystem."""
    assert parse_version(ecosystem, one) == parse_version(ecosystem, other)


@pytest.mark.parametrize(
    ("ecosystem", "text", "says"),
    [
        ("NuGet", "not-a-version!", "NuGet"),
        ("Debian", "banana", "Debian"),
        ("Alpine", "banana", "Alpine"),
        ("RubyGems", "1.0 beta", "RubyGems"),
        ("Maven", "", "Maven"),
        ("Red Hat", " ", "Red Hat"),
        # Ecosystems without their own rule keep SemVer, and what is not SemVer stays unordered.
        ("Hackage", "1.2.3.4", "semantic version"),
        ("Pub", "1.2.3.4", "semantic version"),
        ("Packagist", "1.0.0.0-beta1", "semantic version"),
    ],
)
def test_unreadable_versions_are_unorderable(ecosystem: str, text: str, says: str) -> None:
    """A version its ecosystem's scheme cannot read raises version-unorderable, naming it."""
    with pytest.raises(VersionUnorderable) as info:
        parse_version(ecosystem, text)
    assert info.value.code == "version-unorderable"
    assert says in info.value.message


X_CRYPTO_FIX = "v0.0.0-20220314234659-1baeb1ce4c0b"


def _ecosystem_range(introduced: str, fixed: str) -> list[dict[str, Any]]:
    return [{"type": "ECOSYSTEM", "events": [{"introduced": introduced}, {"fixed": fixed}]}]


# Ranges as the advisories spell them (jackson-databind's four-part fix, Rails' pre-releases,
# a Debian security update, a RHEL openssl build, an Alpine revision, golang.org/x/crypto's
# pseudo-version fix), and whether a version is inside.
@pytest.mark.parametrize(
    ("ecosystem", "introduced", "fixed", "version", "expected"),
    [
        ("Maven", "2.9.0", "2.9.10.8", "2.9.10.7", True),
        ("Maven", "2.9.0", "2.9.10.8", "2.9.10.8", False),
        ("Maven", "2.9.0", "2.9.10.8", "2.9.10", True),
        ("Maven", "2.0-beta9", "2.15.0", "2.0-rc1", True),
        ("Maven", "2.0-beta9", "2.15.0", "2.0-alpha1", False),
        ("Maven", "0", "1.0", "1.0-SNAPSHOT", True),
        ("Maven", "0", "1.0-rc1", "1.0-SNAPSHOT", False),  # SNAPSHOT sorts after rc
        ("NuGet", "0", "5.0.0", "5.0.0-preview.1", True),
        ("NuGet", "4.0.0", "4.3.1", "4.3.0.1", True),
        ("RubyGems", "7.0.0.alpha", "7.0.4.1", "7.0.0.rc1", True),
        ("RubyGems", "0", "6.1.7.1", "6.1.7", True),
        ("RubyGems", "0", "6.1.7.1", "6.1.7.1", False),
        ("Debian:12", "0", "7.88.1-10+deb12u5", "7.88.1-10+deb12u4", True),
        ("Debian:12", "0", "7.88.1-10+deb12u5", "7.88.1-10+deb12u5", False),
        ("Debian:12", "0", "7.88.1-10+deb12u5", "1:7.0-1", False),  # a higher epoch
        ("Red Hat:enterprise_linux:8", "0", "1:1.1.1k-7.el8_6", "1:1.1.1k-6.el8_5", True),
        ("Red Hat:enterprise_linux:8", "0", "1:1.1.1k-7.el8_6", "1:1.1.1w-1.el8", False),
        ("Red Hat:enterprise_linux:8", "0", "1:1.1.1k-7.el8_6", "1.1.1w-1.el8", True),  # epoch 0
        ("Alpine:v3.18", "0", "3.0.8-r0", "3.0.7-r0", True),
        ("Alpine:v3.18", "0", "3.0.8-r0", "3.0.8-r1", False),
        ("npm", "0", "2.0.0-beta.2", "2.0.0-beta.1", True),
        ("npm", "0", "2.0.0-beta.2", "2.0.0-beta.11", False),
        ("npm", "0", "2.0.0-beta.2", "2.0.0-alpha", True),
        ("Go", "0", X_CRYPTO_FIX, "v0.0.0-20220112180741-5e0467b6c7ce", True),
        ("Go", "0", X_CRYPTO_FIX, "v0.0.0-20220314234659-1baeb1ce4c0b", False),
        ("Go", "0", X_CRYPTO_FIX, "v0.1.0", False),
    ],
)
def test_ecosystem_range_matching(
    ecosystem: str, introduced: str, fixed: str, version: str, expected: bool
) -> None:
    """OSV ECOSYSTEM ranges are evaluated in the ecosystem's own version order."""
    entry = affected(ecosystem, _ecosystem_range(introduced, fixed))
    assert is_affected(ecosystem, version, entry) is expected


def test_scan_matches_a_four_part_maven_version() -> None:
    """A Maven version SemVer could not read is matched, with the fix offered."""
    record = {
        "id": "GHSA-5r5r-6hpj-8gg9",
        "affected": [
            {
                "package": {
                    "ecosystem": "Maven",
                    "name": "com.fasterxml.jackson.core:jackson-databind",
                },
                "ranges": _ecosystem_range("2.9.0", "2.9.10.8"),
            }
        ],
    }
    purl = "pkg:maven/com.fasterxml.jackson.core/jackson-databind@2.9.10.7"
    result = scan([Component.from_purl(purl)], [record])
    assert [(f.id, f.fixed) for f in result.findings] == [("GHSA-5r5r-6hpj-8gg9", "2.9.10.8")]
    assert result.skipped == ()


def test_unreadable_version_in_an_ordered_ecosystem_is_skipped_not_safe() -> None:
    """A component version its ecosystem cannot read is reported as skipped, as for PyPI."""
    record = {
        "id": "TEST-DEB-1",
        "affected": [
            {
                "package": {"ecosystem": "Debian:12", "name": "curl"},
                "ranges": _ecosystem_range("0", "7.88.1-10+deb12u5"),
            }
        ],
    }
    result = scan([Component("Debian:12", "curl", "banana")], [record])
    assert result.findings == ()
    (skipped,) = result.skipped
    assert skipped.id == "TEST-DEB-1"
    assert "Debian" in skipped.reason
