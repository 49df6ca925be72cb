"""Rollouts on a command target: the controller drives the user's shell hooks for each step."""

from __future__ import annotations

import threading
import time
from pathlib import Path
from typing import Any

import pytest

from shipyard.errors import ShipyardError
from shipyard.services.deployments import deploy as svc
from shipyard.services.deployments import environments as env_svc
from shipyard.spec.load import parse_spec
from shipyard.store.uow import Store

# A stand-in platform: every hook appends what it was asked to a log; `fail` makes one hook
# exit non-zero when its arguments match, `healthy` gates the health hook.
PLATFORM = """#!/bin/sh
echo "$*" >> calls.log
if [ -f fail ] && [ "$*" = "$(cat fail)" ]; then echo "platform refused: $*" >&2; exit 3; fi
if [ "$1" = health ] && [ ! -f healthy ]; then exit 1; fi
if [ "$1" = deploy ]; then echo "$GREETING $SHIPYARD_ENV $APP_VERSION" >> env.log; fi
exit 0
"""

SPEC = """
project: shop
config: {{GREETING: hello}}
environments:
  production:
    target:
      type: command
      instances: 2
      timeout: 10s
      deploy: "sh platform.sh deploy {{pool}} {{version}} {{instances}}"
      set_weight: "sh platform.sh weight {{pool}} {{weight}}"
      health: "sh platform.sh health {{pool}} {{version}}"
      promote: "sh platform.sh promote {{pool}} {{version}}"
      rollback: "sh platform.sh rollback {{pool}} {{version}}"
      stop: "sh platform.sh stop {{pool}} {{version}} {{instances}}"
    strategy: {strategy}
"""

HOLD = "    on_failure: hold\n"
CANARY = "{canary: {steps: [{weight: 25}, {weight: 50}], progress_deadline: 2s}}"


def spec_of(strategy: str = CANARY, extra: str = "") -> Any:
    return parse_spec(SPEC.format(strategy=strategy) + extra)


@pytest.fixture
def root(tmp_path: Path) -> Path:
    (tmp_path / "platform.sh").write_text(PLATFORM)
    (tmp_path / "healthy").touch()
    return tmp_path


def calls(root: Path) -> list[str]:
    path = root / "calls.log"
    lines = path.read_text().splitlines() if path.exists() else []
    path.unlink(missing_ok=True)
    return [line for line in lines if not line.startswith("health")]


def finished(store: Store) -> list[dict[str, Any]]:
    with store.read() as uow:
        return [e.payload for e in uow.events.query(project="shop", kind="deployment.finished")]


def live_version(store: Store, spec: Any) -> str | None:
    envs = env_svc.environments(store, spec)["environments"]
    return next(e["version"] for e in envs if e["environment"] == "production")


def test_canary_drives_every_hook_in_order(store: Store, root: Path) -> None:
    """A first deploy goes straight to full; the next canary moves weight by hook, then promotes."""
    spec = spec_of()
    first = svc.deploy(store, spec, root, "production", version="1.0.0")
    assert first["status"] == "succeeded"
    assert calls(root) == [
        "deploy canary 1.0.0 2",
        "weight canary 100",
        "promote canary 1.0.0",
    ]
    out = svc.deploy(store, spec, root, "production", version="1.1.0")
    assert out["status"] == "succeeded" and live_version(store, spec) == "1.1.0"
    assert calls(root) == [
        "deploy canary 1.1.0 1",
        "weight canary 25",
        "weight canary 50",
        "deploy canary 1.1.0 2",
        "weight canary 100",
        "stop stable 1.0.0 0",
        "promote canary 1.1.0",
    ]
    # config and the variables reach the hooks' environment too
    assert (root / "env.log").read_text().splitlines()[-1] == "hello production 1.1.0"
    status = svc.rollout_status(store, spec, "production")
    assert status["phase"] == "Healthy" and status["weights"] == {"stable": 0, "canary": 100}


