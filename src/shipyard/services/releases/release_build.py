"""The pipeline run that built a release: found by the commit's tree, or run for it.

A release publishes only bytes a recorded run produced, so its provenance always names that
run and the `tests` gate can read the run's result. A run counts as the build of the release
commit when it succeeded, its commit has the same git tree as the commit being released, and
every input its steps were keyed by still has the digest it had then: a run over uncommitted
changes records the same commit, and this is what tells it apart.

The run tables are read, never written: runs belong to the pipeline
(services/pipelines/pipeline.py).
The files a step produced are the ones its action-cache entry lists, so a job with
``cache: false`` leaves no record of its bytes and cannot be released from.
"""

from __future__ import annotations

import json
from collections.abc import Collection, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from shipyard.adapters.cas.digest import digest_file
from shipyard.adapters.vcs.git import commit_trees
from shipyard.errors import InputError, Refused
from shipyard.store.uow import Store

if TYPE_CHECKING:
    from shipyard.spec.models import Spec

# How far back to look for a run of the tree; older runs are rebuilt rather than searched.
CANDIDATES = 100


class ArtifactFileMissing(InputError):
    code = "artifact-file-missing"
    default_hint = "build it first, or check the path"


class ArtifactNotBuilt(Refused):
    code = "artifact-not-built"
    default_hint = "build it from this commit with `shipyard run`, then release"


class BuildFailed(Refused):
    code = "run-failed"


@dataclass(frozen=True)
class Built:
    """One file a run produced: the step that wrote it, its path and the digest of its bytes."""

    job: str
    node: str
    path: str  # relative to the project folder
    digest: str


@dataclass
class BuildRun:
    """A successful run and every file its steps produced."""

    run_id: int
    commit: str
    steps: dict[str, Mapping[str, Any]] = field(default_factory=dict)  # node -> recorded step
    files: list[Built] = field(default_factory=list)
    unrecorded: set[str] = field(default_factory=set)  # jobs whose outputs no entry lists
    ran: bool = False  # started by this release

    def by_digest(self, digest: str) -> Built | None:
        return next((f for f in self.files if f.digest == digest), None)

    def of_job(self, job: str) -> list[Built]:
        return [f for f in self.files if f.job == job]


def artifact_jobs(spec: Spec | None, only: Collection[str] | None = None) -> dict[str, str]:
    """Job name -> artifact name, for every `artifact:` job (of the artifacts in ``only``)."""
    if spec is None:
        return {}
    return {
        n: j.artifact
        for n, j in spec.pipeline.jobs.items()
        if j.artifact and (only is None or j.artifact in only)
    }


def _load(conn: Any, run: Mapping[str, Any]) -> tuple[BuildRun, list[dict[str, Any]]]:
    """The run's produced files and its steps' key manifests, through ``run_steps``, which
    knows where a run's steps are recorded (an up-to-date run's are an earlier run's)."""
    from sqlalchemy import select

    from shipyard.store.pipelines import action_cache, run_steps

    c = action_cache.c
    steps = run_steps(conn, int(run["id"]))
    keys = [st["key"] for st in steps if st["key"] and st["status"] == "success"]
    entries = {
        k: json.loads(files)
        for k, files in conn.execute(select(c.key, c.files).where(c.key.in_(keys)))
    }
    built = BuildRun(run_id=int(run["id"]), commit=str(run["commit"]))
    manifests = []
    for st in steps:
        built.steps[st["node"]] = st
        if st["manifest"]:
            manifests.append(st["manifest"])
        if st["status"] != "success":
            continue
        files = entries.get(st["key"]) if st["key"] else None
        if files is None:
            built.unrecorded.add(st["job"])
            continue
        built.files += [Built(st["job"], st["node"], p, d) for p, d in sorted(files.items())]
    return built, manifests


def _unchanged(root: Path, manifests: list[dict[str, Any]]) -> bool:
    """True when every input the steps were keyed by has the same digest in the work tree."""
    seen: dict[str, str] = {}
    for manifest in manifests:
        for rel, digest in (manifest.get("inputs") or {}).items():
            if rel not in seen:
                path = root / rel
                seen[rel] = digest_file(path) if path.is_file() else ""
            if seen[rel] != digest:
                return False
    return True


def _complete(built: BuildRun, jobs: dict[str, str]) -> bool:
    """Every artifact job succeeded in the run (recorded or not: the caller says which)."""
    return all(built.of_job(j) or j in built.unrecorded for j in jobs)


