"""`shipyard version` and `shipyard release`: the next version from git history, then the
changelog, an annotated tag, and the artifacts of that version with their release event.

Git work happens first and is undone (the tag deleted) if recording in the store fails, so a
tag never names a version the registry does not know.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING, Any, NotRequired, TypedDict, cast

from shipyard.adapters.vcs.git import GitCommit, GitRepo, RemoteMissing, TagExists
from shipyard.domain import provenance
from shipyard.domain import versioning as v
from shipyard.errors import InputError, Refused, ShipyardError
from shipyard.services.releases.publish import PushedTo
from shipyard.store.uow import Store

if TYPE_CHECKING:
    from shipyard.services.releases.release_hooks import HookRun
    from shipyard.spec.models import ReleaseService, Spec

CHANGELOG = "CHANGELOG.md"
RELEASE_PREFIX = "chore(release):"


class Override(TypedDict):
    """What --bump replaced, and why."""

    bump: str
    computed: str  # what the commits asked for
    reason: str | None


class DecidingCommit(TypedDict):
    sha: str
    header: str
    reason: str  # "breaking", or the commit's type


class IgnoredCommit(TypedDict):
    sha: str
    subject: str


class PlannedArtifact(TypedDict):
    name: str
    file: str


class PlanFacts(TypedDict):
    """The plan as `shipyard version` and `shipyard release` both report it."""

    service: str
    branch: str
    kind: v.Channel
    head: str
    previous: str | None
    version: str | None  # None: nothing to release
    bump: str
    override: Override | None  # None: the commits decided
    tag: str | None
    releasable: bool
    deciding: list[DecidingCommit]
    ignored: list[IgnoredCommit]
    commits: int
    explain: list[str]
    warnings: list[str]
    changelog_sections: int


class PlanOut(PlanFacts):
    """`shipyard version`: the next version and why, decided from the repository."""

    artifacts: list[PlannedArtifact]


@dataclass
class Plan:
    project: str
    service: str
    tag_service: str | None  # None: plain vX.Y.Z tags
    branch: str
    head: str
    decision: v.VersionDecision
    commits: list[GitCommit]
    tag: str | None
    changelog: v.Changelog | None
    changelog_path: Path
    artifacts: list[tuple[str, Path]] = field(default_factory=list)
    # Version tags that the configured release.tag_format does not read, by their format.
    other_formats: dict[str, list[str]] = field(default_factory=dict)
    tag_format: str = v.DEFAULT_TAG_FORMAT
    reason: str | None = None  # why --bump overrode the commits

    @property
    def override(self) -> Override | None:
        """What --bump replaced, and why; None when the commits decided."""
        d = self.decision
        if d.computed is None:
            return None
        return {"bump": d.bump.label, "computed": d.computed.label, "reason": self.reason}

    @property
    def warnings(self) -> list[str]:
        return [
            f"tags such as {tags[0]} follow {other!r}, not release.tag_format "
            f"{self.tag_format!r}, so they are not read"
            for other, tags in self.other_formats.items()
        ]

    def to_dict(self) -> PlanOut:
        d = self.decision
        return {
            "service": self.service,
            "branch": self.branch,
            "kind": d.kind,
            "head": self.head,
            "previous": d.previous,
            "version": d.version,
            "bump": d.bump.label,
            "override": self.override,
            "tag": self.tag,
            "releasable": d.releasable,
            "deciding": [
                {"sha": c.sha, "header": c.header, "reason": "breaking" if c.breaking else c.type}
                for c in d.deciding
            ],
            "ignored": [
                {"sha": c.sha, "subject": (c.message.strip().splitlines() or [""])[0]}
                for c in d.ignored
            ],
            "commits": len(self.commits),
            "explain": d.explain() + self.warnings,
            "warnings": self.warnings,
            "changelog_sections": len(self.changelog.sections) if self.changelog else 0,
            "artifacts": [{"name": n, "file": str(p)} for n, p in self.artifacts],
        }


class TagFormatMismatch(Refused):
    code = "tag-format-mismatch"

    def __init__(self, p: Plan) -> None:
        other, tags = next(iter(p.other_formats.items()))
        example = v.tag_name(v.SemVer.parse("1.0.0"), p.tag_service, p.tag_format)
        super().__init__(
            f"no tag follows release.tag_format {p.tag_format!r} (e.g. {example}), but "
            f"{len(tags)} tag(s) follow {other!r}, newest {tags[0]}; releasing now would "
            f"start over at {p.decision.version}",
            f"set `release: {{tag_format: {other!r}}}` in shipyard.yaml to continue from "
            f"{tags[0]}, or tag that release in the new format first "
            f"(`git tag {_renamed(tags[0], other, p)} {tags[0]}`)",
            details={"tag_format": p.tag_format, "found": p.other_formats},
        )


def _renamed(tag: str, other: str, p: Plan) -> str:
    found = v.version_from_tag(tag, None, other)
    return v.tag_name(found, p.tag_service, p.tag_format) if found else tag


def config_of(spec: Spec | None) -> v.VersioningConfig:
    if spec is None:
        return v.DEFAULT_CONFIG
    rel = spec.release
    table = v.commit_types(rel.commit_types)
    return v.VersioningConfig(
        major_on_zero=rel.major_on_zero,
        prerelease_branches=dict(rel.prerelease_branches),
        scheme="calver" if rel.versioning == "calver" else "semver",
        tag_format=rel.tag_format,
        commit_types=table,
        squash_types=tuple(dict.fromkeys(v.KNOWN_TYPES + v.type_names(table)))
        if rel.squash_bullets
        else (),
    )


def plan(
    root: Path,
    *,
    project: str,
    spec: Spec | None = None,
    service: str | None = None,
    paths: tuple[str, ...] = (),
    branch: str | None = None,
    today: date | None = None,
    bump: str | None = None,
) -> Plan:
    """Everything a release would do, decided from the repository without changing it;
    ``bump`` (major, minor or patch) overrides what the commits ask for."""
    repo = GitRepo.open(root)
    head = repo.head()
    branch = branch or repo.branch()
    config = config_of(spec)
    policy = v.branch_policy(branch, config)
    if service is not None and not paths:
        paths = service_paths(spec, service)
    fmt = config.tag_format
    tags = repo.tags()
    all_tags = [(t, v.version_from_tag(t.name, service, fmt)) for t in tags]
    mine = [(t, ver) for t, ver in all_tags if ver is not None]
    reachable = {t.name for t in repo.tags(merged_into=head)}
    candidates = [
        (ver, t)
        for t, ver in mine
        if t.name in reachable and (policy.kind == "prerelease" or not ver.is_prerelease)
    ]
    last = max(candidates, key=lambda c: c[0].precedence_key(), default=None)
    pending = max(
        (ver for t, ver in mine if t.name in reachable and ver.is_prerelease),
        key=lambda ver: ver.precedence_key(),
        default=None,
    )
    history = repo.commits(since=last[1].commit if last else None, paths=paths)
    history = [c for c in history if not c.message.startswith(RELEASE_PREFIX)]
    decision = v.next_version(
        last[0] if last else None,
        [v.Commit(c.sha, c.message, c.files) for c in history],
        branch=branch,
        config=config,
        released=[ver for _t, ver in mine],
        today=today or date.today(),
        service=service,
        pending=pending,
        override=v.parse_bump(bump) if bump else None,
    )
    tag = v.tag_name(decision.version, service, fmt) if decision.version else None
    changelog = (
        v.build_changelog(
            decision.version, decision.commits, on=today or date.today(), previous=decision.previous
        )
        if decision.version
        else None
    )
    folder = repo.root / paths[0] if service and paths and (repo.root / paths[0]).is_dir() else None
    return Plan(
        project=project,
        service=service or project,
        tag_service=service,
        branch=branch,
        head=head,
        decision=decision,
        commits=history,
        tag=tag,
        changelog=changelog,
        changelog_path=(folder or repo.root) / CHANGELOG,
        other_formats={} if mine else v.other_tag_formats((t.name for t in tags), fmt, service),
        tag_format=fmt,
    )


class ServiceUnknown(InputError):
    code = "service-unknown"


class ServiceRequired(InputError):
    code = "service-required"


def services_of(spec: Spec | None) -> dict[str, ReleaseService]:
    """The monorepo services of ``release.services`` (empty for a single-version project)."""
    return dict(spec.release.services) if spec is not None else {}


def service_paths(spec: Spec | None, service: str) -> tuple[str, ...]:
    """The paths of a service: from ``release.services`` when the project declares services
    (another name is refused), else the folder named like it."""
    import difflib

    declared = services_of(spec)
    if not declared:
        return (service,)
    if service not in declared:
        close = difflib.get_close_matches(service, list(declared), n=1)
        raise ServiceUnknown(
            f"release.services has no service '{service}'",
            f"did you mean '{close[0]}'?" if close else f"services: {', '.join(declared)}",
            details={"service": service, "services": list(declared)},
        )
    return tuple(declared[service].path)


def service_artifacts(spec: Spec | None, service: str | None) -> set[str] | None:
    """The artifacts a service's release publishes: its ``artifacts:``, else the one named
    like it; None (every artifact) for a project without services."""
    if service is None:
        return None
    declared = services_of(spec).get(service)
    return set(declared.artifacts) if declared is not None and declared.artifacts else {service}


def plan_services(
    root: Path, *, project: str, spec: Spec | None, branch: str | None = None
) -> dict[str, Plan]:
    """One plan per service of ``release.services``, each over the commits touching its paths,
    as release-please's manifest mode splits commits by package path."""
    return {
        name: plan(root, project=project, spec=spec, service=name, branch=branch)
        for name in services_of(spec)
    }


