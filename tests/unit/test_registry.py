"""A registry row against the artifact.published event that recorded it, and signing keys
against the keys trusted from outside the database."""

from __future__ import annotations

import pytest

from shipyard.domain.registry import Recorded, check_keys, check_row

ROW = {
    "name": "app",
    "version": "1.0.0",
    "digest": "sha256:aa",
    "provenance_digest": "sha256:pp",
    "sbom_digest": "sha256:ss",
}
PAYLOAD = {"digest": "sha256:aa", "provenance": "sha256:pp", "sbom": "sha256:ss", "key_id": "k1"}


def _failed(checks: list) -> list[str]:
    return [c.name for c in checks if not c.ok]


@pytest.mark.parametrize(
    ("row", "recorded", "failed"),
    [
        (ROW, Recorded(7, PAYLOAD, True, 10), []),
        (ROW, Recorded(7, PAYLOAD, True, None, head_only=True), []),
        (ROW | {"digest": "sha256:bb"}, Recorded(7, PAYLOAD, True, 10), ["recorded-digest"]),
        (
            ROW | {"provenance_digest": "sha256:xx", "sbom_digest": "sha256:yy"},
            Recorded(7, PAYLOAD, True, 10),
            ["recorded-provenance", "recorded-sbom"],
        ),
        (ROW, Recorded(7, PAYLOAD, False, None), ["published-event"]),
        (ROW, Recorded(7, PAYLOAD, True, None), ["published-event"]),
        (ROW, None, ["published-event"]),
    ],
)
def test_check_row(row: dict, recorded: Recorded | None, failed: list[str]) -> None:
    """Each differing digest, an altered or unproved event, or no event at all is named."""
    assert _failed(check_row(row, recorded)) == failed


@pytest.mark.parametrize(
    ("signers", "recorded_key", "trusted", "stored", "failed"),
    [
        (["k1"], "k1", {"k1": b"A"}, {"k1": b"A"}, []),
        (["k1"], None, {"k1": b"A"}, {"k1": b"A"}, []),  # published before keys were recorded
        (["k2"], "k1", {"k1": b"A"}, {"k1": b"A", "k2": b"B"}, ["signing-key", "recorded-key"]),
        (["k1"], "k1", {"k1": b"A"}, {"k1": b"Z"}, ["signing-key"]),
        (["k9"], "k1", {"k1": b"A"}, {}, ["signing-key", "recorded-key"]),
        ([], "k1", {"k1": b"A"}, {}, ["recorded-key"]),
    ],
)
def test_check_keys(
    signers: list[str],
    recorded_key: str | None,
    trusted: dict[str, bytes],
    stored: dict[str, bytes],
    failed: list[str],
) -> None:
    """A key only in the key table, a changed public key, or another key than the one the
    event recorded fails."""
    assert _failed(check_keys(signers, recorded_key, trusted, stored)) == failed