@pytest.mark.parametrize(
    ("failing", "hook"),
    [("weight canary 50", "set_weight"), ("promote canary 1.1.0", "promote")],
)
def test_failing_hook_rolls_the_rollout_back(
    store: Store, root: Path, failing: str, hook: str
) -> None:
    """A hook exiting non-zero mid-rollout or at promotion rolls back with the hook's error."""
    spec = spec_of()
    svc.deploy(store, spec, root, "production", version="1.0.0")
    calls(root)
    (root / "fail").write_text(failing + "\n")
    out = svc.deploy(store, spec, root, "production", version="1.1.0")
    assert out["status"] == "rolled-back"
    assert out["reason"].startswith("hook-failed: ") and f"hook '{hook}'" in out["reason"]
    assert "status 3" in out["reason"] and "platform refused" in out["reason"]
    made = calls(root)
    assert made[-1] == "rollback stable 1.0.0"
    assert "weight canary 0" in made and "stop canary 1.1.0 0" in made
    assert live_version(store, spec) == "1.0.0"
    assert finished(store)[-1]["status"] == "rolled-back"


def test_failing_hook_under_hold_waits_for_a_person(store: Store, root: Path) -> None:
    """Under on_failure: hold a failing hook stops the rollout as it is; abort then rolls back."""
    spec = parse_spec(SPEC.format(strategy=CANARY).replace("    strategy:", HOLD + "    strategy:"))
    svc.deploy(store, spec, root, "production", version="1.0.0")
    calls(root)
    (root / "fail").write_text("weight canary 50\n")
    outcome: dict[str, Any] = {}
    worker = threading.Thread(
        target=lambda: outcome.update(svc.deploy(store, spec, root, "production", version="1.1.0"))
    )
    worker.start()
    deadline = time.monotonic() + 30
    while not (status := svc.rollout_status(store, spec, "production"))["held"]:
        assert time.monotonic() < deadline, status
        time.sleep(0.1)
    assert "hook 'set_weight'" in status["failure"] and status["weights"]["canary"] == 50
    made = calls(root)
    assert "rollback stable 1.0.0" not in made and "stop canary 1.1.0 0" not in made
    svc.act(store, spec, "production", "abort", "oncall")
    worker.join(30)
    assert not worker.is_alive()
    assert outcome["status"] == "rolled-back" and "while held" in outcome["reason"]
    assert calls(root)[-1] == "rollback stable 1.0.0"
    assert live_version(store, spec) == "1.0.0"


def test_health_hook_that_never_passes_is_rolled_back_at_the_deadline(
    store: Store, root: Path
) -> None:
    """Instances the health hook never reports ready fail the progress deadline."""
    spec = spec_of()
    svc.deploy(store, spec, root, "production", version="1.0.0")
    (root / "healthy").unlink()
    calls(root)
    out = svc.deploy(store, spec, root, "production", version="1.1.0")
    assert out["status"] == "rolled-back" and "progress deadline" in out["reason"]
    made = calls(root)
    assert "weight canary 25" not in made and made[-1] == "rollback stable 1.0.0"


def test_failing_deploy_hook_on_a_first_deploy_leaves_nothing_live(
    store: Store, root: Path
) -> None:
    """With no stable version, a failing deploy hook rolls back to nothing, error kept."""
    spec = spec_of()
    (root / "fail").write_text("deploy canary 1.0.0 2\n")
    out = svc.deploy(store, spec, root, "production", version="1.0.0")
    assert out["status"] == "rolled-back" and "hook 'deploy'" in out["reason"]
    assert live_version(store, spec) is None


@pytest.mark.parametrize(
    ("strategy", "extra", "code"),
    [
        (
            "{rings: {waves: [{name: staff, header: 'x-ring: staff'}, {name: all, weight: 100}]}}",
            "",
            "target-unsupported",
        ),
        (
            CANARY.replace("{weight: 50}", "{analysis: errors}"),
            "analysis: {errors: {provider: builtin, max: 0.1}}\n",
            "analysis-unsupported",
        ),
    ],
)
def test_what_hooks_cannot_do_is_refused(
    store: Store, root: Path, strategy: str, extra: str, code: str
) -> None:
    """Header rings and router-based analysis are refused before anything runs."""
    with pytest.raises(ShipyardError) as err:
        svc.create(store, spec_of(strategy, extra), root, "production", version="1.0.0")
    assert err.value.code == code and err.value.hint
    assert not (root / "calls.log").exists()


def test_canary_without_set_weight_hook_is_refused(store: Store, root: Path) -> None:
    """A canary needs the set_weight hook to move traffic."""
    text = SPEC.format(strategy=CANARY).replace(
        '      set_weight: "sh platform.sh weight {pool} {weight}"\n', ""
    )
    with pytest.raises(ShipyardError) as err:
        svc.create(store, parse_spec(text), root, "production", version="1.0.0")
    assert err.value.code == "hook-missing" and "set_weight" in err.value.message
