"""Match SBOM components against OSV records, offline.

The range evaluation follows the ``IsVulnerable`` pseudocode of the OSV schema
(https://ossf.github.io/osv-schema/#evaluation): a version is affected when it is listed in
``affected[].versions`` or when, walking a range's events in version order, the last event at
or below it is an ``introduced`` (a ``fixed`` at or below it, or a ``last_affected`` below it,
ends the interval), provided the version is below one of the range's ``limit`` events.

Versions are ordered by PEP 440 for PyPI (``packaging``), by the ecosystem's own rule for
Maven, NuGet, RubyGems, Debian, Ubuntu, the RPM and the Alpine distributions (``univers``), and
by SemVer 2.0 precedence everywhere else and in ``SEMVER`` ranges. PyPI names compare after
PEP 503 normalisation. Severity comes from the CVSS v3.0/v3.1 or v4.0 base score of the
record's vectors (the ``cvss`` library), the highest when it has both, falling back to the
database's own label (``database_specific.severity``). Both libraries are imported on first
use, so importing this module stays cheap.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from enum import IntEnum
from functools import cmp_to_key, lru_cache, total_ordering
from typing import Any
from urllib.parse import unquote

from packaging.version import InvalidVersion, Version

from shipyard.errors import InputError

__all__ = [
    "Component",
    "CvssInvalid",
    "Finding",
    "OsvAffected",
    "OsvEvent",
    "OsvIndex",
    "OsvRange",
    "OsvRecord",
    "OsvRecordInvalid",
    "ScanResult",
    "SchemeVersion",
    "SemVer",
    "Severity",
    "SkippedRecord",
    "VersionUnorderable",
    "canonical_ecosystem",
    "cvss3_base_score",
    "cvss4_base_score",
    "fixed_version",
    "included_in_ranges",
    "is_affected",
    "normalize_name",
    "parse_record",
    "parse_severity",
    "parse_version",
    "scan",
    "severity_from_score",
]


# -- errors -------------------------------------------------------------------------------


class OsvRecordInvalid(InputError):
    code = "osv-record-invalid"
    default_hint = "the record does not follow the OSV schema (https://ossf.github.io/osv-schema/)"


class CvssInvalid(InputError):
    code = "cvss-invalid"
    default_hint = (
        "a CVSS v3 vector looks like CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H and a v4 "
        "one like CVSS:4.0/AV:N/AC:L/AT:N/PR:N/UI:N/VC:H/VI:H/VA:H/SC:N/SI:N/SA:N, each base "
        "metric exactly once and every other metric one the specification defines"
    )


class VersionUnorderable(InputError):
    code = "version-unorderable"
    default_hint = (
        "PyPI versions must follow PEP 440; Maven, NuGet, RubyGems, Debian, Ubuntu, RPM and "
        "Alpine versions their ecosystem's own scheme; other ecosystems are compared as SemVer"
    )


# -- severity -----------------------------------------------------------------------------


class Severity(IntEnum):
    """Qualitative severity; the order is the order of harm."""

    NONE = 0
    LOW = 1
    MODERATE = 2
    HIGH = 3
    CRITICAL = 4

    @property
    def label(self) -> str:
        return self.name.lower()


_SEVERITY_ALIASES = {
    "none": Severity.NONE,
    "low": Severity.LOW,
    "moderate": Severity.MODERATE,
    # CVSS and most scanners say "medium" where GitHub's advisories say "moderate".
    "medium": Severity.MODERATE,
    "high": Severity.HIGH,
    "important": Severity.HIGH,
    "critical": Severity.CRITICAL,
}


def parse_severity(text: str) -> Severity:
    """A severity label, case-insensitive; ``medium`` and ``moderate`` are the same level."""
    try:
        return _SEVERITY_ALIASES[text.strip().lower()]
    except KeyError:
        known = ", ".join(s.label for s in Severity)
        raise InputError(
            f"unknown severity {text!r}",
            f"use one of: {known}",
            code="severity-unknown",
        ) from None


def severity_from_score(score: float) -> Severity:
    """The qualitative rating scale of CVSS v3.1 (section 5), which v4.0 keeps unchanged."""
    if score == 0.0:
        return Severity.NONE
    if score < 4.0:
        return Severity.LOW
    if score < 7.0:
        return Severity.MODERATE
    if score < 9.0:
        return Severity.HIGH
    return Severity.CRITICAL


# The CVSS arithmetic is the ``cvss`` library's (Red Hat Product Security, tested against the
# FIRST calculators). It is imported when a vector is first scored, not with this module, so
# commands that never scan do not pay for it.
_V3_PREFIXES = ("CVSS:3.0/", "CVSS:3.1/")
_V4_PREFIX = "CVSS:4.0/"
# CVSS v4.0 specification section 2: the Base metric group. Threat, Environmental and
# Supplemental metrics are left out of the base score, as v3's Temporal and Environmental are.
_V4_BASE_METRICS = ("AV", "AC", "AT", "PR", "UI", "VC", "VI", "VA", "SC", "SI", "SA")


def cvss3_base_score(vector: str) -> float:
    """The CVSS v3.0/v3.1 base score of a vector string such as ``CVSS:3.1/AV:N/...``.

    Temporal and environmental metrics may follow the base metrics; they do not change the
    base score and are ignored. Raises ``CvssInvalid`` for anything that is not a complete,
    well-formed v3 vector.
    """
    text = vector.strip()
    if not text.startswith(_V3_PREFIXES):
        raise CvssInvalid(f"not a CVSS v3 vector: {vector!r}")
    from cvss import CVSS3
    from cvss.exceptions import CVSSError

    try:
        return float(CVSS3(text).base_score)
    except CVSSError as exc:
        raise CvssInvalid(f"invalid CVSS v3 vector {vector!r}: {exc}") from exc


def cvss4_base_score(vector: str) -> float:
    """The CVSS v4.0 base score (CVSS-B) of a vector string such as ``CVSS:4.0/AV:N/...``.

    The whole vector is checked, but only its eleven base metrics are scored: Threat (``E``),
    Environmental and Supplemental metrics are ignored, as they are for v3, so a published
    ``E:U`` does not lower the score a gate compares with its threshold. Raises
    ``CvssInvalid`` for anything that is not a complete, well-formed v4.0 vector.
    """
    text = vector.strip()
    if not text.startswith(_V4_PREFIX):
        raise CvssInvalid(f"not a CVSS v4 vector: {vector!r}")
    from cvss import CVSS4
    from cvss.exceptions import CVSSError

    try:
        parsed = CVSS4(text)
        if set(parsed.original_metrics) != set(_V4_BASE_METRICS):
            base = "/".join(f"{m}:{parsed.original_metrics[m]}" for m in _V4_BASE_METRICS)
            parsed = CVSS4(_V4_PREFIX + base)
        return float(parsed.base_score)
    except CVSSError as exc:
        raise CvssInvalid(f"invalid CVSS v4 vector {vector!r}: {exc}") from exc


# -- versions -----------------------------------------------------------------------------

_SEMVER = re.compile(
    r"^v?(?P<major>0|[1-9]\d*)(?:\.(?P<minor>\d+))?(?:\.(?P<patch>\d+))?"
    r"(?:-(?P<pre>[0-9A-Za-z.-]+))?(?:\+(?P<build>[0-9A-Za-z.-]+))?$"
)


@total_ordering
@dataclass(frozen=True, eq=False)
class SemVer:
    """SemVer 2.0 precedence (section 11); build metadata is ignored.

    Missing minor or patch parts count as 0 and a leading ``v`` is accepted, because SBOMs
    and Go module versions write them so.
    """

    major: int
    minor: int
    patch: int
    prerelease: tuple[int | str, ...] = ()

    @classmethod
    def parse(cls, text: str) -> SemVer:
        m = _SEMVER.match(text.strip())
        if m is None:
            raise VersionUnorderable(f"{text!r} is not a semantic version")
        pre: tuple[int | str, ...] = ()
        if m["pre"]:
            pre = tuple(int(p) if p.isdigit() else p for p in m["pre"].split("."))
        return cls(int(m["major"]), int(m["minor"] or 0), int(m["patch"] or 0), pre)

    def _key(self) -> tuple[Any, ...]:
        # A version without pre-release outranks any pre-release of the same core; numeric
        # identifiers sort below alphanumeric ones (SemVer 11.4).
        pre_key = tuple((0, p, "") if isinstance(p, int) else (1, 0, p) for p in self.prerelease)
        return (self.major, self.minor, self.patch, not self.prerelease, pre_key)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, SemVer) and self._key() == other._key()

    def __lt__(self, other: object) -> bool:
        if not isinstance(other, SemVer):
            return NotImplemented
        return self._key() < other._key()

    def __hash__(self) -> int:
        return hash(self._key())


# OSV ecosystem (the part before any ":") -> the univers class that orders its versions. Each
# is the ecosystem's own rule: Maven's ComparableVersion, NuGet's SemVer 2.0 with a fourth part
# and case-insensitive labels, RubyGems' Gem::Version, dpkg's verrevcmp for Debian and Ubuntu,
# rpmvercmp for the RPM distributions and apk's for the Alpine ones. The rest keep SemVer 2.0,
# ours above: univers's SemverVersion coerces ("1.2.3.4" becomes "1.2.3+4") and orders build
# metadata so that "1.0.0+b" is neither below, above nor equal to "1.0.0".
_UNIVERS_SCHEMES = {
    "Maven": "MavenVersion",
    "NuGet": "NugetVersion",
    "RubyGems": "RubygemsVersion",
    "Debian": "DebianVersion",
    "Ubuntu": "DebianVersion",
    "AlmaLinux": "RpmVersion",
    "Mageia": "RpmVersion",
    "openEuler": "RpmVersion",
    "openSUSE": "RpmVersion",
    "Oracle Linux": "RpmVersion",
    "Photon OS": "RpmVersion",
    "Red Hat": "RpmVersion",
    "Rocky Linux": "RpmVersion",
    "SUSE": "RpmVersion",
    "Alpine": "AlpineLinuxVersion",
    "Chainguard": "AlpineLinuxVersion",
    "Wolfi": "AlpineLinuxVersion",
}


@total_ordering
class SchemeVersion:
    """A version in an ecosystem's own scheme, ordered by the univers class for it.

    Only ``<`` and ``==`` of the univers object are used (its Alpine class gets ``>=`` wrong),
    and a comparison that fails inside univers raises ``VersionUnorderable``.
    """

    __slots__ = ("_value", "scheme", "text")

    def __init__(self, scheme: str, text: str, value: Any) -> None:
        self.scheme = scheme
        self.text = text
        self._value = value

    @classmethod
    def parse(cls, scheme: str, text: str) -> SchemeVersion:
        """``text`` in the scheme of ``scheme`` (a key of the ecosystem table)."""
        stripped = text.strip()
        # univers deletes inner spaces and reads "" as a version in some schemes; no
        # ecosystem's versions contain either.
        if not stripped or any(c.isspace() for c in stripped):
            raise VersionUnorderable(f"{text!r} is not a valid version for {scheme}")
        from univers import versions

        try:
            value = getattr(versions, _UNIVERS_SCHEMES[scheme])(stripped)
        except Exception as exc:  # univers raises ValueError, TypeError and its own types
            raise VersionUnorderable(f"{text!r} is not a valid version for {scheme}") from exc
        return cls(scheme, stripped, value)

    def _compare(self, other: SchemeVersion, op: str) -> bool:
        if other.scheme != self.scheme:
            raise VersionUnorderable(f"{self.text!r} and {other.text!r} are in two schemes")
        try:
            return bool(self._value < other._value if op == "<" else self._value == other._value)
        except Exception as exc:  # a univers comparison that cannot decide
            raise VersionUnorderable(
                f"{self.text!r} and {other.text!r} cannot be ordered as {self.scheme} versions"
            ) from exc

    def __eq__(self, other: object) -> bool:
        return isinstance(other, SchemeVersion) and self._compare(other, "==")

    def __lt__(self, other: object) -> bool:
        if not isinstance(other, SchemeVersion):
            return NotImplemented
        return self._compare(other, "<")

    def __hash__(self) -> int:
        # Equal versions may be spelled apart ("1" and "1.0.0" in Maven), and some univers
        # classes are unhashable: the scheme is all that equal versions surely share.
        return hash(self.scheme)

    def __repr__(self) -> str:
        return f"SchemeVersion({self.scheme!r}, {self.text!r})"


OrderedVersion = Version | SemVer | SchemeVersion


def canonical_ecosystem(ecosystem: str) -> str:
    """OSV ecosystem name for an OSV name or a purl type (``pypi`` -> ``PyPI``)."""
    base, sep, rest = ecosystem.partition(":")
    mapped = _ECOSYSTEMS.get(base.strip().lower(), base.strip())
    return f"{mapped}{sep}{rest}"


_ECOSYSTEMS = {
    "pypi": "PyPI",
    "npm": "npm",
    "cargo": "crates.io",
    "crates.io": "crates.io",
    "golang": "Go",
    "go": "Go",
    "maven": "Maven",
    "gem": "RubyGems",
    "rubygems": "RubyGems",
    "nuget": "NuGet",
    "composer": "Packagist",
    "packagist": "Packagist",
    "hex": "Hex",
    "pub": "Pub",
    "hackage": "Hackage",
}


def normalize_name(ecosystem: str, name: str) -> str:
    """PEP 503 normalisation for PyPI names; other ecosystems compare names as written."""
    if canonical_ecosystem(ecosystem) == "PyPI":
        return re.sub(r"[-_.]+", "-", name).lower()
    return name


def parse_version(ecosystem: str, text: str) -> OrderedVersion:
    """A comparable version in the ecosystem's scheme.

    PEP 440 (``packaging``) for PyPI; the ecosystem's own rule (univers) for Maven, NuGet,
    RubyGems, Debian, Ubuntu, the RPM and the Alpine distributions; SemVer 2.0 for every other
    ecosystem (npm, crates.io, Go, Hex, Pub, Packagist, ...) and for ``SEMVER`` ranges.
    """
    family = canonical_ecosystem(ecosystem).partition(":")[0]
    if family == "PyPI":
        try:
            return Version(text)
        except InvalidVersion:
            raise VersionUnorderable(f"{text!r} is not a PEP 440 version") from None
    if family in _UNIVERS_SCHEMES:
        return _scheme_version(family, text)
    return SemVer.parse(text)


@lru_cache(maxsize=4096)
def _scheme_version(scheme: str, text: str) -> SchemeVersion:
    # A range's events are read again for every component checked against it, and univers
    # parses take tens of microseconds; a version that does not parse raises and is not kept.
    return SchemeVersion.parse(scheme, text)


# -- records ------------------------------------------------------------------------------

_EVENT_KINDS = ("introduced", "fixed", "last_affected", "limit")


@dataclass(frozen=True)
class OsvEvent:
    kind: str  # introduced | fixed | last_affected | limit
    version: str


@dataclass(frozen=True)
class OsvRange:
    type: str  # SEMVER | ECOSYSTEM | GIT
    events: tuple[OsvEvent, ...]


@dataclass(frozen=True)
class OsvAffected:
    ecosystem: str
    name: str
    ranges: tuple[OsvRange, ...] = ()
    versions: tuple[str, ...] = ()
    severity: tuple[tuple[str, str], ...] = ()  # (type, score) pairs
    database_severity: str | None = None


@dataclass(frozen=True)
class OsvRecord:
    id: str
    affected: tuple[OsvAffected, ...]
    aliases: tuple[str, ...] = ()
    summary: str = ""
    severity: tuple[tuple[str, str], ...] = ()
    database_severity: str | None = None
    withdrawn: str | None = None
    modified: str | None = None


def _strings(raw: Any, where: str, record_id: str) -> tuple[str, ...]:
    if raw is None:
        return ()
    if not isinstance(raw, list) or not all(isinstance(x, str) for x in raw):
        raise OsvRecordInvalid(f"{record_id}: {where} must be a list of strings")
    return tuple(raw)


def _severity_list(raw: Any, where: str, record_id: str) -> tuple[tuple[str, str], ...]:
    if raw is None:
        return ()
    if not isinstance(raw, list):
        raise OsvRecordInvalid(f"{record_id}: {where} must be a list")
    out: list[tuple[str, str]] = []
    for item in raw:
        if not isinstance(item, Mapping) or not isinstance(item.get("type"), str):
            raise OsvRecordInvalid(f"{record_id}: each {where} entry needs a type and a score")
        out.append((item["type"], str(item.get("score", ""))))
    return tuple(out)


def _database_severity(raw: Any) -> str | None:
    if isinstance(raw, Mapping) and isinstance(raw.get("severity"), str):
        return str(raw["severity"])
    return None


def parse_record(raw: Mapping[str, Any]) -> OsvRecord:
    """An OSV JSON object as a typed record; raises ``OsvRecordInvalid`` if malformed."""
    if not isinstance(raw, Mapping):
        raise OsvRecordInvalid("an OSV record must be a JSON object")
    record_id = raw.get("id")
    if not isinstance(record_id, str) or not record_id:
        raise OsvRecordInvalid("an OSV record needs a string id")
    affected_raw = raw.get("affected", [])
    if not isinstance(affected_raw, list):
        raise OsvRecordInvalid(f"{record_id}: affected must be a list")
    affected: list[OsvAffected] = []
    for entry in affected_raw:
        if not isinstance(entry, Mapping):
            raise OsvRecordInvalid(f"{record_id}: each affected entry must be an object")
        package = entry.get("package")
        if package is None:
            # Package-less entries describe GIT ranges of a repository; nothing to match.
            continue
        if not isinstance(package, Mapping):
            raise OsvRecordInvalid(f"{record_id}: affected[].package must be an object")
        ecosystem, name = package.get("ecosystem"), package.get("name")
        if not isinstance(ecosystem, str) or not isinstance(name, str):
            raise OsvRecordInvalid(f"{record_id}: affected[].package needs ecosystem and name")
        ranges_raw = entry.get("ranges", [])
        if not isinstance(ranges_raw, list):
            raise OsvRecordInvalid(f"{record_id}: affected[].ranges must be a list")
        ranges: list[OsvRange] = []
        for rng in ranges_raw:
            if not isinstance(rng, Mapping) or not isinstance(rng.get("type"), str):
                raise OsvRecordInvalid(f"{record_id}: each range needs a type")
            events_raw = rng.get("events")
            if not isinstance(events_raw, list) or not events_raw:
                raise OsvRecordInvalid(f"{record_id}: each range needs a non-empty events list")
            events: list[OsvEvent] = []
            for evt in events_raw:
                if not isinstance(evt, Mapping) or len(evt) != 1:
                    raise OsvRecordInvalid(
                        f"{record_id}: each event holds exactly one of {', '.join(_EVENT_KINDS)}"
                    )
                ((kind, version),) = evt.items()
                if kind not in _EVENT_KINDS or not isinstance(version, str):
                    raise OsvRecordInvalid(f"{record_id}: unknown event {dict(evt)!r}")
                events.append(OsvEvent(kind, version))
            if not any(e.kind == "introduced" for e in events):
                raise OsvRecordInvalid(f"{record_id}: a range needs an introduced event")
            ranges.append(OsvRange(rng["type"], tuple(events)))
        affected.append(
            OsvAffected(
                ecosystem=ecosystem,
                name=name,
                ranges=tuple(ranges),
                versions=_strings(entry.get("versions"), "affected[].versions", record_id),
                severity=_severity_list(entry.get("severity"), "affected[].severity", record_id),
                database_severity=_database_severity(entry.get("database_specific")),
            )
        )
    withdrawn = raw.get("withdrawn")
    summary = raw.get("summary")
    modified = raw.get("modified")
    return OsvRecord(
        id=record_id,
        affected=tuple(affected),
        aliases=_strings(raw.get("aliases"), "aliases", record_id),
        summary=summary if isinstance(summary, str) else "",
        severity=_severity_list(raw.get("severity"), "severity", record_id),
        database_severity=_database_severity(raw.get("database_specific")),
        withdrawn=withdrawn if isinstance(withdrawn, str) else None,
        modified=modified if isinstance(modified, str) else None,
    )


# -- range evaluation ---------------------------------------------------------------------


_Key = tuple[int, OrderedVersion | None]


def _event_key(ecosystem: str, version: str) -> _Key:
    """(rank, version): rank 0 is OSV's ``introduced: "0"``, rank 2 a ``limit`` of ``*``."""
    if version == "0":
        return (0, None)
    if "*" in version:
        return (2, None)
    return (1, parse_version(ecosystem, version))


