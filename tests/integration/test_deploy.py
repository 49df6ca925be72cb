"""Deployments on real processes behind the built-in router, with real HTTP traffic."""

from __future__ import annotations

import shutil
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from shipyard.demo.deploy import Traffic as Load  # steady cookie-less visitors
from shipyard.errors import ShipyardError
from shipyard.services.deployments import deploy as svc
from shipyard.services.deployments import environments as env_svc
from shipyard.spec.load import parse_spec
from shipyard.store.uow import Store

APP = Path(__file__).resolve().parents[2] / "src" / "shipyard" / "demo" / "sample" / "app.py"

SPEC = """
project: shop
config: {{FAIL_RATE: 0, GREETING: hello}}
environments:
  dev:
    target:
      type: process
      command: "python app.py --port {{port}}"
      instances: 2
      readiness: {{timeout: 5s}}
      grace: 1s
    strategy: {dev_strategy}
    migrate: {migrate}
  staging:
    promote_from: dev
    strategy: {{blue-green: {{scale_down_delay: 1s}}}}
  production:
    promote_from: staging
    config: {{FAIL_RATE: {fail_rate}}}
    strategy:
      canary:
        steps: [{{weight: 50}}, {{analysis: errors, duration: 3s}}, {{weight: 100}}]
analysis:
  errors:
    {{provider: builtin, metric: error_rate, max_increase: 0.05, min_samples: 20, interval: 1s}}
"""


def spec_of(dev_strategy: str = "recreate", fail_rate: float = 0.0, migrate: str = "null") -> Any:
    return parse_spec(SPEC.format(dev_strategy=dev_strategy, fail_rate=fail_rate, migrate=migrate))


@pytest.fixture
def root(tmp_path: Path) -> Path:
    shutil.copy(APP, tmp_path / "app.py")
    return tmp_path


@pytest.fixture
def cleanup(store: Store) -> Iterator[list[Any]]:
    specs: list[Any] = []
    yield specs
    for spec in specs:
        for env in spec.environments:
            env_svc.stop_environment(store, spec, env)


def url_of(store: Store, spec: Any, env: str) -> str:
    envs = env_svc.environments(store, spec)["environments"]
    return next(e["url"] for e in envs if e["environment"] == env)


def events(store: Store, kind: str) -> list[Any]:
    with store.read() as uow:
        return uow.events.query(project="shop", kind=kind)


def test_promotion_chain_recreate_then_blue_green_without_failed_requests(
    store: Store, root: Path, cleanup: list[Any]
) -> None:
    """A version promoted dev -> staging switches blue-green under load with no failed request."""
    spec = spec_of()
    cleanup.append(spec)
    assert svc.deploy(store, spec, root, "dev", version="1.0.0")["status"] == "succeeded"
    assert svc.deploy(store, spec, root, "staging")["version"] == "1.0.0"  # promoted by default
    assert svc.deploy(store, spec, root, "dev", version="1.1.0")["status"] == "succeeded"
    with Load(url_of(store, spec, "staging")) as load:
        out = svc.deploy(store, spec, root, "staging")
    assert out["status"] == "succeeded" and out["version"] == "1.1.0"
    assert set(load.counts) == {200} and load.counts[200] > 20
    envs = {e["environment"]: e for e in env_svc.environments(store, spec)["environments"]}
    assert envs["staging"]["version"] == "1.1.0" and sorted(
        envs["staging"]["weights"].values()
    ) == [0, 100]
    assert {i["version"] for i in envs["staging"]["instances"]} == {"1.1.0"}
    stepped = events(store, "rollout.stepped")
    assert all(
        {"phase", "step", "weights", "reason", "measurements"} <= set(e.payload) for e in stepped
    )
    assert [e.payload["status"] for e in events(store, "deployment.finished")] == ["succeeded"] * 4


