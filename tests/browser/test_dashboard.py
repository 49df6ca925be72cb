"""The dashboard in a real browser: Debian's chromium driven by Playwright against a real
`shipyard server` in a fresh repository. One server and one browser serve every test here;
each page's screenshot is left under tmp/artefacts/dashboard/ as the run's artefact."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
from playwright.sync_api import Browser, BrowserContext, Page, expect, sync_playwright

from shipyard.demo.deploy import Traffic
from shipyard.domain import merkle
from tests.e2e.helpers import as_json, running_server, shipyard, tarball
from tests.integration.test_deploy import APP

CHROMIUM = "/usr/bin/chromium"
ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
ARTEFACTS = Path(__file__).resolve().parents[2] / "tmp" / "artefacts" / "dashboard"
ROLES = ("admin", "viewer", "developer", "deployer", "approver")
CI = "ci@example.com"  # who the CLI's own commands act as

SPEC = """\
project: shop
pipeline:
  jobs:
    lint:
      run: echo linted
    test:
      needs: [lint]
      run: echo tested
    stream:
      needs: [lint]
      run: "for i in 1 2 3 4 5 6 7 8; do echo line $i of $TOKEN; sleep 0.5; done"
      secrets: {TOKEN: {env: STREAM_TOKEN}}
environments:
  dev:
    target: {type: process, command: "python3 -m http.server {port} --bind 127.0.0.1"}
    strategy: recreate
    gates: [{approval: {min: 1}}]
  production:
    target:
      type: process
      command: "python app.py --port {port}"
      readiness: {timeout: 10s}
      grace: 1s
    strategy:
      canary:
        steps: [{weight: 30}, {analysis: errors, duration: 120s}, {weight: 100}]
analysis:
  errors: {provider: builtin, metric: error_rate, max_increase: 0.05, min_samples: 5, interval: 1s}
"""


@dataclass
class Site:
    url: str
    repo: Path
    tokens: dict[str, str]
    browser: Browser
    sessions: dict[str, BrowserContext] = field(default_factory=dict)

    def page(self, who: str) -> Page:
        """A new tab of ``who``'s logged-in browser session."""
        if who not in self.sessions:
            context = self.browser.new_context(
                base_url=self.url, viewport={"width": 1280, "height": 900}
            )
            context.set_default_timeout(15_000)
            page = context.new_page()
            page.goto("/login")
            page.get_by_label("API token").fill(self.tokens[who])
            page.get_by_role("button", name="Log in").click()
            assert page.get_by_role("alert").count() == 0, page.get_by_role("alert").inner_text()
            expect(page.get_by_role("heading", level=1)).to_contain_text("Overview")
            page.close()
            self.sessions[who] = context
        return self.sessions[who].new_page()

    def wait_for_run(self, proc: subprocess.Popen[bytes]) -> int:
        """The id of the run ``proc`` (a `shipyard run`) records, once it is recorded."""
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and proc.poll() is None:
            runs = self.api("viewer", "GET", "/api/v1/runs?limit=1").json()["runs"]
            if runs and runs[0]["status"] == "running":
                return int(runs[0]["id"])
            time.sleep(0.1)
        raise AssertionError("the run was not recorded as running")

    def api(self, who: str, method: str, path: str, **kw: Any) -> httpx.Response:
        headers = {"Authorization": f"Bearer {self.tokens[who]}"}
        return httpx.request(method, self.url + path, headers=headers, timeout=30, **kw)


def shot(page: Page, name: str) -> None:
    ARTEFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(ARTEFACTS / f"{name}.png"), full_page=True)


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    repo = tmp_path_factory.mktemp("dash")
    (repo / "shipyard.yaml").write_text(SPEC)
    shutil.copy(APP, repo / "app.py")
    env = {"SHIPYARD_ACTOR": CI}
    tokens = {}
    for role in ROLES:
        made = shipyard(
            "token",
            "create",
            "--role",
            role,
            "--name",
            f"{role}@example.com",
            "--json",
            cwd=repo,
            env=env,
        )
        tokens[role] = as_json(made)["token"]
    applied = shipyard("apply", cwd=repo, env=env)  # the server serves what the store holds
    assert applied.returncode == 0, applied.stderr
    with running_server(repo) as url, sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        try:
            yield Site(url, repo, tokens, browser)
        finally:
            browser.close()
            shipyard("env", "stop", "production", cwd=repo)