def _ge(a: _Key, b: _Key) -> bool:
    if a[0] != b[0]:
        return a[0] > b[0]
    if a[1] is None or b[1] is None:
        return True  # both are the same sentinel
    return bool(a[1] >= b[1])


def _lt(a: _Key, b: _Key) -> bool:
    return not _ge(a, b)


def _evaluable(rng: OsvRange) -> bool:
    # GIT ranges need the repository's commit graph; versions[] covers them instead.
    return rng.type in ("SEMVER", "ECOSYSTEM")


def included_in_ranges(ecosystem: str, version: str, ranges: Sequence[OsvRange]) -> bool:
    """The OSV ``IncludedInRanges``: is ``version`` inside any SEMVER/ECOSYSTEM range?

    Raises ``VersionUnorderable`` when the version or an event's version cannot be ordered in
    the ecosystem's scheme.
    """
    return _matching_range(ecosystem, version, ranges) is not None


def _matching_range(ecosystem: str, version: str, ranges: Sequence[OsvRange]) -> OsvRange | None:
    for rng in ranges:
        if not _evaluable(rng):
            continue
        # SEMVER ranges are SemVer whatever the ecosystem.
        eco = "semver" if rng.type == "SEMVER" else ecosystem
        v_here = _event_key(eco, version)
        keyed = [(_event_key(eco, e.version), e) for e in rng.events]
        limits = [k for k, e in keyed if e.kind == "limit"]
        if limits and not any(_lt(v_here, k) for k in limits):
            continue  # BeforeLimits is false: v is at or past every limit
        vulnerable = False
        for key, evt in sorted(keyed, key=cmp_to_key(_by_version)):
            if evt.kind == "introduced" and _ge(v_here, key):
                vulnerable = True
            elif evt.kind == "fixed":
                vulnerable = vulnerable and _lt(v_here, key)
            elif evt.kind == "last_affected":
                vulnerable = vulnerable and _ge(key, v_here)
        if vulnerable:
            return rng
    return None


