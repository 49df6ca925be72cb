"""Custom command gates: run at gate time with a timeout, exit status and masked output passed
to the gate, a failing one refusing the deploy."""

from __future__ import annotations

import stat
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from shipyard.domain.gates import CustomGate, GateInvalid, parse_policy
from shipyard.ports.commands import Ran
from shipyard.services.compliance import gates
from shipyard.services.deployments import deploy
from shipyard.spec.load import parse_spec
from shipyard.store.uow import Store
from tests.fakes import FakeCommands
from tests.integration.release_helpers import publish

SECRET = "s3cr3t-token-value-42"

SPEC = """
project: shop
secrets: {{API_TOKEN: {{file: token.txt}}}}
config: {{GREETING: hello}}
environments:
  production:
    target: {{type: process, command: "python app.py --port {{port}}"}}
    gates:
      - {{custom: {{name: smoke, run: ./smoke.sh {args}, timeout: {timeout}}}}}
"""

SMOKE = """#!/bin/sh
echo "checking $SHIPYARD_VERSION for $SHIPYARD_ENVIRONMENT ($GREETING) with $API_TOKEN"
case "$1" in
  fail) echo "GET /health -> 503" >&2; exit 3 ;;
  hang) sleep 60 ;;
esac
echo ok
"""


@pytest.fixture
def root(tmp_path: Path) -> Path:
    folder = tmp_path / "project"
    folder.mkdir()
    (folder / "token.txt").write_text(SECRET + "\n")
    script = folder / "smoke.sh"
    script.write_text(SMOKE)
    script.chmod(script.stat().st_mode | stat.S_IXUSR)
    return folder


def spec_of(args: str = "", timeout: str = "30s") -> Any:
    return parse_spec(SPEC.format(args=args, timeout=timeout))


def smoke(store: Store, spec: Any, root: Path) -> dict[str, Any]:
    publish(store, "1.0.0")
    verdict = gates.check(
        store, spec, "production", "1.0.0", "alice@example.com", datetime.now(UTC), root
    )
    data = gates.verdict_dict(verdict, "production", "1.0.0")
    [gate] = data["gates"]
    assert gate["name"] == "smoke"
    return gate


def test_a_passing_command_passes_with_its_output_masked(store: Store, root: Path) -> None:
    gate = smoke(store, spec_of(), root)
    assert gate["passed"] and gate["reason"] == "'./smoke.sh' exited 0"
    assert gate["details"]["exit_code"] == 0
    out = gate["details"]["output"]
    assert "checking 1.0.0 for production (hello) with ***" in out and "ok" in out
    assert SECRET not in out


def test_a_failing_command_fails_the_gate_and_refuses_the_deploy(store: Store, root: Path) -> None:
    spec = spec_of("fail")
    gate = smoke(store, spec, root)
    assert not gate["passed"] and gate["reason"] == "'./smoke.sh fail' exited 3"
    assert gate["details"]["exit_code"] == 3
    assert "GET /health -> 503" in gate["details"]["output"]
    assert SECRET not in gate["details"]["output"]
    with pytest.raises(deploy.GatesFailed) as refused:
        deploy.create(store, spec, root, "production", version="1.0.0")
    assert "smoke: './smoke.sh fail' exited 3" in refused.value.message
    assert SECRET not in str(refused.value.details)


def test_a_command_that_hangs_is_stopped_at_its_timeout(store: Store, root: Path) -> None:
    gate = smoke(store, spec_of("hang", "1s"), root)
    assert not gate["passed"]
    assert gate["reason"] == "'./smoke.sh hang' did not finish within 1s"
    assert "with ***" in gate["details"]["output"]


def test_a_gate_command_is_judged_by_what_the_command_runner_answers(root: Path) -> None:
    """Through a fake runner: the command gets the gate's variables and its folder, its merged
    output comes back masked, and one the runner killed at the timeout counts as exit 124."""
    spec = spec_of("hang", "2s")
    [gate] = gates.policy_for(spec, "production").gates
    assert isinstance(gate, CustomGate)
    runner = FakeCommands({"hang": Ran(-9, f"with {SECRET}\n".encode(), timed_out=True)})
    result = gates.run_command(gate, spec, "production", "1.0.0", root, runner)
    [call] = runner.calls
    assert (call.line, call.cwd, call.timeout, call.merge) == ("./smoke.sh hang", root, 2.0, True)
    assert call.env["SHIPYARD_GATE"] == "smoke" and call.env["API_TOKEN"] == SECRET
    assert (result.exit_code, result.timed_out, result.output) == (124, True, "with ***\n")
    passed = gates.run_command(gate, spec, "production", "1.0.0", root, FakeCommands())
    assert (passed.exit_code, passed.timed_out, passed.output) == (0, False, "")


def test_custom_gate_timeout_parses() -> None:
    [gate] = parse_policy([{"custom": {"name": "smoke", "run": "x", "timeout": "90s"}}]).gates
    assert isinstance(gate, CustomGate) and gate.timeout == timedelta(seconds=90)
    [default] = parse_policy([{"custom": {"name": "smoke", "run": "x"}}]).gates
    assert isinstance(default, CustomGate) and default.timeout == timedelta(minutes=5)
    with pytest.raises(GateInvalid):
        parse_policy([{"custom": {"name": "smoke", "run": "x", "timeout": "0s"}}])