def update_changelog(existing: str, section: str, version: str) -> str:
    """Put this version's section first under the title, replacing an older copy of it."""
    title = "# Changelog"
    body = existing[len(title) :].lstrip("\n") if existing.startswith(title) else existing
    # Drop a section already written for this version (a release retried after a failure).
    own = re.compile(rf"^## {re.escape(version)}(?: .*)?\n(?:(?!## ).*\n?)*", re.M)
    body = own.sub("", body).lstrip("\n")
    return title + "\n\n" + section.rstrip("\n") + "\n" + ("\n" + body if body.strip() else "")


class BuiltBy(TypedDict):
    """The recorded run whose files are released."""

    run_id: int
    commit: str
    ran: bool  # started by this release


class ReleasedArtifact(TypedDict):
    name: str
    file: str  # relative to the project folder
    digest: str
    job: str


class PublishPlanned(TypedDict):
    artifact: str  # NAME@VERSION
    target: str


class Published(TypedDict):
    name: str
    version: str
    digest: str
    new: bool  # False: the registry held these bytes already


class Publication(PushedTo):
    artifact: str  # NAME@VERSION, first in the document


class ReleaseOut(PlanFacts):
    """`shipyard release`: the plan, then what was built, recorded, pushed and run. A release
    that stops early (nothing to release, a dry run) has the keys set until then."""

    # The plan's (empty) list when nothing is releasable, else the files chosen to release.
    artifacts: list[PlannedArtifact] | list[ReleasedArtifact]
    released: bool
    dry_run: bool
    dirty: list[str]  # files changed but not committed
    run_id: int | None
    message: NotRequired[str]
    built: NotRequired[BuiltBy]
    version_files: NotRequired[list[str]]
    remote: NotRequired[str]  # with --push
    changelog: NotRequired[str]
    publish: NotRequired[list[PublishPlanned]]
    # The after_release command (None: none), replaced by its run once it ran.
    hook: NotRequired[str | HookRun | None]
    pushed: NotRequired[str | None]  # the remote, with --push
    commit: NotRequired[str]
    published: NotRequired[list[Published]]
    publications: NotRequired[list[Publication]]