def _by_version(a: tuple[_Key, OsvEvent], b: tuple[_Key, OsvEvent]) -> int:
    if _lt(a[0], b[0]):
        return -1
    return 1 if _lt(b[0], a[0]) else 0


def fixed_version(ecosystem: str, version: str, ranges: Sequence[OsvRange]) -> str | None:
    """The lowest ``fixed`` event above ``version`` across the ranges, if any range has one."""
    best: tuple[tuple[int, OrderedVersion | None], str] | None = None
    for rng in ranges:
        if not _evaluable(rng):
            continue
        eco = "semver" if rng.type == "SEMVER" else ecosystem
        try:
            v = _event_key(eco, version)
            for evt in rng.events:
                if evt.kind != "fixed":
                    continue
                key = _event_key(eco, evt.version)
                if _lt(v, key) and (best is None or _lt(key, best[0])):
                    best = (key, evt.version)
        except VersionUnorderable:
            continue
    return best[1] if best else None


def is_affected(ecosystem: str, version: str, affected: OsvAffected) -> bool:
    """The OSV ``IsVulnerable`` body for one affected entry: listed version or inside a range."""
    if version in affected.versions:
        return True
    if affected.versions:
        # The list holds versions as the database spelled them; "2.0" and "2.0.0" are one
        # PEP 440 version, so compare parsed values too (entries that do not parse are skipped).
        wanted = parse_version(ecosystem, version)
        for listed in affected.versions:
            try:
                if parse_version(ecosystem, listed) == wanted:
                    return True
            except VersionUnorderable:
                continue
    return included_in_ranges(ecosystem, version, affected.ranges)


