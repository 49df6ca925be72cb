"""A team's whole path from `shipyard init` to production, through the CLI only.

In a fresh git repository, as a user with the README and docs/ would: init, the yaml edited as
docs/shipyard-yaml.md shows, two pipeline runs (the second all cached), conventional commits,
`version`, `release`, deploys to dev and staging (the tests gate passing from the recorded
run), approvals with separation of duties, a canary to production, a bad release that the
canary's analysis rolls back, DORA figures and the audit log's verification. Two people are
played with `SHIPYARD_ACTOR`, the documented way to say who acts.
"""

from __future__ import annotations

import subprocess
import sys
import threading
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx

from tests import gitrepo
from tests.e2e.helpers import as_json, shipyard

ALICE = "alice@example.com"  # writes the code, releases and deploys (git's user.email)
BOB = "bob@example.com"  # reviews and approves production

APP = '''\
"""checkout: a tiny HTTP service; FAIL_RATE of the requests answer 500."""

import argparse
import random
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

FAIL_RATE = 0.0


class Handler(BaseHTTPRequestHandler):
    def do_GET(self):
        bad = self.path != "/healthz" and random.random() < FAIL_RATE
        body = b"error" if bad else b"ok"
        self.send_response(500 if bad else 200)
        self.send_header("content-length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, required=True)
    ThreadingHTTPServer(("127.0.0.1", parser.parse_args().port), Handler).serve_forever()
'''

TEST = "import app\nassert app.FAIL_RATE < 1\n"

# The pipeline and environments as docs/shipyard-yaml.md shows them, with short durations.
SPEC = """\
project: {project}

pipeline:
  jobs:
    lint:
      run: python -m py_compile app.py
      inputs: ["app.py"]
    test:
      needs: [lint]
      run: python test_app.py
      inputs: ["*.py"]
    build:
      needs: [test]
      run: python -c "import zipfile; zipfile.ZipFile('dist/checkout.zip', 'w').write('app.py')"
      inputs: ["app.py"]
      outputs: ["dist/checkout.zip"]
      artifact: checkout

environments:
  dev:
    target: {{type: process, command: "{python} app.py --port {{port}}", instances: 1,
             readiness: {{path: /healthz, timeout: 30s}}, grace: 2s}}
    strategy: recreate
  staging:
    promote_from: dev
    strategy: {{blue-green: {{scale_down_delay: 0s}}}}
    gates: [tests]
  production:
    promote_from: staging
    strategy:
      canary:
        steps: [{{weight: 50}}, {{analysis: errors, duration: 3s}}, {{weight: 100}}]
    gates: [tests, {{approval: {{min: 1, not_author: true}}}}, freeze]

analysis:
  errors: {{provider: builtin, metric: error_rate, max_increase: 0.05, min_samples: 20,
           interval: 1s}}

release:
  versioning: conventional-commits
"""


def _ok(proc: subprocess.CompletedProcess[str]) -> subprocess.CompletedProcess[str]:
    assert proc.returncode == 0, f"{proc.args[3:]}: {proc.stdout[-2000:]} {proc.stderr[-2000:]}"
    return proc


class Journey:
    """The CLI in one repository, as one person or another."""

    def __init__(self, root: Path, env: dict[str, str]) -> None:
        self.root, self.env = root, env

    def sy(self, *args: str, actor: str | None = None) -> subprocess.CompletedProcess[str]:
        env = {**self.env, "SHIPYARD_ACTOR": actor or ""}  # unset: git's user.email
        return shipyard(*args, cwd=self.root, env=env, timeout=180)

    def json(self, *args: str, actor: str | None = None) -> Any:
        return as_json(_ok(self.sy(*args, "--json", actor=actor)))

    def url(self, environment: str) -> str:
        envs = self.json("env")["environments"]
        return str(next(e["url"] for e in envs if e["environment"] == environment))


@contextmanager
def traffic(url: str) -> Iterator[Counter[Any]]:
    """Visitors hitting ``url`` while a rollout runs, as production traffic would."""
    counts: Counter[Any] = Counter()
    stop = threading.Event()

    def visit() -> None:
        with httpx.Client(timeout=5) as client:
            while not stop.is_set():
                client.cookies.clear()  # new visitors: the router splits them by weight
                try:
                    counts[client.get(url + "/").status_code] += 1
                except httpx.HTTPError as exc:
                    counts[type(exc).__name__] += 1
                stop.wait(0.005)

    thread = threading.Thread(target=visit, daemon=True)
    thread.start()
    try:
        yield counts
    finally:
        stop.set()
        thread.join()


