"""DORA figures of a real team's path: lead time for any artifact name, flag flips apart."""

from __future__ import annotations

from pathlib import Path

from tests import gitrepo
from tests.e2e.helpers import as_json, shipyard

SPEC = """\
project: shop
pipeline:
  jobs:
    build:
      run: mkdir -p dist && cp app.txt dist/web.zip
      inputs: [app.txt]
      outputs: [dist/web.zip]
      artifact: shop-web
environments:
  production:
    target: {type: command, deploy: "true"}
"""


def test_lead_time_and_deployments_apart_from_flag_changes(
    tmp_path: Path, database_url: str
) -> None:
    """With an artifact named unlike the project, `metrics dora` fills lead time from the
    release's commits; three flag flips in production leave deployment frequency at the one
    deployment and show up only in `changes`."""
    root = gitrepo.init(tmp_path / "shop")
    env = {"SHIPYARD_DATABASE_URL": database_url}
    files = {"shipyard.yaml": SPEC, "app.txt": "v1\n", ".gitignore": ".shipyard/\ndist/\n"}
    gitrepo.commit(root, "feat: a shop", files)
    gitrepo.commit(root, "fix: a price", {"app.txt": "v2\n"})
    assert shipyard("release", cwd=root, env=env).returncode == 0
    deployed = shipyard("deploy", "production", cwd=root, env=env)
    assert deployed.returncode == 0, deployed.stderr
    assert (
        shipyard("flags", "create", "beta", "--env", "production", cwd=root, env=env).returncode
        == 0
    )
    for action in ("enable", "disable", "enable"):
        assert (
            shipyard("flags", action, "beta", "--env", "production", cwd=root, env=env).returncode
            == 0
        )
    flips = as_json(
        shipyard("audit", "log", "--kind", "flag.changed", "--json", cwd=root, env=env)
    )["events"]
    data = as_json(shipyard("metrics", "dora", "--json", cwd=root, env=env))
    f = data["figures"]
    assert f["deployment_frequency"]["numerator"] == 1
    assert f["lead_time"]["value"] is not None and f["lead_time"]["denominator"] == 2
    assert f["change_failure_rate"]["denominator"] == 1
    assert data["changes"]["deployments"] == 1 and data["changes"]["flags"] == len(flips) >= 4
    human = shipyard("metrics", "dora", cwd=root, env=env).stdout
    assert f"1 deployments + {len(flips)} flag changes" in human
