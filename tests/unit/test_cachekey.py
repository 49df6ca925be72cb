"""Action keys: the canonical manifest, what changes a key, secrets, and explaining a miss."""

from __future__ import annotations

import dataclasses
import datetime
import json
import re
from typing import Any

import pytest

from shipyard.domain.cachekey import (
    CACHE_FORMAT_VERSION,
    KeyInputs,
    action_key,
    canonical_json,
    content_digest,
    explain_miss,
    key_of,
    manifest,
    secret_digest,
)

SALT = b"0123456789abcdef"
DIGEST_A = content_digest(b"print(1)\n")
BASE = KeyInputs(
    command="pytest -q",
    env={"B": "2", "A": "1"},
    inputs={"src/a.py": DIGEST_A},
    tools={"python": "3.11.7"},
    needs={"lint": {"ok": "true"}},
    matrix={"python": "3.11"},
    platform="linux-x86_64",
)
# Checked against `printf ... | sha256sum` on the canonical text below.
BASE_TEXT = (
    '{"command":"pytest -q","env":{"A":"1","B":"2"},"inputs":{"src/a.py":"sha256:'
    'cc42155088fca5730758db72b2a5bca33112a941dfaa2d43098ec422ce4ea213"},"matrix":'
    '{"python":"3.11"},"needed_files":{},"needs":{"lint":{"ok":"true"}},'
    '"platform":"linux-x86_64","sandbox":false,"secrets":{},"tools":{"python":"3.11.7"},'
    '"version":2,"working_directory":"."}'
)
BASE_KEY = "7fff697e62ec6152f9a0bee256dca6b5e9930984c6aaecc473b9a066cde21d75"
DIGEST_B = content_digest(b"PRINT(1)\n")


def changed(**fields: Any) -> KeyInputs:
    return dataclasses.replace(BASE, **fields)


def test_key_pins_the_canonical_encoding() -> None:
    """The key is SHA-256 over compact, key-sorted UTF-8 JSON of the manifest."""
    assert canonical_json(manifest(BASE)).decode() == BASE_TEXT
    assert action_key(BASE) == BASE_KEY
    assert CACHE_FORMAT_VERSION == 2


def test_content_digest_is_sha256_of_the_bytes() -> None:
    """Input files enter the key by the SHA-256 of their content."""
    assert DIGEST_A == "sha256:cc42155088fca5730758db72b2a5bca33112a941dfaa2d43098ec422ce4ea213"


def test_key_ignores_mapping_order() -> None:
    """Building the same inputs in another order gives the same key."""
    reordered = changed(
        env={"A": "1", "B": "2"},
        inputs=dict(reversed(list({"src/a.py": DIGEST_A, "src/b.py": DIGEST_A}.items()))),
    )
    same = changed(inputs={"src/a.py": DIGEST_A, "src/b.py": DIGEST_A})
    assert action_key(reordered) == action_key(same)


def test_manifest_round_trips_through_json() -> None:
    """A stored manifest read back from JSON gives the same key, so keys can be recomputed."""
    stored = json.loads(json.dumps(manifest(BASE)))
    assert key_of(stored) == BASE_KEY
    assert explain_miss(stored, manifest(BASE)) == []


@pytest.mark.parametrize(
    "other",
    [
        changed(command="pytest -x"),
        changed(env={"A": "1", "B": "3"}),
        changed(env={"A": "1"}),
        changed(inputs={"src/a.py": content_digest(b"print(2)\n")}),
        changed(inputs={"src/a.py": DIGEST_A, "src/b.py": DIGEST_A}),
        changed(inputs={"src/A.py": DIGEST_A}),
        changed(tools={"python": "3.12.1"}),
        changed(tools={"python": "3.11.7", "node": "20"}),
        changed(needs={"lint": {"ok": "false"}}),
        changed(needs={"lint": {"ok": "true"}, "gen": {}}),
        changed(needed_files={"lint": {"out/a.txt": DIGEST_A}}),
        changed(needed_files={"lint": {}}),
        changed(sandbox=True),
        changed(matrix={"python": "3.12"}),
        changed(matrix={"python": 3.11}),
        changed(platform="darwin-arm64"),
        changed(working_directory="pkg"),
        changed(secrets={"TOKEN": None}),
        changed(secrets={"TOKEN": secret_digest("s3cret-value", SALT)}),
    ],
)
def test_every_component_changes_the_key(other: KeyInputs) -> None:
    """Command, env, input contents, tools, upstream outputs and output files, sandbox,
    matrix, platform, working directory and secrets each change the key."""
    assert action_key(other) != BASE_KEY