# -- scanning -----------------------------------------------------------------------------


@dataclass(frozen=True)
class Component:
    """One SBOM component; ``ecosystem`` is an OSV ecosystem name or a purl type."""

    ecosystem: str
    name: str
    version: str
    purl: str | None = None

    @classmethod
    def from_purl(cls, purl: str) -> Component:
        """``pkg:pypi/requests@2.19.0`` -> Component("PyPI", "requests", "2.19.0").

        Maven namespaces join the name with ``:`` (``group:artifact``, OSV's spelling); other
        namespaces join with ``/`` (``@scope/name``, ``github.com/org/mod``).
        """
        if not purl.startswith("pkg:"):
            raise InputError(f"not a package URL: {purl!r}", code="purl-invalid")
        body = purl[4:].split("#", 1)[0].split("?", 1)[0]
        path, at, version = body.rpartition("@")
        if not at or not version or "/" not in path:
            raise InputError(
                f"package URL {purl!r} needs a type, a name and a version",
                "write it as pkg:TYPE/NAMESPACE/NAME@VERSION",
                code="purl-invalid",
            )
        ptype, _, rest = path.partition("/")
        segments = [unquote(s) for s in rest.strip("/").split("/")]
        ecosystem = canonical_ecosystem(ptype)
        sep = ":" if ecosystem == "Maven" else "/"
        return cls(ecosystem, sep.join(segments), unquote(version), purl)