def test_a_page_without_a_session_sends_to_the_login_form(site: Site) -> None:
    """An anonymous visitor of a page lands on the login form, and comes back after it."""
    context = site.browser.new_context(base_url=site.url)
    page = context.new_page()
    page.goto("/?project=shop")
    expect(page).to_have_url(f"{site.url}/login?next=/%3Fproject%3Dshop")
    page.get_by_label("API token").fill("shp_not-a-token")
    page.get_by_role("button", name="Log in").click()
    expect(page.get_by_role("alert")).to_contain_text("not valid")
    shot(page, "login")
    page.get_by_label("API token").fill(site.tokens["viewer"])
    page.get_by_role("button", name="Log in").click()
    expect(page).to_have_url(f"{site.url}/?project=shop")
    cookie = next(c for c in context.cookies() if c["name"] == "shipyard_session")
    assert cookie["httpOnly"] and cookie["sameSite"] == "Strict"
    context.close()


def test_the_overview_shows_what_runs_where(site: Site) -> None:
    """The overview lists each environment of the project with its phase and strategy."""
    page = site.page("viewer")
    page.goto("/")
    expect(page.get_by_role("row", name="dev")).to_contain_text("recreate")
    shot(page, "overview")


def test_a_running_steps_log_streams_into_the_page_with_its_secret_masked(site: Site) -> None:
    """A step's lines appear on its run page while it runs, its secret shown as ***, and its
    stored log replaces them when it ends; the DAG shows each step's state and cache hit."""
    secret = "s3cr3t-value-for-the-stream"
    env = {k: v for k, v in os.environ.items() if k != "SHIPYARD_SERVER"}
    proc = subprocess.Popen(
        [sys.executable, "-m", "shipyard", "run", "stream", "--plain"],
        cwd=site.repo,
        env={**env, "STREAM_TOKEN": secret},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        run_id = site.wait_for_run(proc)
        page = site.page("viewer")
        page.goto("/runs")
        page.get_by_role("link", name=f"#{run_id}", exact=True).click()
        page.get_by_role("link", name="stream").click()
        log = page.locator("#log")
        expect(log).to_contain_text("line 2 of ***")
        assert proc.poll() is None, "the run ended before its log was seen streaming"
        expect(page.locator("#dag")).to_contain_text("running")
        shot(page, "run-live-log")
        expect(log).to_contain_text("line 8 of ***", timeout=20_000)
        assert proc.wait(30) == 0
        expect(page.locator("#dag li", has_text="stream")).to_contain_text("success")
        assert secret not in page.content()
        assert log.inner_text().count("line 1 of") == 1
    finally:
        proc.kill()
        proc.wait()
    page.goto("/runs")
    shot(page, "runs")


def test_a_deployer_follows_a_canary_live_and_aborts_it(site: Site) -> None:
    """The rollout page shows the canary's weights and each analysis measurement against its
    threshold as it arrives; Abort sends the traffic back to the stable version."""
    first = shipyard(
        "deploy", "production", "--version", "1.0.0", cwd=site.repo, env={"SHIPYARD_ACTOR": CI}
    )
    assert first.returncode == 0, first.stderr
    # The server deploys what the registry holds: 1.1.0 as its build would publish it.
    tarball(site.repo / "shop-1.1.0.tar.gz", site.repo / "app.py")
    published = shipyard(
        "artifacts", "publish", "shop", "shop-1.1.0.tar.gz", "--version", "1.1.0", cwd=site.repo
    )
    assert published.returncode == 0, published.stderr
    url = site.api("viewer", "GET", "/api/v1/environments").json()["environments"][1]["url"]
    with Traffic(url):
        started = site.api(
            "deployer",
            "POST",
            "/api/v1/deployments",
            json={"environment": "production", "version": "1.1.0"},
        )
        assert started.status_code == 200, started.text
        page = site.page("deployer")
        page.goto("/rollouts/production")
        expect(page.locator("#weights")).to_contain_text("canary 30%", timeout=30_000)
        measurements = page.get_by_role("table").filter(has_text="error_rate")
        expect(measurements.first).to_contain_text("0.05", timeout=20_000)
        shot(page, "rollout-canary-live")  # docs/images/dashboard-canary.png
        page.get_by_role("button", name="Abort").click()
        expect(page.get_by_role("status")).to_contain_text("abort queued")
        expect(page.locator("#rollout-status")).to_contain_text("Aborted", timeout=30_000)
        expect(page.locator("#weights")).to_contain_text("stable 100%")
        shot(page, "rollout-aborted")
    events = site.api("viewer", "GET", "/api/v1/audit/events?kind=rollout.*&limit=50").json()
    assert any(e["actor"] == "deployer@example.com" for e in events["events"])


def test_the_flags_pages_from_a_developers_changes_to_a_viewers_refusals(site: Site) -> None:
    """The flags pages as one story, each part building on the one before (the flag, then its
    strategies), so that no part depends on another test having run first on this worker."""
    _toggling_a_flag_in_the_browser_changes_the_sdks_answer(site)
    _a_viewer_is_offered_no_change_and_is_refused_one(site)
    _a_developer_adds_a_segment_and_strategies_and_the_answer_follows(site)
    _a_viewer_is_not_offered_strategies_or_segments_and_is_refused_them(site)


def _toggling_a_flag_in_the_browser_changes_the_sdks_answer(site: Site) -> None:
    """A developer enables a flag and sets its rollout on the flags pages; a streaming SDK
    client's answer follows each change, and the flag's history names who made it."""
    from shipyard_sdk.client import FlagsClient

    made = site.api("developer", "POST", "/api/v1/flags?env=dev", json={"name": "new-checkout"})
    assert made.status_code == 200, made.text
    client_token = site.api(
        "developer", "POST", "/api/v1/flags/tokens", json={"environment": "dev"}
    ).json()["token"]
    sdk = FlagsClient(site.url, client_token, "dev", app_name="browser-test")
    try:
        assert sdk.wait_until_ready()
        assert not sdk.is_enabled("new-checkout", {"userId": "u1"})
        page = site.page("developer")
        page.goto("/flags?env=dev")
        shot(page, "flags")
        page.get_by_role("button", name="Enable new-checkout").click()
        expect(page.get_by_role("status")).to_contain_text("new-checkout enabled in dev")
        _until(lambda: sdk.is_enabled("new-checkout", {"userId": "u1"}))
        page.get_by_label("Rollout percentage").fill("0")
        page.get_by_role("button", name="Set rollout").click()
        expect(page.get_by_role("status")).to_contain_text("rolled out to 0%")
        _until(lambda: not sdk.is_enabled("new-checkout", {"userId": "u1"}))
        expect(page.get_by_role("table").last).to_contain_text("developer@example.com")
        shot(page, "flag")
    finally:
        sdk.close(flush=False)


def _a_viewer_is_offered_no_change_and_is_refused_one(site: Site) -> None:
    """A viewer's flags page has no toggle, and a toggle posted with the viewer's own session
    and CSRF token is refused with 403 and changes nothing."""
    page = site.page("viewer")
    page.goto("/flags?env=dev")
    expect(page.get_by_role("link", name="new-checkout")).to_be_visible()
    expect(page.get_by_role("button", name="Enable new-checkout")).to_have_count(0)
    expect(page.get_by_role("button", name="Disable new-checkout")).to_have_count(0)
    csrf = page.locator("input[name=csrf]").first.get_attribute("value")
    before = site.api("viewer", "GET", "/api/v1/flags/new-checkout?env=dev").json()
    refused = page.request.post(
        "/flags/new-checkout/disable", form={"csrf": csrf or "", "env": "dev"}
    )
    assert refused.status == 403 and "may not flags" in refused.text()
    forged = page.request.post("/flags/new-checkout/disable", form={"csrf": "x", "env": "dev"})
    assert forged.status == 403 and "csrf-failed" in forged.text()
    after = site.api("viewer", "GET", "/api/v1/flags/new-checkout?env=dev").json()
    assert after == before


def _on(site: Site, user: str) -> bool:
    """POST /api/v1/flags/new-checkout/eval in dev for ``user``."""
    answer = site.api(
        "viewer",
        "POST",
        "/api/v1/flags/new-checkout/eval?env=dev",
        json={"context": {"userId": user}},
    )
    assert answer.status_code == 200, answer.text
    return bool(answer.json()["enabled"])


def _a_developer_adds_a_segment_and_strategies_and_the_answer_follows(site: Site) -> None:
    """On the flags pages a developer creates a segment and adds strategies to a flag rolled
    out to 0%: a userWithId strategy turns it on for that user, a flexibleRollout on the
    segment for the segment's users; a bad constraint is refused with its code and hint."""
    assert not _on(site, "u1") and not _on(site, "u7")
    listed = "/api/v1/flags/new-checkout/strategies?env=dev"
    had = len(site.api("viewer", "GET", listed).json()["strategies"])
    page = site.page("developer")
    page.goto("/flags?env=dev")
    page.get_by_label("Segment name").fill("beta testers")
    page.get_by_label("Context name").fill("userId")
    page.get_by_label("Operator").select_option("IN")
    page.get_by_label("Values").fill("u7, u8")
    page.get_by_role("button", name="Create segment").click()
    expect(page.get_by_role("status")).to_contain_text("segment 1 created in dev")
    expect(page.get_by_role("row", name="beta testers")).to_contain_text("userId IN u7, u8")
    page.get_by_role("link", name="new-checkout").click()
    page.get_by_label("Strategy type").select_option("userWithId")
    page.get_by_label("User ids").fill("u1")
    page.get_by_role("button", name="Add strategy").click()
    expect(page.get_by_role("status")).to_contain_text("a userWithId strategy added")
    assert _on(site, "u1") and not _on(site, "u7")
    page.get_by_label("Strategy type").select_option("flexibleRollout")
    page.get_by_label("Rollout of the strategy (%)").fill("100")
    page.get_by_label("1: beta testers").check()
    page.get_by_role("button", name="Add strategy").click()
    expect(page.get_by_role("status")).to_contain_text("a flexibleRollout strategy added")
    assert _on(site, "u7") and not _on(site, "u2")
    strategies = page.get_by_role("table").first
    expect(strategies).to_contain_text("userIds=u1")
    expect(strategies.get_by_role("row").filter(has_text="rollout=100")).to_contain_text("1")
    shot(page, "flag-strategies")
    page.get_by_label("Strategy type").select_option("default")
    page.get_by_label("Context name").fill("age")
    page.get_by_label("Operator").select_option("NUM_GT")
    page.get_by_label("Values").fill("old")
    page.get_by_role("button", name="Add strategy").click()
    expect(page.get_by_role("alert")).to_contain_text("flag-number-invalid")
    expect(page.get_by_role("alert")).to_contain_text("decimal number")
    now = site.api("viewer", "GET", listed).json()["strategies"]
    assert len(now) == had + 2  # the refused one was not stored


def _a_viewer_is_not_offered_strategies_or_segments_and_is_refused_them(site: Site) -> None:
    """A viewer sees the strategies and segments but no form to add one, and posting the
    forms with the viewer's own session and CSRF token is refused with 403."""
    page = site.page("viewer")
    page.goto("/flags?env=dev")
    expect(page.get_by_role("row", name="beta testers")).to_be_visible()
    expect(page.get_by_role("button", name="Create segment")).to_have_count(0)
    page.goto("/flags/new-checkout?env=dev")
    expect(page.get_by_role("table").first).to_contain_text("userIds=u1")
    expect(page.get_by_role("button", name="Add strategy")).to_have_count(0)
    csrf = page.locator("input[name=csrf]").first.get_attribute("value") or ""
    before = site.api("viewer", "GET", "/api/v1/flags/new-checkout/strategies?env=dev").json()
    refused = page.request.post(
        "/flags/new-checkout/add-strategy",
        form={"csrf": csrf, "env": "dev", "type": "default"},
    )
    assert refused.status == 403 and "may not flags" in refused.text()
    refused = page.request.post(
        "/flags/segments",
        form={"csrf": csrf, "env": "dev", "context": "userId", "operator": "IN", "values": "x"},
    )
    assert refused.status == 403 and "may not flags" in refused.text()
    after = site.api("viewer", "GET", "/api/v1/flags/new-checkout/strategies?env=dev").json()
    assert after == before
    segments = site.api("viewer", "GET", "/api/v1/flags/segments?env=dev").json()["segments"]
    assert [g["id"] for g in segments] == [1]


def _until(check: Any, seconds: float = 15.0) -> None:
    """Wait for a client that learns of changes by itself (the SDK's stream) to catch up."""
    deadline = time.monotonic() + seconds
    while not check():
        assert time.monotonic() < deadline, "the SDK never saw the change"
        time.sleep(0.1)


def test_a_second_person_approves_what_the_first_may_not(site: Site) -> None:
    """Whoever published a version is refused its approval (separation of duties); a second
    person's approval is recorded and the environment's approval gate passes."""
    published = site.api(
        "admin", "PUT", "/api/v1/artifacts/app/3.0.0?project=shop", content=b"app bytes"
    )
    assert published.status_code == 201, published.text
    own = site.page("admin")
    own.goto("/releases")
    own.get_by_label("Environment", exact=True).select_option("dev")
    own.get_by_label("Version").fill("3.0.0")
    own.get_by_role("button", name="Approve", exact=True).click()
    expect(own.get_by_role("alert")).to_contain_text("self-approval")
    expect(own.get_by_role("alert")).to_contain_text("published app@3.0.0")
    page = site.page("approver")
    page.goto("/releases")
    page.get_by_label("Version").fill("3.0.0")
    page.get_by_label("Comment").fill("looks good")
    page.get_by_role("button", name="Approve", exact=True).click()
    expect(page.get_by_role("status")).to_contain_text("3.0.0 approved for dev")
    approvals = page.get_by_role("region", name="Approvals")
    expect(approvals).to_contain_text("approver@example.com")
    expect(page.get_by_role("region", name="Gates per environment")).to_contain_text("3.0.0 passed")
    shot(page, "releases")
    page.get_by_role("link", name="app").click()
    expect(page.get_by_role("heading", level=1)).to_contain_text("verified")
    shot(page, "artifact")


GIT = {
    "GIT_AUTHOR_NAME": "Dev",
    "GIT_AUTHOR_EMAIL": "dev@example.com",
    "GIT_COMMITTER_NAME": "Dev",
    "GIT_COMMITTER_EMAIL": "dev@example.com",
}


def _git(repo: Path, *args: str) -> str:
    done = subprocess.run(
        ["git", *args], cwd=repo, env={**os.environ, **GIT}, capture_output=True, text=True
    )
    assert done.returncode == 0, done.stderr
    return done.stdout


def test_a_release_shows_its_changelog(site: Site) -> None:
    """`shipyard release` in the project's repository: the releases page lists the release
    with the changelog section it wrote, collapsed, each line naming a real commit."""
    repo = site.repo
    (repo / ".gitignore").write_text(".shipyard/\n__pycache__/\n")
    _git(repo, "init", "-q", "-b", "main")
    _git(repo, "add", "-A")
    _git(repo, "commit", "-q", "-m", "feat(checkout): pay by invoice")
    (repo / "NOTES.md").write_text("notes\n")
    _git(repo, "add", "NOTES.md")
    _git(repo, "commit", "-q", "-m", "fix: round totals to the cent")
    fix = _git(repo, "rev-parse", "--short=7", "HEAD").strip()
    made = shipyard("release", "--json", cwd=repo, env={**GIT, "SHIPYARD_ACTOR": CI})
    assert made.returncode == 0, made.stderr
    assert as_json(made)["version"] == "0.1.0"
    page = site.page("viewer")
    page.goto("/releases")
    region = page.get_by_role("region", name="Releases", exact=True)
    expect(region.get_by_role("row").filter(has_text="shop@0.1.0")).to_contain_text("minor")
    changelog = region.locator("details.changelog", has_text="Changelog of 0.1.0")
    expect(changelog.locator("pre")).not_to_be_visible()  # collapsed until opened
    changelog.get_by_text("Changelog of 0.1.0").click()
    expect(changelog).to_contain_text(f"round totals to the cent ({fix})")
    expect(changelog).to_contain_text("checkout:")
    expect(changelog).to_contain_text("Bug fixes")
    shot(page, "releases-changelog")


def test_the_audit_log_filters_and_hands_out_proofs_and_the_checkpoint(site: Site) -> None:
    """The audit page filters the event log by kind, downloads an event's inclusion proof
    that verifies against the log, signs a checkpoint for an admin and shows the DORA chart
    and the build chart (an SVG image drawn from the runs, one of them made here)."""
    ran = shipyard("run", "lint", cwd=site.repo, env={"SHIPYARD_ACTOR": CI})
    assert ran.returncode == 0, ran.stderr
    put = site.api("admin", "PUT", "/api/v1/artifacts/audited/1.0.0?project=shop", content=b"x")
    assert put.status_code == 201, put.text
    page = site.page("admin")
    page.goto("/audit")
    page.get_by_role("button", name="Sign a checkpoint now").click()
    expect(page.get_by_role("status")).to_contain_text("checkpoint signed at tree size")
    expect(page.get_by_label("Signed note")).to_contain_text("—")
    page.get_by_label("Kind").fill("artifact.*")
    page.get_by_label("Subject").fill("artifact:audited@1.0.0")
    page.get_by_role("button", name="Filter").click()
    rows = page.get_by_role("row").filter(has=page.get_by_role("link", name="proof"))
    expect(rows).to_have_count(1)
    with page.expect_download() as got:
        rows.first.get_by_role("link", name="proof").click()
    proof = json.loads(Path(got.value.path()).read_text())
    assert merkle.verify_inclusion(
        bytes.fromhex(proof["leaf_hash"]),
        proof["leaf_index"],
        proof["tree_size"],
        [bytes.fromhex(h) for h in proof["audit_path"]],
        bytes.fromhex(proof["root_hash"]),
    )
    chart = page.get_by_role("img", name="DORA four keys")
    expect(chart).to_be_visible()
    assert page.request.get("/audit/charts/dora.svg").headers["content-type"] == "image/svg+xml"
    builds = page.get_by_role("img", name="Build time and cache hit rate per day")
    builds.scroll_into_view_if_needed()
    expect(builds).to_be_visible()
    page.wait_for_function(
        "() => { const i = document.querySelector('img[src=\"/audit/charts/builds.svg\"]');"
        " return i.complete && i.naturalWidth > 0; }"
    )
    svg = page.request.get("/audit/charts/builds.svg")
    assert svg.headers["content-type"] == "image/svg+xml" and svg.text().startswith("<svg")
    assert "runs, median" in svg.text()  # a bar for the day's runs
    shot(page, "audit")
    page.goto("/")
    shot(page, "overview-after-releases")  # docs/images/dashboard-overview.png
