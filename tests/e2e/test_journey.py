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
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests import gitrepo
from tests.e2e.helpers import apply, as_json, database_env, running_server, shipyard

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
    """The CLI in one repository, each command as a role: ``ci`` builds and releases,
    ``deployer`` deploys, ``releaser`` is the releaser trying to approve, ``approver`` is the
    second person, ``viewer`` reads. Embedded, a role is an actor; against a server, a token."""

    def __init__(self, root: Path, base: dict[str, str], roles: dict[str, dict[str, str]]) -> None:
        self.root, self.base, self.roles = root, base, roles

    def sy(self, *args: str, role: str = "ci") -> subprocess.CompletedProcess[str]:
        env = {"SHIPYARD_ACTOR": "", **self.base, **self.roles.get(role, {})}  # "": git's email
        return shipyard(*args, cwd=self.root, env=env, timeout=180)

    def json(self, *args: str, role: str = "ci") -> Any:
        return as_json(_ok(self.sy(*args, "--json", role=role)))

    def url(self, environment: str) -> str:
        envs = self.json("env", role="viewer")["environments"]
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


def build_and_release(j: Journey, project: str) -> dict[str, Any]:
    """init, the yaml, two runs, conventional commits, version and release of 0.1.0."""
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
    return dict(built)


def walk(j: Journey, project: str, send_spec: Callable[[], None] = lambda: None) -> None:
    """Everything from `shipyard init` to the audit log's verification; ``send_spec`` gives
    a server the project's shipyard.yaml once it is written (`shipyard apply`)."""
    built = build_and_release(j, project)
    send_spec()

    # dev, then staging: the tests gate passes from the run that built 0.1.0
    assert j.json("deploy", "dev", role="deployer")["status"] == "succeeded"
    gates = j.json("gates", "staging", role="viewer")
    assert gates["passed"] and gates["gates"][0]["reason"] == f"run {built['run_id']} passed"
    assert j.json("deploy", "staging", role="deployer")["status"] == "succeeded"

    # production needs an approval: not from the releaser, from a second person
    own = j.sy("approve", "production", "--version", "0.1.0", "--json", role="releaser")
    assert own.returncode == 5 and as_json(own)["error"]["code"] == "self-approval"
    assert f"{ALICE} released 0.1.0" in as_json(own)["error"]["message"]
    j.json("approve", "production", "--version", "0.1.0", role="approver")
    good = j.json("deploy", "production", role="deployer")
    assert good["status"] == "succeeded" and good["version"] == "0.1.0"

    # a bad release: the canary's analysis catches it and rolls it back
    bad_app = APP.replace("FAIL_RATE = 0.0", "FAIL_RATE = 0.5")
    gitrepo.commit(j.root, "fix: retry slow payment lookups", {"app.py": bad_app})
    bad = j.json("release")  # no run of this commit yet: the release runs the pipeline
    assert bad["version"] == "0.1.1" and bad["built"]["ran"]
    assert j.json("deploy", "dev", role="deployer")["status"] == "succeeded"
    assert j.json("deploy", "staging", role="deployer")["status"] == "succeeded"
    j.json("approve", "production", "--version", "0.1.1", role="approver")
    with traffic(j.url("production")) as seen:
        rolled = j.sy("deploy", "production", "--json", role="deployer")
    assert rolled.returncode != 0 and as_json(rolled)["error"]["code"] == "deployment-rolled-back"
    assert "analysis" in as_json(rolled)["error"]["message"] and seen[500] > 0
    live = {e["environment"]: e["version"] for e in j.json("env", role="viewer")["environments"]}
    assert live == {"dev": "0.1.1", "staging": "0.1.1", "production": "0.1.0"}

    # DORA: two production deployments, one succeeded; lead time from 0.1.0's commits
    figures = j.json("metrics", "dora", role="viewer")["figures"]
    assert figures["deployment_frequency"]["numerator"] == 1
    assert figures["lead_time"]["value"] is not None and figures["lead_time"]["denominator"] == 3
    cfr = figures["change_failure_rate"]
    assert (cfr["numerator"], cfr["denominator"]) == (1, 2)

    # every event, from every command and actor, verifies
    verified = _ok(j.sy("audit", "verify", role="viewer"))
    assert "verified" in verified.stdout
    events = j.json("audit", "log", "--limit", "1000", role="viewer")["events"]
    # people act, the spec sent to a server included
    assert {e["actor"] for e in events if e["project"] == project} == {ALICE, BOB}


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
    root = _repo(tmp_path, "checkout")
    j = Journey(root, database_env(database_url, tmp_path), {"approver": {"SHIPYARD_ACTOR": BOB}})
    try:
        walk(j, "checkout")
    finally:
        _stop(j)


def _token(j: Journey, role: str, name: str, project: str) -> str:
    """A token minted on the server's machine (docs/server.md), named after its person."""
    made = j.json("token", "create", "--role", role, "--name", name, "--project", project)
    return str(made["token"])


@pytest.mark.parametrize("database_url", ["postgres"], indirect=True)
def test_journey_against_a_server(tmp_path: Path, database_url: str) -> None:
    """A second project in the same PostgreSQL database walks the same path with `shipyard
    server` and a token per role: deploys, gates, approvals, rollouts, metrics and the audit go
    through the API, each refused to a role that may not, and nothing of the first project shows.

    `run`, `version` and `release` have no API route (they read the local repository and
    record runs and releases directly), so they run on a machine with the database's address,
    as CI would."""
    db = database_env(database_url, tmp_path)  # every machine signs with the same key
    first = _repo(tmp_path, "checkout")  # the first project: one artifact in the same database
    gitrepo.commit(first, "feat: checkout", {"shipyard.yaml": "project: checkout\n"})
    published = ("artifacts", "publish", "checkout", "shipyard.yaml", "--version", "9.9.9")
    _ok(shipyard(*published, cwd=first, env=db))

    root = _repo(tmp_path, "payments")
    ci = Journey(root, db, {})
    token = {
        role: _token(ci, r, name, "payments")
        for role, r, name in (
            ("deployer", "deployer", ALICE),
            ("releaser", "approver", ALICE),
            ("approver", "approver", BOB),
            ("viewer", "viewer", "viewer@example.com"),
            ("developer", "developer", ALICE),
            ("admin", "admin", ALICE),
        )
    }
    admin = token.pop("admin")
    with running_server(root, env=db) as url:
        roles = {r: {"SHIPYARD_SERVER": url, "SHIPYARD_TOKEN": t} for r, t in token.items()}
        j = Journey(root, db, {r: {**env, "SHIPYARD_DATABASE_URL": ""} for r, env in roles.items()})
        try:
            walk(j, "payments", lambda: apply(root, url, admin))
            # roles that may not: a developer deploys, a viewer approves, an approver locks
            for role, args in (
                ("developer", ("deploy", "dev")),
                ("viewer", ("approve", "production", "--version", "0.1.1")),
                ("approver", ("lock", "dev", "--reason", "no")),
            ):
                refused = j.sy(*args, "--json", role=role)
                assert refused.returncode == 5, (role, refused.stdout)
                assert as_json(refused)["error"]["code"] == "forbidden"
            # one project's token sees that project only
            listed = j.json("artifacts", "list", role="viewer")["artifacts"]
            assert [(a["project"], a["version"]) for a in listed] == [
                ("payments", "0.1.0"),
                ("payments", "0.1.1"),
            ]
        finally:
            _stop(ci)