@dataclass(frozen=True)
class Finding:
    """A vulnerability that affects a component."""

    id: str
    aliases: tuple[str, ...]
    component: Component
    severity: Severity | None  # None: the record carries no usable severity
    score: float | None = None  # the CVSS v3 or v4 base score when a vector was given
    vector: str | None = None
    fixed: str | None = None  # the lowest fixed version above the component's version
    summary: str = ""

    @property
    def names(self) -> frozenset[str]:
        """The id and its aliases, for allow-lists that name a CVE or GHSA id."""
        return frozenset((self.id, *self.aliases))


@dataclass(frozen=True)
class SkippedRecord:
    """A record (or one component check) that could not be evaluated, and why."""

    id: str
    reason: str


@dataclass(frozen=True)
class ScanResult:
    findings: tuple[Finding, ...]
    skipped: tuple[SkippedRecord, ...] = ()

    def at_or_above(self, level: Severity) -> tuple[Finding, ...]:
        return tuple(f for f in self.findings if f.severity is not None and f.severity >= level)


_CVSS_SCORES = {"CVSS_V3": cvss3_base_score, "CVSS_V4": cvss4_base_score}


def _severity_of(
    record: OsvRecord, affected: OsvAffected
) -> tuple[Severity | None, float | None, str | None]:
    """The severity, score and vector of a finding.

    Package-level severity wins over the record's (the schema forbids both being set). Within
    one list every ``CVSS_V3`` and ``CVSS_V4`` vector is scored and the highest base score is
    taken, as osv-scanner does (``CalculateOverallScore``): GitHub's advisories often carry
    both since 2024, the two versions can disagree by a band, and a gate should not pass a
    record because a second vector rates it lower. The first vector wins a tie. One malformed
    vector makes the whole severity unknown (``CvssInvalid``) rather than silently dropped.
    Other types (``CVSS_V2``, ``Ubuntu``) are not read; the database's own label is the
    fallback.
    """
    for source in (affected.severity, record.severity):
        scored = [
            (scorer(vector), vector)
            for kind, vector in source
            if (scorer := _CVSS_SCORES.get(kind)) is not None
        ]
        if scored:
            score, vector = max(scored, key=lambda pair: pair[0])
            return severity_from_score(score), score, vector
    for label in (affected.database_severity, record.database_severity):
        if label is not None:
            try:
                return parse_severity(label), None, None
            except InputError:
                continue
    return None, None, None