def walk(j: Journey, project: str) -> None:
    """Everything from `shipyard init` to the audit log's verification."""
    root = j.root
    # init, then shipyard.yaml edited the way the docs show
    _ok(j.sy("init"))
    assert "project:" in (root / "shipyard.yaml").read_text()
    (root / "shipyard.yaml").write_text(SPEC.format(project=project, python=sys.executable))
    (root / "app.py").write_text(APP)
    (root / "test_app.py").write_text(TEST)
    (root / ".gitignore").write_text(".shipyard/\ndist/\n__pycache__/\n")
    _ok(j.sy("validate"))
    gitrepo.git(root, "add", "-A")
    gitrepo.git(root, "commit", "-q", "-m", "feat: checkout service with a health endpoint")

    # two runs: the second is all cached
    first = j.json("run")
    assert first["status"] == "success" and first["counts"]["executed"] == 3
    second = j.json("run")
    assert second["status"] == "success" and second["counts"]["executed"] == 0
    assert second["counts"]["cached"] == 3

    # conventional commits; CI builds HEAD; version, then release from that run
    gitrepo.commit(root, "fix: answer HEAD requests too", {"app.py": APP + "\n# HEAD\n"})
    gitrepo.commit(root, "docs: how to run it", {"README.md": "python app.py --port 8000\n"})
    built = j.json("run")
    version = j.json("version")
    assert (version["previous"], version["version"]) == (None, "0.1.0")
    assert [d["reason"] for d in version["deciding"]] == ["feat"] and version["commits"] == 3
    released = j.json("release")
    assert released["released"] and released["tag"] == "v0.1.0"
    assert released["built"]["run_id"] == built["run_id"] and not released["built"]["ran"]

    # dev, then staging: the tests gate passes from the run that built 0.1.0
    assert j.json("deploy", "dev")["status"] == "succeeded"
    gates = j.json("gates", "staging")
    assert gates["passed"] and gates["gates"][0]["reason"] == f"run {built['run_id']} passed"
    assert j.json("deploy", "staging")["status"] == "succeeded"

    # production needs an approval: not from the releaser, from a second person
    own = j.sy("approve", "production", "--version", "0.1.0", "--json")
    assert own.returncode == 5 and as_json(own)["error"]["code"] == "self-approval"
    assert f"{ALICE} released 0.1.0" in as_json(own)["error"]["message"]
    j.json("approve", "production", "--version", "0.1.0", actor=BOB)
    good = j.json("deploy", "production")
    assert good["status"] == "succeeded" and good["version"] == "0.1.0"

    # a bad release: the canary's analysis catches it and rolls it back
    bad_app = APP.replace("FAIL_RATE = 0.0", "FAIL_RATE = 0.5")
    gitrepo.commit(root, "fix: retry slow payment lookups", {"app.py": bad_app})
    bad = j.json("release")  # no run of this commit yet: the release runs the pipeline
    assert bad["version"] == "0.1.1" and bad["built"]["ran"]
    assert j.json("deploy", "dev")["status"] == "succeeded"
    assert j.json("deploy", "staging")["status"] == "succeeded"
    j.json("approve", "production", "--version", "0.1.1", actor=BOB)
    with traffic(j.url("production")) as seen:
        rolled = j.sy("deploy", "production", "--json")
    assert rolled.returncode != 0 and as_json(rolled)["error"]["code"] == "deployment-rolled-back"
    assert "analysis" in as_json(rolled)["error"]["message"] and seen[500] > 0
    live = {e["environment"]: e["version"] for e in j.json("env")["environments"]}
    assert live == {"dev": "0.1.1", "staging": "0.1.1", "production": "0.1.0"}

    # DORA: two production deployments, one succeeded; lead time from 0.1.0's commits
    figures = j.json("metrics", "dora")["figures"]
    assert figures["deployment_frequency"]["numerator"] == 1
    assert figures["lead_time"]["value"] is not None and figures["lead_time"]["denominator"] == 3
    cfr = figures["change_failure_rate"]
    assert (cfr["numerator"], cfr["denominator"]) == (1, 2)

    # every event, from every command and actor, verifies
    verified = _ok(j.sy("audit", "verify"))
    assert "verified" in verified.stdout
    actors = {e["actor"] for e in j.json("audit", "log", "--limit", "1000")["events"]}
    assert actors == {ALICE, BOB}


def _repo(tmp_path: Path, name: str) -> Path:
    root = gitrepo.init(tmp_path / name)
    gitrepo.git(root, "config", "user.email", ALICE)
    return root


def _stop(j: Journey) -> None:
    for environment in ("production", "staging", "dev"):
        j.sy("env", "stop", environment)


def test_journey(tmp_path: Path, database_url: str) -> None:
    """A new user's path from `shipyard init` to a canary in production and a bad release rolled
    back by analysis holds together, on SQLite and on PostgreSQL."""
    j = Journey(_repo(tmp_path, "checkout"), {"SHIPYARD_DATABASE_URL": database_url})
    try:
        walk(j, "checkout")
    finally:
        _stop(j)