def release(
    store: Store,
    root: Path,
    *,
    project: str,
    actor: str,
    spec: Spec | None = None,
    service: str | None = None,
    paths: tuple[str, ...] = (),
    branch: str | None = None,
    artifacts: list[tuple[str, Path]] | None = None,
    dry_run: bool = False,
    today: date | None = None,
    project_root: Path | None = None,
    build: bool = True,
    reporter: Any = None,
    bump: str | None = None,
    reason: str | None = None,
    push: bool = False,
    remote: str | None = None,
    publish: bool = True,
) -> ReleaseOut:
    """Tag, changelog and the artifacts of the next version, built by a recorded run; then
    each artifact pushed to the registries of ``release.publish`` (unless ``publish`` is
    False) and ``release.hooks.after_release`` run.

    The artifacts are the bytes the successful run of HEAD's tree produced (see
    ``release_build``); without such a run the pipeline runs first, or, with ``build=False``,
    the release is refused. ``artifacts`` (NAME=FILE) must be files that run produced.

    With ``push``, the release commit and tag go to ``remote`` (default: the one the branch
    tracks, else origin) in one atomic push, before anything is recorded, and a refused push
    leaves the repository as it was.
    """
    from shipyard.services.releases import artifacts as reg
    from shipyard.services.releases import release_build as rb
    from shipyard.services.releases import release_files

    if service is None and services_of(spec):
        plans = plan_services(root, project=project, spec=spec, branch=branch)
        pending = [
            f"{name} {pl.decision.previous or 'none'} -> {pl.decision.version}"
            for name, pl in plans.items()
            if pl.decision.releasable
        ]
        raise ServiceRequired(
            "shipyard.yaml declares services (release.services): each is released on its own",
            "release one with --service NAME; "
            + ("releasable now: " + ", ".join(pending) if pending else "none is releasable now"),
            details={"services": list(plans)},
        )
    if service is not None and not paths:
        paths = service_paths(spec, service)  # its changelog, version files and commits
    if bump and not (reason or "").strip():
        raise InputError(
            f"--bump {bump} overrides the commits, so it needs a reason",
            'pass --reason "why", e.g. --reason "the API change in #42 was not marked"',
            code="reason-missing",
        )
    repo = GitRepo.open(root)
    dirty = repo.dirty_files()
    if not dry_run:
        repo.require_clean()
    p = plan(
        root,
        project=project,
        spec=spec,
        service=service,
        paths=paths,
        branch=branch,
        today=today,
        bump=bump,
    )
    p.reason = reason.strip() if bump and reason else None
    plan_out = p.to_dict()
    # The plan's keys, then the release's own (cast: mypy will not take a ``**`` of another
    # TypedDict where the target has keys that are not required).
    out = cast(
        ReleaseOut,
        {**plan_out, "released": False, "dry_run": dry_run, "dirty": dirty, "run_id": None},
    )
    if not p.decision.releasable:
        out["message"] = p.decision.explain()[0]
        return out
    assert p.tag is not None and p.decision.version is not None and p.changelog is not None
    if p.other_formats:
        raise TagFormatMismatch(p)
    version = p.decision.version
    if repo.tag_exists(p.tag):
        raise TagExists(f"tag {p.tag} already exists", details={"tag": p.tag})
    extra = artifacts or []
    built: rb.BuildRun | None = None
    chosen: list[tuple[str, rb.Built]] = []
    only = service_artifacts(spec, service)
    if extra or rb.artifact_jobs(spec, only):
        if spec is None or not spec.pipeline.jobs:
            raise rb.ArtifactNotBuilt(
                "no pipeline job is declared, so no run can have built "
                + ", ".join(str(f) for _n, f in extra),
                "declare the job that builds it in shipyard.yaml (with `artifact:`), then "
                "`shipyard run` and release",
            )
        folder = project_root or repo.root
        if dry_run:
            built = rb.run_of_tree(store, spec.project, spec, folder, repo.root, p.head)
            if built is None and not build:
                rb.find_or_build(
                    store, spec, folder, repo.root, p.head, allow_build=False, actor=actor
                )
        else:
            built = rb.find_or_build(
                store,
                spec,
                folder,
                repo.root,
                p.head,
                allow_build=build,
                actor=actor,
                reporter=reporter,
            )
        if built is not None:
            chosen = rb.choose(built, spec, extra, only)
            out["run_id"] = built.run_id
            out["built"] = {"run_id": built.run_id, "commit": built.commit, "ran": built.ran}
    p.artifacts = [(n, (project_root or repo.root) / b.path) for n, b in chosen]
    released: list[ReleasedArtifact] = [
        {"name": n, "file": b.path, "digest": b.digest, "job": b.job} for n, b in chosen
    ]
    out["artifacts"] = released
    for name, b in chosen:  # refuse before anything changes
        reg.check_name_version(name, version)
        reg.published_with(store, project, name, version, b.digest)
    files = release_files.version_file_changes(
        repo.root,
        project_root or repo.root,
        spec,
        version,
        (paths or (service,)) if service else (),
    )
    out["version_files"] = [c.relative for c in files]
    if push:
        remote = remote or repo.remote()
        if remote is None or repo.remote_url(remote) is None:
            raise RemoteMissing(f"no remote {remote or 'to push to'} in {repo.root}")
        out["remote"] = remote
    section = v.render_markdown(p.changelog)
    out["changelog"] = section
    # Without a run yet (a dry run), the artifacts are the ones the pipeline would build.
    names = [n for n, _b in chosen] or [
        *dict.fromkeys([*(n for n, _f in extra), *rb.artifact_jobs(spec, only).values()])
    ]
    out["publish"] = _publish_plan(spec, names, version) if publish else []
    out["hook"] = spec.release.hooks.after_release if spec is not None else None
    if dry_run:
        how = (
            f"from run {built.run_id}"
            if built is not None
            else ("after running the pipeline" if chosen or rb.artifact_jobs(spec, only) else "")
        )
        out["message"] = f"would release {p.tag} ({_why(p)})" + (f" {how}" if how else "")
        return out

    from shipyard.services.compliance.audit import ensure_project, register_key

    prepared = []
    if chosen:
        assert built is not None
        prepared = _prepare_built(store, repo, built, chosen, version, project)
    existing = p.changelog_path.read_text() if p.changelog_path.is_file() else ""
    p.changelog_path.write_text(update_changelog(existing, section, version))
    release_files.write(files)
    rel_path = str(p.changelog_path.relative_to(repo.root))
    # [skip ci]: the pushed release commit must not start the pipeline that released it.
    message = f"{RELEASE_PREFIX} {p.tag} [skip ci]"
    commit = repo.commit_paths([rel_path, *(c.relative for c in files)], message)
    repo.create_tag(p.tag, commit, f"Release {p.tag}\n\n{section}")
    if push:
        assert remote is not None
        try:
            repo.push(remote, [f"{commit}:refs/heads/{p.branch}", f"refs/tags/{p.tag}"])
        except BaseException:
            # Nothing left behind: no tag, the branch and its files back where they were.
            repo.delete_tag(p.tag)
            repo.git("reset", "-q", "--keep", p.head)
            raise
    try:
        with store.begin() as uow:
            ensure_project(uow, project)
            register_key(store, uow, actor)
            published = [reg.record(store, uow, project, pr, actor)[1] for pr in prepared]
            _record_release(uow, p, commit, actor, built.run_id if built else None, section)
    except BaseException:
        repo.delete_tag(p.tag)  # the changelog commit stays; a retry rewrites its section
        if push:
            assert remote is not None
            repo.push(remote, [f":refs/tags/{p.tag}"])
        raise
    out.update(
        {
            "released": True,
            "pushed": remote if push else None,
            "commit": commit,
            "published": [
                {"name": pr["name"], "version": version, "digest": pr["digest"], "new": new}
                for pr, new in zip(prepared, published, strict=True)
            ],
            "message": f"released {p.tag} ({_why(p)})",
        }
    )
    _after_release(store, spec, p, repo.root, out, actor, commit, section, publish)
    return out