@dataclass
class OsvIndex:
    """Records keyed by (ecosystem, normalised name), so a scan looks up, not loops."""

    by_package: dict[tuple[str, str], list[tuple[OsvRecord, OsvAffected]]] = field(
        default_factory=dict
    )
    skipped: list[SkippedRecord] = field(default_factory=list)

    @classmethod
    def build(cls, records: Iterable[Mapping[str, Any] | OsvRecord]) -> OsvIndex:
        """Index records; malformed and withdrawn ones are skipped and reported."""
        index = cls()
        for raw in records:
            if isinstance(raw, OsvRecord):
                record = raw
            else:
                try:
                    record = parse_record(raw)
                except OsvRecordInvalid as exc:
                    rid = raw.get("id") if isinstance(raw, Mapping) else None
                    index.skipped.append(SkippedRecord(str(rid or "?"), exc.message))
                    continue
            if record.withdrawn is not None:
                index.skipped.append(SkippedRecord(record.id, f"withdrawn {record.withdrawn}"))
                continue
            for affected in record.affected:
                eco = canonical_ecosystem(affected.ecosystem)
                key = (eco, normalize_name(eco, affected.name))
                index.by_package.setdefault(key, []).append((record, affected))
        return index

    def __len__(self) -> int:
        return len({r.id for entries in self.by_package.values() for r, _ in entries})


