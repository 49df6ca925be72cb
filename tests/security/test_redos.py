"""Hole 3: flag constraint regexes run in linear time, in the server and in the SDK.

The bounds are not timing measurements: the old backtracking engine takes minutes or hours on
these inputs (each extra character doubles it), the linear one milliseconds."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import httpx
import pytest

from tests.security.conftest import World

# (pattern, userId, whether it matches)
CASES = [
    (r"^(a|a)*$", "a" * 5000 + "b", False),
    (r"^(a|a)*$", "a" * 5000, True),
    (r"^(a?){25}a{25}$", "a" * 40 + "b", False),
    (r"^(a?){25}a{25}$", "a" * 50, True),
]
BOUND_S = 30.0


def _feature(name: str, pattern: str) -> dict[str, Any]:
    constraint = {"contextName": "userId", "operator": "REGEX", "value": pattern}
    return {
        "name": name,
        "enabled": True,
        "strategies": [{"name": "default", "constraints": [constraint]}],
    }


@pytest.fixture(scope="module")
def flags(world: World) -> dict[str, str]:
    """One flag per pattern in bravo's ``dev``, made through the API as a user would."""
    names = {pattern: f"redos-{i}" for i, pattern in enumerate(dict.fromkeys(c[0] for c in CASES))}
    for pattern, name in names.items():
        made = world.call(
            "PUT",
            f"/api/v1/flags/{name}?project=bravo&env=dev",
            "root",
            json=_feature(name, pattern),
        )
        assert made.status_code == 200, made.text
    return names


@pytest.mark.parametrize(
    ("pattern", "user", "expected"), CASES, ids=[f"{p}-{len(u)}" for p, u, _ in CASES]
)
def test_catastrophic_pattern_neither_hangs_nor_stalls_the_server(
    world: World, flags: dict[str, str], pattern: str, user: str, expected: bool
) -> None:
    """One eval of a pattern that backtracks exponentially answers, and /healthz answers
    meanwhile."""
    name = flags[pattern]
    with ThreadPoolExecutor(1) as pool:
        pending = pool.submit(
            world.call,
            "POST",
            f"/api/v1/flags/{name}/eval?project=bravo&env=dev",
            "root",
            json={"context": {"userId": user}},
        )
        health = httpx.get(world.url + "/healthz", timeout=BOUND_S)
        assert health.status_code == 200
        answer = pending.result(timeout=BOUND_S)
    assert answer.status_code == 200, answer.text
    assert answer.json()["enabled"] is expected


def test_sdk_evaluates_catastrophic_patterns_in_bounded_time(
    world: World, flags: dict[str, str]
) -> None:
    """The Python SDK, fed by the server, evaluates the same patterns without hanging."""
    made = world.call(
        "POST", "/api/v1/flags/tokens?project=bravo", "root", json={"environment": "dev"}
    )
    assert made.status_code == 200, made.text
    script = textwrap.dedent(
        f"""
        import json, sys
        from shipyard_sdk import FlagsClient
        client = FlagsClient({world.url!r}, {made.json()["token"]!r}, "dev", stream=False)
        assert client.wait_until_ready(20)
        cases = json.loads(sys.stdin.read())
        print(json.dumps([client.is_enabled(name, {{"userId": user}}) for name, user in cases]))
        client.close(flush=False)
        """
    )
    cases = [[flags[pattern], user] for pattern, user, _ in CASES]
    proc = subprocess.run(
        [sys.executable, "-c", script],
        input=json.dumps(cases),
        capture_output=True,
        text=True,
        timeout=BOUND_S * 2,
    )
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout) == [expected for _, _, expected in CASES]