def _publish_plan(spec: Spec | None, names: list[str], version: str) -> list[PublishPlanned]:
    from shipyard.services.releases.publish import targets_for

    return [
        {"artifact": f"{n}@{version}", "target": t.label}
        for n in names
        for t in targets_for(spec, n)
    ]


def _after_release(
    store: Store,
    spec: Spec | None,
    p: Plan,
    root: Path,
    out: ReleaseOut,
    actor: str,
    commit: str,
    section: str,
    publish: bool,
) -> None:
    """What follows a recorded release: the pushes to ``release.publish``, then the hook.
    A failure raises its own error, with the release (recorded) in its details and a hint
    naming the command that retries."""
    from shipyard.errors import ShipyardError
    from shipyard.services.releases import publish as pub
    from shipyard.services.releases import release_hooks

    assert p.tag is not None and p.decision.version is not None
    version = p.decision.version
    refs = [f"{a['name']}@{version}" for a in out["published"]]
    out["publications"] = []
    retry: list[str] = []
    failure: ShipyardError | None = None
    if publish:
        for ref in refs:
            try:
                done = pub.push(store, p.project, spec, ref, actor=actor, required=False)
                out["publications"] += [{"artifact": ref, **x} for x in done["pushed"]]
            except ShipyardError as exc:
                failure = failure or exc
                pushed: list[PushedTo] = exc.details.get("pushed", [])  # see publish.push
                out["publications"] += [{"artifact": ref, **x} for x in pushed]
                for f in exc.details.get("failed", [{"target": exc.details.get("target")}]):
                    retry.append(f"shipyard artifacts push {ref} --to {f['target']}")
    if failure is None:
        try:
            out["hook"] = release_hooks.run(
                store,
                spec,
                root,
                project=p.project,
                actor=actor,
                service=p.tag_service,
                version=version,
                previous=p.decision.previous,
                tag=p.tag,
                commit=commit,
                branch=p.branch,
                changelog=section,
                artifacts=refs,
            )
            return
        except ShipyardError as exc:
            failure = exc
    elif release_hooks.configured(spec):
        retry.append(f"shipyard release-hook {p.tag}")
    failure.details["release"] = out
    if retry:
        failure.hint = (
            f"{p.tag} is released and recorded; once the cause is fixed, run "
            + " and ".join(f"`{r}`" for r in retry)
        )
    raise failure