def test_canary_with_healthy_version_is_promoted(
    store: Store, root: Path, cleanup: list[Any]
) -> None:
    """A healthy canary passes its analysis and ends with all traffic on the new version."""
    spec = spec_of()
    cleanup.append(spec)
    for env, version in (("dev", "1.0.0"), ("staging", "1.0.0"), ("production", "1.0.0")):
        svc.deploy(store, spec, root, env, version=version)
    svc.deploy(store, spec, root, "dev", version="1.1.0")
    svc.deploy(store, spec, root, "staging")
    with Load(url_of(store, spec, "production")):
        out = svc.deploy(store, spec, root, "production")
    assert out["status"] == "succeeded"
    status = svc.rollout_status(store, spec, "production")
    assert status["analysis"]["phase"] == "Successful"
    assert status["analysis"]["details"]["canary"]["requests"] >= 20


def test_bad_canary_is_rolled_back_by_analysis(
    store: Store, root: Path, cleanup: list[Any]
) -> None:
    """A canary answering 50% errors fails its first analysis and is rolled back, numbers kept."""
    good = spec_of()
    cleanup.append(good)
    for env in ("dev", "staging", "production"):
        svc.deploy(store, good, root, env, version="1.0.0")
    svc.deploy(store, good, root, "dev", version="1.1.0")
    svc.deploy(store, good, root, "staging")
    bad = spec_of(fail_rate=0.5)
    with Load(url_of(store, bad, "production")):
        out = svc.deploy(store, bad, root, "production")
    assert out["status"] == "rolled-back"
    assert "error rate" in out["reason"]
    assert out["measurements"]["canary"]["error_rate"] > 0.05
    envs = {e["environment"]: e for e in env_svc.environments(store, bad)["environments"]}
    prod = envs["production"]
    assert prod["version"] == "1.0.0"
    assert {i["version"] for i in prod["instances"]} == {"1.0.0"}  # canary pool stopped
    assert 100 in prod["weights"].values()
    finished = events(store, "deployment.finished")[-1].payload
    assert finished["status"] == "rolled-back" and finished["measurements"]["analysis"] == "errors"


def test_rolling_update_replaces_every_instance(
    store: Store, root: Path, cleanup: list[Any]
) -> None:
    """A rolling update ends with every instance on the new version."""
    spec = spec_of(dev_strategy="rolling")
    cleanup.append(spec)
    svc.deploy(store, spec, root, "dev", version="1.0.0")
    with Load(url_of(store, spec, "dev")) as load:
        assert svc.deploy(store, spec, root, "dev", version="1.1.0")["status"] == "succeeded"
    envs = {e["environment"]: e for e in env_svc.environments(store, spec)["environments"]}
    assert [i["version"] for i in envs["dev"]["instances"]] == ["1.1.0", "1.1.0"]
    assert load.counts[200] > 0


