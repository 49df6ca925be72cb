"""Organisation mode: a `shipyard server` serves the projects applied to its database, never
the shipyard.yaml of the folder it runs in, and does its git work in a clone of each project's
configured repository."""

from __future__ import annotations

from pathlib import Path

import httpx

from tests import gitrepo
from tests.e2e.helpers import apply, as_json, configure_repository, running_server, shipyard

SPEC = """\
project: {project}
environments:
  dev: {{}}
  production: {{promote_from: dev}}
release:
  train: {{cut: "0 9 * * MON", every_weeks: 1, stabilize: 60d, timezone: UTC}}
"""


def _h(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def _project(base: Path, name: str) -> Path:
    """A git repository holding project ``name``'s shipyard.yaml, committed."""
    repo = gitrepo.init(base / name)
    (repo / "shipyard.yaml").write_text(SPEC.format(project=name))
    gitrepo.commit(repo, "feat: start", {"shipyard.yaml": SPEC.format(project=name)})
    return repo


def _admin(home: Path) -> str:
    """The first admin token, made on the server's machine."""
    home.mkdir(exist_ok=True)
    made = shipyard(
        "token", "create", "--role", "admin", "--json", cwd=home, env={"SHIPYARD_HOME": str(home)}
    )
    assert made.returncode == 0, made.stderr
    return str(as_json(made)["token"])


def _server_folders(tmp_path: Path) -> tuple[Path, str, Path]:
    """The server's home (with its first admin token) and a folder to start it in that holds
    no project."""
    home = tmp_path / "home"
    token = _admin(home)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    return home, token, elsewhere


def test_a_server_in_a_repository_serves_it_only_once_applied(tmp_path: Path) -> None:
    """A server started inside project A's repository with an empty database answers
    spec-not-applied for A until `shipyard apply` sends it."""
    repo = _project(tmp_path, "alpha")
    home = tmp_path / "home"
    token = _admin(home)
    with running_server(repo, env={"SHIPYARD_HOME": str(home)}) as url:
        before = httpx.get(url + "/api/v1/environments?project=alpha", headers=_h(token))
        assert before.status_code == 404 and before.json()["code"] == "spec-not-applied"
        held = httpx.get(url + "/api/v1/projects/alpha/spec", headers=_h(token))
        assert held.status_code == 404
        apply(repo, url, token)
        after = httpx.get(url + "/api/v1/environments?project=alpha", headers=_h(token))
        assert after.status_code == 200, after.text
        assert [e["environment"] for e in after.json()["environments"]] == ["dev", "production"]


def test_a_server_anywhere_serves_every_applied_project(tmp_path: Path) -> None:
    """A server started in an unrelated folder serves two applied projects' deployments and
    flags side by side; a request naming neither is project-required."""
    alpha, beta = _project(tmp_path, "alpha"), _project(tmp_path, "beta")
    (beta / "shipyard.yaml").write_text(SPEC.format(project="beta").replace("dev", "qa"))
    home, token, elsewhere = _server_folders(tmp_path)
    with running_server(elsewhere, env={"SHIPYARD_HOME": str(home)}) as url:
        apply(alpha, url, token)
        apply(beta, url, token)
        envs = {
            p: [
                e["environment"]
                for e in httpx.get(
                    url + f"/api/v1/environments?project={p}", headers=_h(token)
                ).json()["environments"]
            ]
            for p in ("alpha", "beta")
        }
        assert envs == {"alpha": ["dev", "production"], "beta": ["qa", "production"]}
        for project, env in (("alpha", "dev"), ("beta", "qa")):
            made = httpx.post(
                url + f"/api/v1/flags?project={project}&env={env}",
                json={"name": f"{project}-flag"},
                headers=_h(token),
            )
            assert made.status_code == 200, made.text
            listed = httpx.get(
                url + f"/api/v1/flags?project={project}&env={env}", headers=_h(token)
            )
            assert [f["name"] for f in listed.json()["flags"]] == [f"{project}-flag"]
            history = httpx.get(url + f"/api/v1/deployments?project={project}", headers=_h(token))
            assert history.json() == {"deployments": []}
        wrong = httpx.post(
            url + "/api/v1/flags?project=beta&env=dev", json={"name": "x"}, headers=_h(token)
        )
        assert wrong.status_code == 422 and wrong.json()["code"] == "flag-environment-unknown"
        open_ = httpx.get(url + "/api/v1/environments", headers=_h(token))
        assert open_.status_code == 422 and open_.json()["code"] == "project-required"
        # The CLI names the project of the checkout it runs in; outside one it says how to.
        via = {"SHIPYARD_SERVER": url, "SHIPYARD_TOKEN": token}
        in_beta = shipyard("env", "--json", cwd=beta, env=via)
        assert in_beta.returncode == 0, in_beta.stderr
        assert [e["environment"] for e in as_json(in_beta)["environments"]] == ["qa", "production"]
        outside = shipyard("env", cwd=elsewhere, env=via)
        assert outside.returncode == 2
        assert "error[project-required]" in outside.stderr
        assert "checkout" in outside.stderr and "?project" not in outside.stderr


def test_train_cut_works_in_the_configured_repository(tmp_path: Path) -> None:
    """Without a configured repository a train cut is repository-required, with a hint naming
    the route an admin sets it with; with a bare repository configured the cut's branch is
    created in that remote, at its main, and the server's folder is left alone."""
    repo = _project(tmp_path, "alpha")
    origin = tmp_path / "origin.git"
    gitrepo.git(tmp_path, "clone", "-q", "--bare", str(repo), str(origin))
    home = tmp_path / "home"
    token = _admin(home)
    with running_server(repo, env={"SHIPYARD_HOME": str(home)}) as url:
        apply(repo, url, token)
        cut = url + "/api/v1/release/train/cut?project=alpha"
        refused = httpx.post(cut, json={}, headers=_h(token))
        assert refused.status_code == 422, refused.text
        body = refused.json()
        assert body["code"] == "repository-required"
        assert "PUT /api/v1/projects/alpha/repository" in body["hint"]
        configure_repository(url, token, "alpha", origin)
        # A commit pushed after the server's clone was made is what the cut takes.
        gitrepo.commit(repo, "fix: later")
        gitrepo.git(repo, "push", "-q", str(origin), "main")
        done = httpx.post(cut, json={}, headers=_h(token))
        assert done.status_code == 200, done.text
        branch, commit = done.json()["branch"], done.json()["commit"]
        assert gitrepo.git(origin, "rev-parse", branch) == commit
        assert commit == gitrepo.git(repo, "rev-parse", "HEAD")
    assert gitrepo.git(repo, "branch", "--list", "release/*") == ""  # the user's clone: as was


def test_concurrent_git_work_on_one_project_leaves_its_checkout_whole(tmp_path: Path) -> None:
    """Four hotfix starts and a train cut sent at once all work in the project's one clone, one
    at a time: every branch reaches the remote and the clone stays a sound repository."""
    from concurrent.futures import ThreadPoolExecutor

    repo = _project(tmp_path, "alpha")
    versions = [f"0.{n}.0" for n in range(1, 5)]
    for version in versions:
        gitrepo.commit(repo, f"feat: {version}")
        gitrepo.tag(repo, f"v{version}")
    origin = tmp_path / "origin.git"
    gitrepo.git(tmp_path, "clone", "-q", "--bare", str(repo), str(origin))
    home, token, elsewhere = _server_folders(tmp_path)
    with running_server(elsewhere, env={"SHIPYARD_HOME": str(home)}) as url:
        apply(repo, url, token)
        configure_repository(url, token, "alpha", origin)
        calls = [("/api/v1/release/hotfixes?project=alpha", {"version": v}) for v in versions]
        calls.append(("/api/v1/release/train/cut?project=alpha", {}))
        with ThreadPoolExecutor(len(calls)) as pool:
            answers = list(
                pool.map(
                    lambda c: httpx.post(url + c[0], json=c[1], headers=_h(token), timeout=60),
                    calls,
                )
            )
        assert [a.status_code for a in answers] == [200] * len(calls), [a.text for a in answers]
    for version in versions:
        assert gitrepo.git(origin, "rev-parse", f"hotfix/{version}") == gitrepo.git(
            origin, "rev-parse", f"v{version}^{{commit}}"
        )
    assert gitrepo.git(origin, "rev-parse", answers[-1].json()["branch"])
    (clone,) = [p for p in (home / "checkouts").iterdir() if p.is_dir()]
    gitrepo.git(clone, "fsck", "--no-progress")  # raises on a damaged repository
    assert gitrepo.git(clone, "status", "--porcelain") == ""


GATED = """\
project: gamma
environments:
  dev:
    target: {type: process, command: "python3 -m http.server {port}"}
    gates:
      - custom: {name: marker, run: "test -f gate-ok"}
"""


def test_a_deploy_through_the_api_runs_gate_commands_in_the_projects_clone(
    tmp_path: Path,
) -> None:
    """A custom gate's command needs the project's code: through the API it runs in the
    server's clone of the configured repository (where the committed gate-ok file is), never
    in the folder the server was started in (where it is not)."""
    repo = gitrepo.init(tmp_path / "gamma")
    gitrepo.commit(repo, "feat: start", {"shipyard.yaml": GATED, "gate-ok": "yes\n"})
    origin = tmp_path / "origin.git"
    gitrepo.git(tmp_path, "clone", "-q", "--bare", str(repo), str(origin))
    home, token, elsewhere = _server_folders(tmp_path)
    with running_server(elsewhere, env={"SHIPYARD_HOME": str(home)}, args=("--no-worker",)) as url:
        apply(repo, url, token)
        via = {"SHIPYARD_SERVER": url, "SHIPYARD_TOKEN": token}
        (tmp_path / "app.txt").write_text("the service\n")
        published = shipyard(
            "artifacts",
            "publish",
            "gamma",
            str(tmp_path / "app.txt"),
            "--version",
            "0.1.0",
            cwd=repo,
            env=via,
        )
        assert published.returncode == 0, published.stderr
        deploy = url + "/api/v1/deployments?project=gamma"
        body = {"environment": "dev", "version": "0.1.0"}
        refused = httpx.post(deploy, json=body, headers=_h(token))
        assert refused.status_code == 422 and refused.json()["code"] == "repository-required"
        configure_repository(url, token, "gamma", origin)
        done = httpx.post(deploy, json=body, headers=_h(token), timeout=60)
        assert done.status_code == 200, done.text
        assert done.json()["version"] == "0.1.0"
        gitrepo.git(repo, "rm", "-q", "gate-ok")
        gitrepo.commit(repo, "chore: drop the marker")
        gitrepo.git(repo, "push", "-q", str(origin), "main")
        again = httpx.post(deploy, json=body, headers=_h(token), timeout=60)
        assert again.status_code == 409 and again.json()["code"] == "gates-failed", again.text