def test_the_key_does_not_depend_on_anything_else() -> None:
    """Equal inputs give equal keys: the same content under a fresh object is a hit."""
    assert action_key(dataclasses.replace(BASE)) == BASE_KEY


@pytest.mark.parametrize(
    ("field", "bad"),
    [
        ("env", {"N": 1}),
        ("inputs", {"a.py": None}),
        ("tools", {"python": 3.11}),
        ("needs", {"lint": {"ok": True}}),
        ("needed_files", {"lint": {"out/a.txt": None}}),
    ],
)
def test_text_fields_refuse_other_types(field: str, bad: dict[str, Any]) -> None:
    """A number where text belongs is refused, since it would encode differently from text."""
    with pytest.raises(TypeError, match="must map text to text"):
        manifest(changed(**{field: bad}))


def test_nan_is_refused() -> None:
    """NaN has no canonical JSON form, so a manifest holding it is refused."""
    with pytest.raises(ValueError):
        action_key(changed(matrix={"x": float("nan")}))


def test_matrix_values_become_plain_data() -> None:
    """Matrix values YAML may produce (tuples, dates) become JSON data in the manifest."""
    data = manifest(changed(matrix={"d": datetime.date(2026, 1, 2), "t": (1, 2), "m": {3: "x"}}))
    assert data["matrix"] == {"d": "2026-01-02", "m": {"3": "x"}, "t": [1, 2]}


# --- secrets ---------------------------------------------------------------------------------


def test_secret_digest_is_hmac_sha256_under_the_salt() -> None:
    """A secret enters only as HMAC-SHA256 of its value under the salt."""
    assert secret_digest("hunter22", SALT) == (
        "hmac-sha256:9fcef8c939a52e7bb25f7fdbe2c6c1296ae881491594ff2e177f269619186c3e"
    )
    assert secret_digest("hunter22", SALT[::-1]) != secret_digest("hunter22", SALT)


def test_short_salt_is_refused() -> None:
    """A salt shorter than 16 bytes is refused, since it would not stop guessing."""
    with pytest.raises(ValueError, match="16 random bytes"):
        secret_digest("x", b"short")


@pytest.mark.parametrize(
    "value", ["hunter22", "hmac-sha256:abc", "sha256:" + "0" * 64, "HMAC-SHA256:" + "a" * 64]
)
def test_secret_values_in_clear_are_refused(value: str) -> None:
    """Anything but None or a secret digest is refused, so a clear value cannot slip in."""
    with pytest.raises(ValueError, match="never in clear") as info:
        manifest(changed(secrets={"TOKEN": value}))
    assert value not in str(info.value)


def test_secrets_never_appear_in_the_manifest() -> None:
    """The stored manifest holds the secret's name and digest, never its value."""
    data = canonical_json(manifest(changed(secrets={"TOKEN": secret_digest("hunter22", SALT)})))
    assert b"TOKEN" in data
    assert b"hunter22" not in data
    assert re.search(rb'"TOKEN":"hmac-sha256:[0-9a-f]{64}"', data)