def _prepare_built(
    store: Store,
    repo: GitRepo,
    built: Any,
    chosen: list[tuple[str, Any]],
    version: str,
    project: str,
) -> list[Any]:
    """Each chosen file's bytes, as the run stored them, into the registry with provenance."""
    import tempfile

    from shipyard.services.pipelines.pipeline import cas_of
    from shipyard.services.releases import artifacts as reg

    cas = cas_of(store)
    prepared = []
    with tempfile.TemporaryDirectory(prefix="shipyard-release-") as tmp:
        for i, (name, b) in enumerate(chosen):
            path = Path(tmp) / str(i) / Path(b.path).name
            cas.restore(b.digest, path)
            base = provenance.BuildInfo(
                pipeline=project,
                job=b.job,
                commit=built.commit,
                repository=repo.remote_url() or str(repo.root),
                run_id=str(built.run_id),
            )
            prepared.append(reg.prepare(store, path, name, version, _built_by(built, b.node, base)))
    return prepared


def _why(p: Plan) -> str:
    d = p.decision
    if d.computed is None:
        return d.bump.label
    return f"{d.bump.label}, set by --bump; the commits ask for {d.computed.label}"


def _record_release(
    uow: Any, p: Plan, commit: str, actor: str, run_id: int | None, changelog: str
) -> None:
    from shipyard.store import artifacts as repo_tables
    from shipyard.store.append import utcnow

    d = p.decision
    assert d.version is not None
    repo_tables.add_release(
        uow.conn,
        {
            "project": p.project,
            "service": p.service,
            "version": d.version,
            "previous": d.previous,
            "bump": d.bump.label,
            "tag": p.tag,
            "commit": commit,
            "created_at": utcnow(),
            "created_by": actor,
        },
    )
    uow.events.append(
        "release.created",
        f"release:{p.service}@{d.version}",
        actor,
        {
            "version": d.version,
            "previous": d.previous,
            "bump": d.bump.label,
            **({"override": p.override} if p.override else {}),
            "commits": [{"sha": c.sha, "time": c.committed_at} for c in p.commits],
            "authors": sorted({c.author_email for c in p.commits if c.author_email}),
            "tag": p.tag,
            "commit": commit,
            "branch": p.branch,
            "artifacts": [n for n, _ in p.artifacts],
            "run_id": str(run_id) if run_id is not None else None,
            "changelog": changelog,
        },
        project=p.project,
    )


