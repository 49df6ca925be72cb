"""A monorepo manifest: `release.services` gives each service its paths, its own version from
the commits touching them, its own tags, changelog and artifacts; compared with what
release-please's manifest mode makes of the same history.

The expected versions are release-please's, derived from its code for this history:
``src/util/commit-split.ts`` (``CommitSplit.split``) gives a commit to every package whose
path one of its files is under (``file.indexOf(`${p}/`) === 0``), once per package, and to
none when it only touches files outside them, so ``services/api-gateway/`` is not
``services/api``; ``src/versioning-strategies/default.ts``
(``DefaultVersioningStrategy.determineReleaseType``) makes any breaking commit major, else a
``feat`` minor, else patch (with ``bumpMinorPreMajor`` off, a breaking change takes 0.4.1 to
1.0.0); ``src/strategies/base.ts`` (``buildReleasePullRequest``) releases a package only when
its notes are not empty, and the default changelog sections hide ``chore``/``docs``, so a
package with only those gets no release; tags are ``<component>-v<version>``
(``include-component-in-tag``, ``tag-separator: -``), set here with
``tag_format: "{service}-v{version}"``; each package's notes go to ``<path>/CHANGELOG.md``.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests import gitrepo
from tests.e2e.helpers import as_json, shipyard

SPEC = """\
project: shop
pipeline:
  jobs:
    api-build:
      run: mkdir -p dist && cp services/api/app.py dist/api.zip
      inputs: [services/api/app.py]
      outputs: [dist/api.zip]
      artifact: api
    web-build:
      run: mkdir -p dist && cp services/web/index.html dist/web.zip
      inputs: [services/web/index.html]
      outputs: [dist/web.zip]
      artifact: web
release:
  tag_format: "{service}-v{version}"
  version_files: [services/api/VERSION, services/web/VERSION]
  services:
    api: {path: services/api}
    web: {path: services/web}
"""

# (message, files touched) after the services' last releases api-v1.2.0 and web-v0.4.1.
HISTORY = [
    ("feat(api): coupons", ["services/api/app.py"]),
    ("fix(web): layout", ["services/web/index.html"]),
    ("docs: readme", ["README.md"]),
    ("fix: shared header", ["services/api/header.py", "services/web/header.html"]),
    ("refactor(web)!: drop the old browsers", ["services/web/compat.js"]),
    ("chore(api): bump dependencies", ["services/api/requirements.txt"]),
    ("feat(gateway)!: new routes", ["services/api-gateway/routes.py"]),
]
# What release-please's manifest mode proposes for the same history (see the module doc).
RELEASE_PLEASE = {"api": ("1.2.0", "1.3.0"), "web": ("0.4.1", "1.0.0")}


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    root = gitrepo.init(tmp_path / "mono")
    start = {
        "shipyard.yaml": SPEC,
        ".gitignore": ".shipyard/\ndist/\n",
        "README.md": "shop\n",
        "services/api/app.py": "coupons = 0\n",
        "services/web/index.html": "<p>shop</p>\n",
        "services/api/VERSION": "1.2.0\n",
        "services/web/VERSION": "0.4.1\n",
    }
    gitrepo.commit(root, "chore: start", start)
    gitrepo.tag(root, "api-v1.2.0")
    gitrepo.tag(root, "web-v0.4.1")
    for i, (message, files) in enumerate(HISTORY):
        gitrepo.commit(root, message, {f: f"{i}\n" for f in files})
    return root


def test_each_service_gets_the_version_release_please_proposes(repo: Path) -> None:
    """`shipyard version` lists one decision per service, each from the commits touching its
    path, and they are the versions release-please's manifest mode proposes."""
    out = shipyard("version", "--json", cwd=repo)
    assert out.returncode == 0, out.stderr
    services = as_json(out)["services"]
    got = {name: (d["previous"], d["version"]) for name, d in services.items()}
    assert got == RELEASE_PLEASE
    assert services["web"]["bump"] == "major" and services["api"]["bump"] == "minor"
    assert services["api"]["tag"] == "api-v1.3.0" and services["web"]["tag"] == "web-v1.0.0"
    assert [c["header"] for c in services["api"]["deciding"]] == ["feat(api): coupons"]
    # api: coupons, the shared header, the dependencies; web: layout, header, old browsers.
    assert (services["api"]["commits"], services["web"]["commits"]) == (3, 3)
    one = as_json(shipyard("version", "--service", "web", "--json", cwd=repo))
    assert (one["version"], one["tag"]) == ("1.0.0", "web-v1.0.0")


def test_releasing_one_service_tags_it_with_its_changelog_and_artifact(repo: Path) -> None:
    """`release --service api` tags api-v1.3.0, writes services/api/CHANGELOG.md with only
    api's changes and 1.3.0 into api's version file alone, publishes only api's artifact; web
    stays releasable, then releases on its own as web-v1.0.0."""
    out = shipyard("release", "--service", "api", "--json", cwd=repo)
    assert out.returncode == 0, out.stdout + out.stderr
    data = as_json(out)
    assert data["tag"] == "api-v1.3.0"
    assert [(a["name"], a["version"]) for a in data["published"]] == [("api", "1.3.0")]
    notes = (repo / "services" / "api" / "CHANGELOG.md").read_text()
    assert "## 1.3.0" in notes and "coupons" in notes and "shared header" in notes
    assert "old browsers" not in notes and not (repo / "CHANGELOG.md").exists()
    assert (repo / "services" / "api" / "VERSION").read_text() == "1.3.0\n"
    assert (repo / "services" / "web" / "VERSION").read_text() == "0.4.1\n"
    after = as_json(shipyard("version", "--json", cwd=repo))["services"]
    assert after["api"]["releasable"] is False and after["web"]["version"] == "1.0.0"
    web = shipyard("release", "--service", "web", "--json", cwd=repo)
    assert web.returncode == 0, web.stdout + web.stderr
    assert as_json(web)["tag"] == "web-v1.0.0"
    assert "old browsers" in (repo / "services" / "web" / "CHANGELOG.md").read_text()
    tags = set(gitrepo.git(repo, "tag").split())
    assert tags == {"api-v1.2.0", "api-v1.3.0", "web-v0.4.1", "web-v1.0.0"}
    listed = as_json(shipyard("artifacts", "list", "--json", cwd=repo))["artifacts"]
    assert sorted((a["name"], a["version"]) for a in listed) == [("api", "1.3.0"), ("web", "1.0.0")]


def test_a_service_must_be_named_and_known(repo: Path) -> None:
    """With services declared, `release` without --service is `service-required` (naming what
    is releasable) and an unknown service is `service-unknown` with a suggestion; both exit 2
    and change nothing."""
    bare = shipyard("release", "--json", cwd=repo)
    assert bare.returncode == 2
    error = as_json(bare)["error"]
    assert error["code"] == "service-required"
    assert "api 1.2.0 -> 1.3.0" in error["hint"] and "web 0.4.1 -> 1.0.0" in error["hint"]
    typo = shipyard("version", "--service", "api2", "--json", cwd=repo)
    assert typo.returncode == 2
    assert as_json(typo)["error"]["code"] == "service-unknown"
    assert "did you mean 'api'" in as_json(typo)["error"]["hint"]
    assert set(gitrepo.git(repo, "tag").split()) == {"api-v1.2.0", "web-v0.4.1"}