# --- explaining a miss -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("new", "reasons"),
    [
        (BASE, []),
        (changed(command="pytest -x"), ["command changed"]),
        (changed(env={"A": "1", "B": "3"}), ["env B changed"]),
        (changed(env={"A": "1", "B": "2", "FOO": "x"}), ["new env FOO"]),
        (changed(env={"A": "1"}), ["env B removed"]),
        (changed(inputs={"src/a.py": content_digest(b"2")}), ["input src/a.py changed"]),
        (changed(inputs={"src/a.py": DIGEST_A, "src/b.py": DIGEST_A}), ["new input src/b.py"]),
        (changed(inputs={}), ["input src/a.py removed"]),
        (changed(tools={"python": "3.12.1"}), ["tool python version changed: 3.11.7 -> 3.12.1"]),
        (changed(tools={"python": "3.11.7", "node": "20.1"}), ["new tool node 20.1"]),
        (changed(tools={}), ["tool python removed"]),
        (changed(needs={"lint": {"ok": "false"}}),
         ["needed job lint output ok changed: true -> false"]),
        (changed(needs={"lint": {"ok": "true", "v": "2"}}), ["new needed job lint output v 2"]),
        (changed(needs={"lint": {}}), ["needed job lint output ok removed"]),
        (changed(needs={"lint": {"ok": "true"}, "gen[x=1]": {}}), ["new needed job gen[x=1]"]),
        (changed(needs={}), ["needed job lint removed"]),
        (changed(needs={"lint": {"ok": "x" * 41}}), ["needed job lint output ok changed"]),
        (changed(needed_files={"gen": {"out/a.txt": DIGEST_A}}),
         ["new needed job gen output file out/a.txt"]),
        (changed(sandbox=True), ["sandbox turned on"]),
        (changed(matrix={"python": "3.12"}), ["matrix python changed: 3.11 -> 3.12"]),
        (changed(matrix={"python": "3.11", "os": "linux"}), ["new matrix os linux"]),
        (changed(platform="darwin-arm64"), ["platform changed: linux-x86_64 -> darwin-arm64"]),
        (changed(working_directory="pkg"), ["working directory changed: . -> pkg"]),
        (changed(secrets={"TOKEN": None}), ["new secret TOKEN"]),
        (changed(command="make", env={}, inputs={}),
         ["command changed", "env A removed", "env B removed", "input src/a.py removed"]),
    ],
)  # fmt: skip
def test_explain_miss_names_each_difference(new: KeyInputs, reasons: list[str]) -> None:
    """Each differing component of the key gets one plain sentence, in a fixed order."""
    assert explain_miss(manifest(BASE), manifest(new)) == reasons


def test_explain_miss_names_secret_changes_without_values() -> None:
    """A changed secret or env value is named, never quoted."""
    old = manifest(changed(secrets={"T": secret_digest("one", SALT)}, env={"K": "old-key"}))
    new = manifest(changed(secrets={"T": secret_digest("two", SALT)}, env={"K": "new-key"}))
    reasons = explain_miss(old, new)
    assert reasons == ["env K changed", "secret T changed"]
    assert not any("key" in reason or "hmac" in reason for reason in reasons)


def test_explain_miss_without_an_earlier_run() -> None:
    """With nothing to compare against, the reason says so."""
    assert explain_miss(None, manifest(BASE)) == ["no earlier run of this step to compare with"]


def test_explain_miss_limits_long_lists() -> None:
    """With a limit, the list ends with how many reasons were left out."""
    many = changed(inputs={f"src/{i}.py": DIGEST_A for i in range(10)})
    reasons = explain_miss(manifest(BASE), manifest(many), limit=3)
    assert reasons == ["new input src/0.py", "new input src/1.py", "new input src/2.py",
                       "... and 8 more"]  # fmt: skip


def test_explain_miss_reads_other_format_versions() -> None:
    """Manifests of another format, with fields missing or added, are still compared."""
    old = {"version": 0, "command": "pytest -q", "inputs": {"src/a.py": DIGEST_A}, "flavour": "x"}
    new = manifest(BASE)
    assert explain_miss(old, new) == [
        "cache format changed: 0 -> 2",
        "platform changed: none -> linux-x86_64",
        "working directory changed: none -> .",
        "new tool python 3.11.7",
        "new env A",
        "new env B",
        "new needed job lint",
        "new matrix python 3.11",
        "flavour changed",
    ]


def test_explain_miss_names_the_needed_output_file_that_changed() -> None:
    """A needed step's output file whose bytes changed is named, without its digest."""
    old = manifest(changed(needed_files={"gen": {"out/a.txt": DIGEST_A, "out/b.txt": DIGEST_A}}))
    new = manifest(changed(needed_files={"gen": {"out/a.txt": DIGEST_B, "out/b.txt": DIGEST_A}}))
    assert explain_miss(old, new) == ["needed job gen output file out/a.txt changed"]
    turned_off = manifest(changed(sandbox=False))
    assert explain_miss(manifest(changed(sandbox=True)), turned_off) == ["sandbox turned off"]