def run_of_tree(
    store: Store, project: str, spec: Spec, project_root: Path, git_root: Path, head: str
) -> BuildRun | None:
    """The newest successful run of ``head``'s tree whose inputs are still what they were."""
    from sqlalchemy import select

    from shipyard.store.pipelines import pipeline_runs

    r = pipeline_runs.c
    with store.read() as uow:
        runs = [
            {"id": row.id, "commit": row.commit, "trigger": row.trigger}
            for row in uow.conn.execute(
                select(r.id, r.commit, r.trigger)
                .where(r.project == project, r.status == "success", r.commit != "")
                .order_by(r.id.desc())
                .limit(CANDIDATES)
            )
        ]
        trees = commit_trees(git_root, sorted({head, *(run["commit"] for run in runs)}))
        want = trees.get(head)
        jobs = artifact_jobs(spec)
        for run in runs:
            if want is None or trees.get(run["commit"]) != want:
                continue
            built, manifests = _load(uow.conn, run)
            if _complete(built, jobs) and _unchanged(project_root, manifests):
                return built
    return None


def load_run(store: Store, run_id: int, project: str) -> BuildRun | None:
    """A successful run of ``project`` and what it produced, or None."""
    from shipyard.store.pipelines import get_run

    with store.read() as uow:
        run = get_run(uow.conn, run_id)
        if run is None or run["project"] != project or run["status"] != "success":
            return None
        return _load(uow.conn, run)[0]


def build(
    store: Store, spec: Spec, project_root: Path, actor: str, reporter: Any = None
) -> BuildRun:
    """Run the whole pipeline for the release; refuses when it does not succeed."""
    from shipyard.services.pipelines import pipeline

    summary = pipeline.run(
        store, spec, project_root, reporter=reporter, trigger="release", actor=actor
    )
    run_id = int(summary["run_id"])
    if summary["status"] != "success":
        failed = [s["node"] for s in summary["steps"] if s["status"] == "failure"]
        raise BuildFailed(
            f"run {run_id} built for the release {summary['status']}"
            + (f": {', '.join(failed)}" if failed else ""),
            f"read a step's log with `shipyard logs {run_id} JOB`, fix it, commit, release again",
            details={"run_id": run_id},
        )
    built = load_run(store, run_id, spec.project)
    assert built is not None
    built.ran = True
    return built


def find_or_build(
    store: Store,
    spec: Spec,
    project_root: Path,
    git_root: Path,
    head: str,
    *,
    allow_build: bool,
    actor: str,
    reporter: Any = None,
) -> BuildRun:
    """The run of ``head``'s tree; without one, run the pipeline (or refuse: ``--no-build``)."""
    found = run_of_tree(store, spec.project, spec, project_root, git_root, head)
    if found is not None:
        return found
    if not allow_build:
        raise ArtifactNotBuilt(
            f"no successful run of commit {head[:12]} is recorded",
            "build it with `shipyard run` first, or release without --no-build to let the "
            "release run the pipeline",
            details={"commit": head},
        )
    return build(store, spec, project_root, actor, reporter)


def choose(
    built: BuildRun,
    spec: Spec,
    extra: list[tuple[str, Path]],
    only: Collection[str] | None = None,
) -> list[tuple[str, Built]]:
    """The artifacts to publish: each `artifact:` job's single output in ``built`` (of the
    artifacts in ``only``: a monorepo service's), and each NAME=FILE given, whose bytes must be
    ones the run produced."""
    chosen: list[tuple[str, Built]] = []
    for name, path in extra:
        if not path.is_file():
            raise ArtifactFileMissing(f"{path} is not a file")
        digest = digest_file(path)
        match = built.by_digest(digest)
        if match is None:
            raise ArtifactNotBuilt(
                f"{path} ({digest}) is not a file run {built.run_id} produced",
                "publish what a run built: `shipyard run`, then release without --artifact "
                "or name the file the run wrote",
                details={"file": str(path), "digest": digest, "run_id": built.run_id},
            )
        chosen.append((name, match))
    named = {n for n, _ in extra}
    for job, name in artifact_jobs(spec, only).items():
        if name in named:
            continue
        if job in built.unrecorded and not built.of_job(job):
            raise ArtifactNotBuilt(
                f"run {built.run_id} does not record the files job {job} wrote",
                f"a job with `cache: false` keeps no record of its outputs; let {job} be cached",
                details={"job": job, "run_id": built.run_id},
            )
        files = built.of_job(job)
        if len(files) > 1:
            raise InputError(
                f"job {job} produced {len(files)} files for artifact {name}: "
                + ", ".join(f.path for f in files),
                f"narrow the job's outputs, or pass --artifact {name}=FILE",
                code="artifact-ambiguous",
            )
        if not files:
            raise ArtifactNotBuilt(
                f"job {job} produced no file in run {built.run_id}",
                f"declare the file in {job}'s `outputs`",
                details={"job": job, "run_id": built.run_id},
            )
        chosen.append((name, files[0]))
    return chosen
