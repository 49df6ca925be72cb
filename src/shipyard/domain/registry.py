"""Whether an artifact's registry row is the one its ``artifact.published`` event recorded.

The registry table is a convenience; the event log is the record, hashed into a Merkle tree
whose heads are signed. So a row is trusted only as far as the event that recorded it: same
bytes digest, same provenance envelope, same SBOM, signed by a key trusted from outside the
database (the same keys `shipyard audit verify` trusts). Pure: the service hands in the row,
the event and what the log proves.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from shipyard.domain.provenance import Check

# Registry column -> the field of the artifact.published payload that recorded it.
RECORDED_FIELDS = (
    ("digest", "digest"),
    ("provenance_digest", "provenance"),
    ("sbom_digest", "sbom"),
)


@dataclass(frozen=True, slots=True)
class Recorded:
    """The ``artifact.published`` event of one artifact, and what the log says about it."""

    seq: int
    payload: Mapping[str, Any]
    leaf_ok: bool  # its content still hashes to its leaf
    proved_to: int | None  # size of the signed tree head its inclusion proof verified against
    head_only: bool = False  # proved only against the current, unsigned head


def check_row(row: Mapping[str, Any], recorded: Recorded | None) -> list[Check]:
    """The row's digests against the event that recorded them, and the event against the log."""
    ref = f"{row['name']}@{row['version']}"
    if recorded is None:
        return [
            Check(
                "published-event",
                False,
                f"no artifact.published event records {ref}: the registry row was not written "
                "by a publish",
            )
        ]
    checks: list[Check] = []
    if not recorded.leaf_ok:
        checks.append(
            Check(
                "published-event",
                False,
                f"event {recorded.seq} (artifact.published) was altered: it no longer hashes to "
                "its leaf in the log",
            )
        )
    elif recorded.proved_to is None and not recorded.head_only:
        checks.append(
            Check(
                "published-event",
                False,
                f"event {recorded.seq} is not included in any signed tree head of the log",
            )
        )
    else:
        where = (
            f"signed tree head of size {recorded.proved_to}"
            if recorded.proved_to is not None
            else "the current tree head (no signed checkpoint covers it yet)"
        )
        checks.append(Check("published-event", True, f"event {recorded.seq}, included in {where}"))
    for column, field in RECORDED_FIELDS:
        said, was = row[column], recorded.payload.get(field)
        name = f"recorded-{field}"
        if said == was:
            checks.append(Check(name, True, f"{column} is the one event {recorded.seq} recorded"))
        else:
            checks.append(
                Check(
                    name,
                    False,
                    f"registry {column} {said} is not {was}, recorded by event {recorded.seq}",
                )
            )
    return checks


def check_keys(
    signers: Sequence[str],
    recorded_key: str | None,
    trusted: Mapping[str, bytes],
    stored: Mapping[str, bytes],
) -> list[Check]:
    """The envelope's signing keys against the event that recorded the artifact and the keys
    trusted from outside the database: a key only in the key table (added by hand) is not."""
    checks: list[Check] = []
    for keyid in signers:
        if keyid not in trusted:
            detail = (
                f"key {keyid} is in the key table but is not a trusted key"
                if keyid in stored
                else f"key {keyid} is not a trusted key"
            )
            checks.append(Check("signing-key", False, detail))
        elif keyid in stored and stored[keyid] != trusted[keyid]:
            checks.append(
                Check(
                    "signing-key",
                    False,
                    f"the key table's public key for {keyid} is not the trusted one",
                )
            )
        else:
            checks.append(Check("signing-key", True, f"key {keyid} is a trusted key"))
    if recorded_key is not None and recorded_key not in signers:
        checks.append(
            Check(
                "recorded-key",
                False,
                f"the envelope is signed by {', '.join(signers) or 'no key'}, but the "
                f"artifact.published event recorded key {recorded_key}",
            )
        )
    return checks
