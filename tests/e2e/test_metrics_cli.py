"""`shipyard metrics` and `shipyard incident` as a user runs them, charts included."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from shipyard.settings import Settings
from shipyard.store.uow import Store
from tests.e2e.helpers import as_json, shipyard
from tests.integration.test_metrics import deploy


@pytest.fixture(scope="module")
def repo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A project with twelve weeks of deployments of two services."""
    root = tmp_path_factory.mktemp("metrics")
    (root / "shipyard.yaml").write_text("project: shop\n")
    store = Store.open(
        Settings(
            home=root / ".shipyard", database_url=f"sqlite:///{root / '.shipyard' / 'state.db'}"
        )
    )
    rng = random.Random(11)
    start = datetime.now(UTC) - timedelta(weeks=12)
    for i in range(120):
        at = start + timedelta(hours=16.8 * i)
        status = rng.choices(["succeeded", "rolled-back", "failed"], [0.85, 0.1, 0.05])[0]
        ages = tuple(rng.uniform(1, 30 + i) for _ in range(rng.randint(1, 5)))
        deploy(store, f"d{i}", rng.choice(["cart", "pay"]), at, status, commit_ages_h=ages)
    store.dispose()
    return root


def test_dora_json_and_incident_round_trip(repo: Path) -> None:
    """An incident opened and resolved from the CLI shows up in the figures it feeds."""
    log = as_json(shipyard("audit", "log", "--subject", "deployment:d118", "--json", cwd=repo))
    service = log["events"][-1]["payload"]["service"]
    args = ["--service", service, "--deployment", "d118", "--title", "checkout 500s"]
    opened = as_json(shipyard("incident", "open", *args, "--json", cwd=repo))
    done = shipyard("incident", "resolve", opened["id"], cwd=repo)
    assert done.returncode == 0, done.stderr
    data = as_json(
        shipyard("metrics", "dora", "--since", "30d", "--by", "week", "--json", cwd=repo)
    )
    assert data["figures"]["time_to_restore"]["denominator"] >= 1
    assert "d118" in [e["deployment"] for e in data["evidence"]["change_failures"]]
    assert len(data["trend"]) in (5, 6)
    human = shipyard("metrics", "dora", "--service", "cart", cwd=repo)
    assert human.returncode == 0 and "change failure rate" in human.stdout


@pytest.mark.parametrize("suffix", [".png", ".svg"])
def test_plot_writes_a_chart(repo: Path, suffix: str) -> None:
    """--plot draws the weekly trend of the four keys into a PNG or SVG file."""
    target = repo / f"dora{suffix}"
    proc = shipyard("metrics", "dora", "--since", "84d", "--plot", str(target), cwd=repo)
    assert proc.returncode == 0, proc.stderr
    head = target.read_bytes()[:200]
    assert head.startswith(b"\x89PNG") if suffix == ".png" else b"<svg" in target.read_bytes()


@pytest.mark.parametrize(
    "args,code",
    [
        (
            ["metrics", "dora", "--since", "2026-02-01", "--until", "2026-01-01"],
            "time-range-invalid",
        ),
        (["metrics", "dora", "--service", "nope"], "metrics-service-unknown"),
        (["metrics", "dora", "--env", "prod"], "metrics-env-unknown"),
        (["metrics", "dora", "--plot", "/nonexistent/dir/x.png"], "plot-unwritable"),
        (["metrics", "dora", "--plot", "chart.gif"], "plot-format-unknown"),
        (
            [
                "metrics",
                "cost",
                "--developers",
                "-5",
                "--runs-per-day",
                "5",
                "--hourly-cost",
                "100",
            ],
            "cost-input-invalid",
        ),
        (
            ["incident", "open", "--service", "cart", "--deployment", "d-none"],
            "deployment-not-found",
        ),
        (["incident", "open", "--service", "cart"], "incident-deployment-missing"),
        (["incident", "resolve", "inc-none"], "incident-not-found"),
    ],
)
def test_bad_input_gets_a_coded_error(repo: Path, args: list[str], code: str) -> None:
    """Bad input exits non-zero with the error's code, message and hint."""
    proc = shipyard(*args, cwd=repo)
    assert proc.returncode != 0
    assert f"error[{code}]" in proc.stderr and "hint:" in proc.stderr
    assert as_json(shipyard("--json", *args, cwd=repo))["error"]["code"] == code


def test_cost_from_measured_builds_with_none_measured(repo: Path) -> None:
    """With no pipeline runs recorded the cost says no data and exits 0."""
    proc = shipyard(
        "metrics",
        "cost",
        "--developers",
        "100",
        "--runs-per-day",
        "5",
        "--hourly-cost",
        "100",
        cwd=repo,
    )
    assert proc.returncode == 0 and "no data" in proc.stdout


def test_rebuild_projects_the_log_again_with_the_same_figures(repo: Path) -> None:
    """`shipyard metrics rebuild` drops the DORA projection and rebuilds it from the log."""
    now = datetime.now(UTC)
    window = ["--since", (now - timedelta(days=200)).date().isoformat()]
    window += ["--until", (now + timedelta(days=2)).date().isoformat(), "--by", "week"]
    before = as_json(shipyard("metrics", "dora", *window, "--json", cwd=repo))
    rebuilt = as_json(shipyard("metrics", "rebuild", "--json", cwd=repo))
    assert rebuilt["deployments"] == 120 and rebuilt["commits"] > 120
    assert rebuilt["events"] >= 240 and rebuilt["cursor"] >= 239
    after = as_json(shipyard("metrics", "dora", *window, "--json", cwd=repo))
    assert after["figures"] == before["figures"] and after["trend"] == before["trend"]
    human = shipyard("metrics", "rebuild", cwd=repo)
    assert human.returncode == 0 and "120 deployments" in human.stdout