def changelog_of(event: Mapping[str, Any], root: Path | None = None) -> str | None:
    """The changelog section a ``release.created`` event's release wrote: the event holds it;
    a release recorded before it did has it as its tag's message, read from the repository
    at ``root`` when that holds the tag. None when neither is at hand."""
    payload = event.get("payload") or {}
    if payload.get("changelog"):
        return str(payload["changelog"])
    tag = payload.get("tag")
    if not tag or root is None:
        return None
    try:
        message = GitRepo.open(root).git("tag", "--list", "--format=%(contents)", tag)
    except ShipyardError:
        return None
    _title, sep, section = message.partition("\n\n")
    return section.strip("\n") + "\n" if sep and section.strip() else None


def _built_by(built: Any, node: str, base: provenance.BuildInfo) -> provenance.BuildInfo:
    """The provenance of a file the pipeline built: the step that wrote it, its matrix, its
    input digests and when it ran, from that run's recorded step."""
    from dataclasses import replace
    from datetime import datetime, timedelta

    step = built.steps.get(node)
    if step is None:
        return base
    manifest = step["manifest"] or {}
    finished = datetime.fromisoformat(step["finished_at"].replace("Z", "+00:00"))
    started = finished - timedelta(seconds=float(step["duration_s"]))
    return replace(
        base,
        job=step["job"],
        matrix=dict(step["matrix"]),
        inputs=dict(manifest.get("inputs", {})),
        started_on=started.strftime("%Y-%m-%dT%H:%M:%SZ"),
        finished_on=finished.strftime("%Y-%m-%dT%H:%M:%SZ"),
    )