def scan(
    components: Iterable[Component],
    records: OsvIndex | Iterable[Mapping[str, Any] | OsvRecord],
) -> ScanResult:
    """Every (component, record) pair where the record affects the component's version.

    A record that cannot be evaluated for a component (an unorderable version, a bad CVSS
    vector) is reported in ``skipped`` rather than silently treated as not affecting it.
    """
    index = records if isinstance(records, OsvIndex) else OsvIndex.build(records)
    findings: list[Finding] = []
    skipped: list[SkippedRecord] = list(index.skipped)
    seen: set[tuple[str, str, str, str]] = set()
    for comp in components:
        eco = canonical_ecosystem(comp.ecosystem)
        name = normalize_name(eco, comp.name)
        for record, affected in index.by_package.get((eco, name), []):
            dedup = (record.id, eco, name, comp.version)
            if dedup in seen:
                continue  # a record may list the same package in several affected entries
            try:
                hit = is_affected(eco, comp.version, affected)
            except VersionUnorderable as exc:
                skipped.append(SkippedRecord(record.id, f"{comp.name} {comp.version}: {exc}"))
                continue
            if not hit:
                continue
            seen.add(dedup)
            try:
                severity, score, vector = _severity_of(record, affected)
            except CvssInvalid as exc:
                skipped.append(SkippedRecord(record.id, f"severity not computed: {exc}"))
                severity, score, vector = None, None, None
            findings.append(
                Finding(
                    id=record.id,
                    aliases=record.aliases,
                    component=comp,
                    severity=severity,
                    score=score,
                    vector=vector,
                    fixed=fixed_version(eco, comp.version, affected.ranges),
                    summary=record.summary,
                )
            )
    findings.sort(key=lambda f: (-(f.severity or 0), f.component.name, f.id))
    return ScanResult(tuple(findings), tuple(skipped))
