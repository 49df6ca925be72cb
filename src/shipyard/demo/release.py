"""The demo's release step: the sample folder becomes a git repository with a few conventional
commits, then is versioned, tagged, given a changelog, and its artifact published and verified."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from shipyard.adapters.vcs.git import GitRepo

if TYPE_CHECKING:
    from shipyard.demo.context import DemoContext

README = "# checkout\n\nRun `python app.py --port 8000`.\n"
COMMITS = [
    ("feat: checkout service with a health endpoint", None),
    (
        "docs: how to run the checkout service",
        ("README.md", "# checkout\n\nRun `python app.py`.\n"),
    ),
    ("fix: pin the Python version the service runs on", (".python-version", "3.11\n")),
    ("chore: ignore local state", None),
]


def _init_repo(root: Path) -> GitRepo:
    import subprocess

    def git(*args: str) -> None:
        subprocess.run(["git", *args], cwd=root, check=True, capture_output=True)

    git("init", "-q", "-b", "main")
    git("config", "user.name", "Shipyard Demo")
    git("config", "user.email", "demo@example.invalid")
    (root / ".gitignore").write_text(".shipyard/\ndist/\n__pycache__/\n")
    sample = [p.name for p in root.iterdir() if p.is_file() and p.suffix in (".py", ".yaml")]
    git("add", *sample)
    git("commit", "-q", "-m", COMMITS[0][0])
    for message, change in COMMITS[1:]:
        name, text = change or (".gitignore", None)
        if text is not None:
            (root / name).write_text(text)
        git("add", name)
        git("commit", "-q", "-m", message)
    return GitRepo.open(root)


def step(ctx: DemoContext) -> list[str]:
    from shipyard.services.releases import artifacts, release

    if not (ctx.root / ".git").exists():
        _init_repo(ctx.root)
    spec = ctx.need_spec()
    project = spec.project
    name = next((j.artifact for j in spec.pipeline.jobs.values() if j.artifact), project)
    plan = release.plan(ctx.root, project=project, spec=spec)
    lines = [f"shipyard version: {plan.decision.explain()[0]}"]
    lines += [f"  {line.strip()}" for line in plan.decision.explain()[1:]]
    out = release.release(ctx.store, ctx.root, project=project, spec=spec, actor="demo")
    if out["released"]:
        sections = out["changelog_sections"]
        lines.append(
            f"released {out['tag']}: CHANGELOG.md gained {sections} section(s), "
            f"annotated tag on {out['commit'][:7]}"
        )
        version = out["version"]
    else:
        lines.append(out["message"])
        version = out["previous"]
    ref = f"{name}@{version}"
    shown: Mapping[str, Any] = artifacts.show(ctx.store, project, ref)
    result = artifacts.verify_or_raise(ctx.store, project, ref)
    lines.append(
        f"artifact {ref} {shown['digest'][:19]}… ({shown['size']} bytes), "
        f"SBOM CycloneDX {shown['sbom']['specVersion']}"
    )
    definition = shown["provenance"]["buildDefinition"]
    inputs = sorted(d["name"] for d in definition["resolvedDependencies"] if d.get("name"))
    lines.append(
        f"provenance: job {definition['externalParameters']['job']}, run "
        f"{shown['provenance']['runDetails']['metadata']['invocationId']}, inputs "
        + ", ".join(inputs)
    )
    lines.append("verified: " + ", ".join(c["name"] for c in result["checks"] if c["ok"]))
    ctx.facts["release"] = {"version": version, "artifact": ref, "verified": result["ok"]}
    return lines