def test_secrets_reach_instances_but_never_events(
    store: Store, root: Path, cleanup: list[Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    """A secret by reference is in the migration's environment and in no event payload."""
    monkeypatch.setenv("SHOP_TOKEN", "s3cr3t-value")
    (root / "mig.py").write_text("import os\nopen('seen', 'w').write(os.environ['TOKEN'])\n")
    text = SPEC.format(dev_strategy="recreate", fail_rate=0, migrate="python mig.py")
    text = text.replace("project: shop\n", "project: shop\nsecrets: {TOKEN: {env: SHOP_TOKEN}}\n")
    spec = parse_spec(text)
    cleanup.append(spec)
    svc.deploy(store, spec, root, "dev", version="1.0.0")
    assert (root / "seen").read_text() == "s3cr3t-value"
    with store.read() as uow:
        everything = str([e.payload for e in uow.events.query(project="shop")])
    assert "s3cr3t-value" not in everything


def test_config_change_is_a_revision_of_its_own(
    store: Store, root: Path, cleanup: list[Any]
) -> None:
    """The same version with changed config deploys; unchanged, it is refused as already live."""
    spec = spec_of()
    cleanup.append(spec)
    svc.deploy(store, spec, root, "dev", version="1.0.0")
    with pytest.raises(ShipyardError) as err:
        svc.deploy(store, spec, root, "dev", version="1.0.0")
    assert err.value.code == "already-live"
    changed = parse_spec(
        SPEC.format(dev_strategy="recreate", fail_rate=0, migrate="null").replace(
            "GREETING: hello", "GREETING: hi"
        )
    )
    assert svc.deploy(store, changed, root, "dev", version="1.0.0")["status"] == "succeeded"


@pytest.mark.parametrize(
    ("env", "version", "code"),
    [
        ("qa", "1.0.0", "environment-unknown"),
        ("staging", "9.9.9", "promotion-skips-environment"),
        ("production", None, "version-required"),
    ],
)
def test_bad_deploy_requests_are_refused(
    store: Store, root: Path, env: str, version: str | None, code: str
) -> None:
    """Unknown environments, skipped promotions and missing versions get an error with a code."""
    with pytest.raises(ShipyardError) as err:
        svc.create(store, spec_of(), root, env, version=version)
    assert err.value.code == code and err.value.hint


def test_failing_migration_stops_the_deploy(store: Store, root: Path, cleanup: list[Any]) -> None:
    """A migration exiting non-zero fails the deployment before any traffic moves."""
    spec = spec_of(migrate="'python -c \"import sys; sys.exit(3)\"'")
    cleanup.append(spec)
    with pytest.raises(ShipyardError) as err:
        svc.deploy(store, spec, root, "dev", version="1.0.0")
    assert err.value.code == "migration-failed"
    assert events(store, "deployment.finished")[-1].payload["status"] == "failed"
    envs = {e["environment"]: e for e in env_svc.environments(store, spec)["environments"]}
    assert envs["dev"]["instances"] == []


def test_target_that_never_gets_ready_is_rolled_back_at_the_deadline(
    store: Store, root: Path, cleanup: list[Any]
) -> None:
    """Instances that never answer readiness fail the progress deadline and roll back."""
    good = spec_of()
    cleanup.append(good)
    svc.deploy(store, good, root, "dev", version="1.0.0")
    broken = parse_spec(
        SPEC.format(dev_strategy="recreate", fail_rate=0, migrate="null")
        .replace(
            '"python app.py --port {port}"', '"python -c \\"import time; time.sleep(60)\\" {port}"'
        )
        .replace("timeout: 5s", "timeout: 1s")
    )
    out = svc.deploy(store, broken, root, "dev", version="1.1.0")
    assert out["status"] == "rolled-back" and "progress deadline" in out["reason"]
    envs = {e["environment"]: e for e in env_svc.environments(store, good)["environments"]}
    assert {i["version"] for i in envs["dev"]["instances"]} == {"1.0.0"}


def test_paused_rollout_is_promoted_by_a_user_action(
    store: Store, root: Path, cleanup: list[Any]
) -> None:
    """A canary paused until promoted continues when `rollout promote` is queued."""
    text = SPEC.format(
        dev_strategy="{canary: {steps: [{weight: 50}, {pause: until-promoted}]}}",
        fail_rate=0,
        migrate="null",
    )
    spec = parse_spec(text)
    cleanup.append(spec)
    svc.deploy(store, spec, root, "dev", version="1.0.0")
    result: dict[str, Any] = {}
    thread = threading.Thread(
        target=lambda: result.update(svc.deploy(store, spec, root, "dev", version="1.1.0"))
    )
    thread.start()
    try:
        for _ in range(200):
            status = svc.rollout_status(store, spec, "dev")
            if status["phase"] == "Paused" and status["status"] == "running":
                break
            threading.Event().wait(0.05)
        with pytest.raises(ShipyardError) as err:
            svc.create(store, spec, root, "dev", version="1.2.0")
        assert err.value.code == "rollout-in-progress"
        svc.act(store, spec, "dev", "promote", "alice")
    finally:
        thread.join(30)
    assert result["status"] == "succeeded"
    with pytest.raises(ShipyardError) as err:
        svc.act(store, spec, "dev", "promote", "alice")
    assert err.value.code == "no-rollout"
