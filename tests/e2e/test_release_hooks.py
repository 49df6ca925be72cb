"""`release.hooks.after_release`: the documented GitHub and GitLab scripts run after the release
with the release's variables, against stand-in `gh` and `glab` commands that record what they
were given; a failing hook leaves the release recorded and `release-hook` runs it again."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

from tests import gitrepo
from tests.e2e.helpers import as_json, shipyard

EXAMPLES = Path(__file__).resolve().parents[2] / "docs" / "examples"

# A stand-in for gh and glab: records its arguments, the notes file and the attached files.
STAND_IN = """\
#!/usr/bin/env python3
import json, os, pathlib, sys
args = sys.argv[1:]
notes = args[args.index("--notes-file") + 1]
files = {a: pathlib.Path(a).read_text() for a in args if os.path.isfile(a) and a != notes}
env = {k: v for k, v in os.environ.items() if k.startswith("SHIPYARD_")}
record = {"tool": pathlib.Path(sys.argv[0]).name, "args": args, "files": files, "env": env,
          "notes": pathlib.Path(notes).read_text()}
with open(os.environ["HOOK_RECORD"], "a") as f:
    f.write(json.dumps(record) + "\\n")
"""

SPEC = """\
project: shop
pipeline:
  jobs:
    build:
      run: mkdir -p dist && cp app.txt dist/shop.zip
      inputs: [app.txt]
      outputs: [dist/shop.zip]
      artifact: shop
release:
  hooks:
    after_release: {hook}
"""


def _repo(tmp_path: Path, hook: str) -> tuple[Path, dict[str, str]]:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    for tool in ("gh", "glab"):
        (bin_dir / tool).write_text(STAND_IN)
        (bin_dir / tool).chmod(0o755)
    root = gitrepo.init(tmp_path / "shop")
    for script in ("github-release.sh", "gitlab-release.sh"):
        shutil.copy(EXAMPLES / script, root / script)
    files = {
        "shipyard.yaml": SPEC.format(hook=hook),
        "app.txt": "price: 1\n",
        ".gitignore": ".shipyard/\ndist/\nfail\n",
        "github-release.sh": (root / "github-release.sh").read_text(),
        "gitlab-release.sh": (root / "gitlab-release.sh").read_text(),
    }
    gitrepo.commit(root, "feat: a shop", files)
    env = {
        "PATH": f"{bin_dir}{os.pathsep}{os.environ['PATH']}",
        "HOOK_RECORD": str(tmp_path / "record.jsonl"),
    }
    return root, env


def _records(env: dict[str, str]) -> list[dict[str, object]]:
    path = Path(env["HOOK_RECORD"])
    lines = path.read_text().splitlines() if path.exists() else []
    return [json.loads(line) for line in lines]


def test_the_documented_scripts_create_forge_releases_with_notes_and_artifacts(
    tmp_path: Path,
) -> None:
    """After the release, the GitHub and GitLab example scripts call `gh release create` and
    `glab release create` with the tag, the changelog section as notes and the artifact's
    bytes from the registry, and `release.hook_ran` records exit 0."""
    root, env = _repo(tmp_path, "sh github-release.sh && sh gitlab-release.sh")
    out = shipyard("release", "--json", cwd=root, env=env)
    assert out.returncode == 0, out.stdout + out.stderr
    assert as_json(out)["hook"]["exit_code"] == 0
    gh, glab = _records(env)
    assert gh["tool"] == "gh" and glab["tool"] == "glab"
    gh_args, glab_args = gh["args"], glab["args"]
    assert isinstance(gh_args, list) and isinstance(glab_args, list)
    assert gh_args[:5] == ["release", "create", "v0.1.0", "--verify-tag", "--title"]
    assert glab_args[:3] == ["release", "create", "v0.1.0"]
    for rec in (gh, glab):
        assert "## 0.1.0" in str(rec["notes"]) and "a shop" in str(rec["notes"])
        files = rec["files"]
        assert isinstance(files, dict)
        assert [Path(p).name for p in files] == ["shop.zip"]
        assert list(files.values()) == ["price: 1\n"]
    environ = gh["env"]
    assert isinstance(environ, dict)
    assert {k: environ[k] for k in ("SHIPYARD_VERSION", "SHIPYARD_TAG", "SHIPYARD_PRERELEASE")} == {
        "SHIPYARD_VERSION": "0.1.0",
        "SHIPYARD_TAG": "v0.1.0",
        "SHIPYARD_PRERELEASE": "false",
    }
    assert environ["SHIPYARD_PROJECT"] == "shop" and environ["SHIPYARD_BRANCH"] == "main"
    assert environ["SHIPYARD_COMMIT"] == gitrepo.git(root, "rev-parse", "v0.1.0^{commit}")
    events = shipyard("audit", "log", "--kind", "release.hook_ran", "--json", cwd=root)
    (event,) = as_json(events)["events"]
    assert event["payload"]["exit_code"] == 0 and event["payload"]["tag"] == "v0.1.0"


def test_a_failing_hook_leaves_the_release_recorded_and_runs_again(tmp_path: Path) -> None:
    """A hook that exits 3 fails the command with `release-hook-failed` (exit 1) while the tag
    and the artifact stay recorded; `release-hook v0.1.0` runs it again with the same version,
    notes and artifact, and an unknown tag is `release-not-found`."""
    root, env = _repo(tmp_path, '"if [ -e fail ]; then exit 3; fi; sh github-release.sh"')
    (root / "fail").write_text("")
    out = shipyard("release", cwd=root, env=env)
    assert out.returncode == 1, out.stdout + out.stderr
    assert "error[release-hook-failed]" in out.stderr and "exited 3" in out.stderr
    assert "shipyard release-hook v0.1.0" in out.stderr
    assert "released v0.1.0" in out.stdout
    assert gitrepo.git(root, "tag") == "v0.1.0" and _records(env) == []
    (root / "fail").unlink()
    again = shipyard("release-hook", "v0.1.0", cwd=root, env=env)
    assert again.returncode == 0, again.stdout + again.stderr
    (gh,) = _records(env)
    assert gh["env"]["SHIPYARD_VERSION"] == "0.1.0"  # type: ignore[index]
    assert "## 0.1.0" in str(gh["notes"])
    assert list(gh["files"].values()) == ["price: 1\n"]  # type: ignore[attr-defined]
    events = as_json(shipyard("audit", "log", "--kind", "release.hook_ran", "--json", cwd=root))
    assert [e["payload"]["exit_code"] for e in events["events"]] == [3, 0]
    unknown = shipyard("release-hook", "v9.9.9", "--json", cwd=root, env=env)
    assert unknown.returncode == 6 and as_json(unknown)["error"]["code"] == "release-not-found"
