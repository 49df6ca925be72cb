"""Artifact registry use cases: publish (immutable), list, show, download, verify.

Bytes, provenance envelopes and SBOMs go into the blob store (``ports/blobs.py``: the local
disk, the database or S3, streamed); the registry row and its `artifact.published` event
commit in one transaction.
"""

from __future__ import annotations

import hashlib
import json
import mimetypes
import re
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any, Literal, TypedDict

from shipyard import __version__
from shipyard.adapters.cas.digest import digest_bytes, digest_file
from shipyard.domain import provenance
from shipyard.errors import Conflict, InputError, IntegrityFailure, NotFound
from shipyard.ports.blobs import BlobStore
from shipyard.services.releases.release_build import ArtifactFileMissing
from shipyard.store import artifacts as repo
from shipyard.store.append import utcnow
from shipyard.store.artifacts import ArtifactParts, ArtifactRow
from shipyard.store.uow import Store, UnitOfWork

NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,99}$")
VERSION_RE = re.compile(r"^[0-9A-Za-z][0-9A-Za-z.+_-]{0,99}$")
MEDIA_TYPES = {
    ".whl": "application/x-wheel+zip",
    ".zip": "application/zip",
    ".tgz": "application/gzip",
    ".gz": "application/gzip",
    ".jar": "application/java-archive",
}


class ArtifactImmutable(Conflict):
    code = "artifact-immutable"
    default_hint = "versions never change; release a new version with these bytes instead"


class ArtifactNotFound(NotFound):
    code = "artifact-not-found"
    default_hint = "list what is published with `shipyard artifacts list`"


class ArtifactRefInvalid(InputError):
    code = "artifact-ref-invalid"
    default_hint = "name an artifact as NAME@VERSION, e.g. checkout@1.4.0"


class ArtifactTampered(IntegrityFailure):
    code = "artifact-tampered"
    default_hint = (
        "do not deploy these bytes; compare with `shipyard audit log --kind artifact.published` "
        "and publish again from a clean build"
    )


def cas_of(store: Store) -> BlobStore:
    return store.blobs


def parse_ref(ref: str) -> tuple[str, str]:
    name, sep, version = ref.rpartition("@")
    if not sep or not NAME_RE.match(name) or not VERSION_RE.match(version):
        raise ArtifactRefInvalid(f"'{ref}' is not NAME@VERSION")
    return name, version


def check_name_version(name: str, version: str) -> None:
    if not NAME_RE.match(name):
        raise InputError(
            f"artifact name '{name}' is not valid",
            "use letters, digits, '.', '_' and '-', starting with a letter or digit",
            code="artifact-name-invalid",
        )
    if not VERSION_RE.match(version):
        raise InputError(
            f"version '{version}' is not valid",
            "use a semantic version such as 1.4.0 or 1.4.0-rc.1",
            code="artifact-version-invalid",
        )


def media_type_of(path: Path) -> str:
    """The media type from the file's name, if it is one artifacts may have (a page or an
    image a browser would render is stored as plain bytes: domain/inputs.py)."""
    from shipyard.domain.inputs import MEDIA_TYPES as ALLOWED

    guessed = MEDIA_TYPES.get(path.suffix) or mimetypes.guess_type(path.name)[0]
    return guessed if guessed in ALLOWED else "application/octet-stream"


# An artifact whose blobs are in the store, ready to be recorded.
Prepared = ArtifactParts


def prepare(
    store: Store,
    path: Path,
    name: str,
    version: str,
    build: provenance.BuildInfo,
    media_type: str | None = None,
    sbom_python: Path | None = None,
) -> Prepared:
    """Store the bytes, a signed provenance envelope and an SBOM; nothing is recorded yet.
    ``sbom_python`` is the interpreter of the environment a wheel's dependencies are resolved
    against (default: the project's .venv, else python3 on PATH)."""
    from shipyard.adapters.sbom import cyclonedx

    check_name_version(name, version)
    if not path.is_file():
        raise ArtifactFileMissing(f"{path} is not a file")
    cas = cas_of(store)
    media_type = media_type or media_type_of(path)
    digest = cas.put_file(path)
    size = path.stat().st_size
    signer = store.signer
    if not build.builder_version:
        build = provenance.BuildInfo(**{**build.__dict__, "builder_version": __version__})
    stmt = provenance.statement(path.name, digest, build)
    env = provenance.envelope(stmt, signer.key_id, signer.sign)
    prov = cas.put_bytes(json.dumps(env, indent=2).encode())
    sbom = cas.put_bytes(cyclonedx.build(path, name, version, digest, media_type, sbom_python))
    return {
        "name": name,
        "version": version,
        "digest": digest,
        "size": size,
        "media_type": media_type,
        "filename": path.name,
        "commit": build.commit,
        "run_id": build.run_id,
        "provenance_digest": prov,
        "sbom_digest": sbom,
    }


def record(
    store: Store, uow: UnitOfWork, project: str, p: Prepared, actor: str
) -> tuple[ArtifactRow, bool]:
    """Register inside the caller's transaction; (row, True) if new, (row, False) if the same
    bytes were already there. Other bytes under the same name@version are refused."""
    from shipyard.services.compliance.audit import ensure_project, register_key

    existing = repo.get(uow.conn, project, p["name"], p["version"])
    if existing is not None:
        _same_or_refuse(existing, p["digest"])
        return existing, False
    ensure_project(uow, project)
    register_key(store, uow, actor)  # so verification later finds the key that signed
    row: ArtifactRow = {"project": project, **p, "created_at": utcnow(), "created_by": actor}
    repo.insert(uow.conn, row)
    uow.events.append(
        "artifact.published",
        f"artifact:{p['name']}@{p['version']}",
        actor,
        {
            "digest": p["digest"],
            "size": p["size"],
            "media_type": p["media_type"],
            "commit": p["commit"],
            "run_id": p["run_id"],
            "provenance": p["provenance_digest"],
            "sbom": p["sbom_digest"],
            "key_id": store.signer.key_id,
        },
        project=project,
    )
    return row, True


def _same_or_refuse(existing: ArtifactRow, digest: str) -> None:
    if existing["digest"] != digest:
        ref = f"{existing['name']}@{existing['version']}"
        raise ArtifactImmutable(
            f"{ref} is already published with other bytes ({existing['digest']}, not {digest})",
            details={"artifact": ref, "published": existing["digest"], "offered": digest},
        )


def already_published(store: Store, project: str, name: str, version: str, path: Path) -> bool:
    """True if name@version holds exactly these bytes; refuses other bytes; False if new."""
    return published_with(store, project, name, version, digest_file(path))


def published_with(store: Store, project: str, name: str, version: str, digest: str) -> bool:
    """True if name@version holds the bytes of ``digest``; refuses other bytes; False if new."""
    with store.read() as uow:
        existing = repo.get(uow.conn, project, name, version)
    if existing is None:
        return False
    _same_or_refuse(existing, digest)
    return True


class ArtifactPublished(TypedDict):
    published: bool  # False: these bytes were published before
    artifact: ArtifactShown


def publish(
    store: Store,
    project: str,
    name: str,
    path: Path,
    version: str,
    build: provenance.BuildInfo,
    *,
    media_type: str | None = None,
    actor: str = "cli",
    sbom_python: Path | None = None,
) -> ArtifactPublished:
    from sqlalchemy.exc import IntegrityError

    check_name_version(name, version)
    if not path.is_file():
        raise ArtifactFileMissing(f"{path} is not a file")
    if already_published(store, project, name, version, path):
        return {"published": False, "artifact": show(store, project, f"{name}@{version}")}
    if build.run_id is not None:
        build = _from_run(store, project, path, build)
    prepared = prepare(store, path, name, version, build, media_type, sbom_python)
    try:
        with store.begin() as uow:
            _row, new = record(store, uow, project, prepared, actor)
    except IntegrityError:
        # Another publisher won the race: same bytes is fine, other bytes are refused.
        already_published(store, project, name, version, path)
        new = False
    return {"published": new, "artifact": show(store, project, f"{name}@{version}")}


def _from_run(
    store: Store, project: str, path: Path, build: provenance.BuildInfo
) -> provenance.BuildInfo:
    """A build that names a run must be one of its files: the run's commit and step fill in."""
    from dataclasses import replace

    from shipyard.services.releases import release_build as rb

    run_id = build.run_id or ""
    run = rb.load_run(store, int(run_id), project) if run_id.isdigit() else None
    if run is None:
        raise rb.ArtifactNotBuilt(
            f"run {build.run_id} is not a successful run of project {project}",
            "name a run listed by `shipyard runs`, or publish without --run-id",
            details={"run_id": build.run_id},
        )
    digest = digest_file(path)
    made = run.by_digest(digest)
    if made is None:
        raise rb.ArtifactNotBuilt(
            f"{path.name} ({digest}) is not a file run {build.run_id} produced",
            "publish the file the run wrote (`shipyard runs show RUN`), or run `shipyard run`",
            details={"run_id": build.run_id, "digest": digest},
        )
    return replace(
        build,
        commit=build.commit or run.commit or None,
        job=made.job if build.job == "manual" else build.job,
    )


def _get(uow: UnitOfWork, project: str, ref: str) -> ArtifactRow:
    name, version = parse_ref(ref)
    row = repo.get(uow.conn, project, name, version)
    if row is None:
        raise ArtifactNotFound(f"artifact {name}@{version} is not published in {project}")
    return row


def row(store: Store, project: str, ref: str) -> ArtifactRow:
    """The registry row of ``NAME@VERSION`` (``artifact-not-found`` if there is none)."""
    with store.read() as uow:
        return _get(uow, project, ref)


def _public(row: ArtifactRow) -> ArtifactRow:
    return row.copy()


class ArtifactList(TypedDict):
    artifacts: list[ArtifactRow]


def list_artifacts(store: Store, project: str, name: str | None = None) -> ArtifactList:
    with store.read() as uow:
        rows = repo.list_(uow.conn, project, name)
    return {"artifacts": [_public(r) for r in rows]}


class ProvenanceSummary(TypedDict):
    """The SLSA provenance statement's type and predicate, without its subject."""

    predicateType: str
    buildDefinition: dict[str, Any]
    runDetails: dict[str, Any]


class SbomSummary(TypedDict):
    specVersion: str
    components: int  # how many


class ArtifactShown(ArtifactRow):
    """`shipyard artifacts show`: the row, where it was pushed, its provenance and SBOM."""

    pushes: list[dict[str, Any]]  # the artifact.pushed events' payloads, each with its "at"
    provenance: ProvenanceSummary | None  # None: unreadable (`verify` says why)
    sbom: SbomSummary | None


def show(store: Store, project: str, ref: str) -> ArtifactShown:
    with store.read() as uow:
        row = _get(uow, project, ref)
        pushed = uow.events.query(
            project=project,
            kind="artifact.pushed",
            subject=f"artifact:{row['name']}@{row['version']}",
        )
    prov: ProvenanceSummary | None
    sbom: SbomSummary | None
    try:
        stmt = provenance.read_statement(cas_of(store).get_bytes(row["provenance_digest"]))
        prov = {
            "predicateType": stmt["predicateType"],
            "buildDefinition": stmt["predicate"]["buildDefinition"],
            "runDetails": stmt["predicate"]["runDetails"],
        }
        doc = json.loads(cas_of(store).get_bytes(row["sbom_digest"]))
        sbom = {
            "specVersion": doc["specVersion"],
            "components": len(doc.get("components", [])),
        }
    except (ValueError, KeyError, NotFound, IntegrityFailure):
        prov = sbom = None  # `verify` says what is wrong
    return {
        **_public(row),
        # Where it was pushed (release.publish), from the artifact.pushed events.
        "pushes": [{**e.payload, "at": e.ts} for e in pushed],
        "provenance": prov,
        "sbom": sbom,
    }


PARTS: dict[str, Literal["digest", "provenance_digest", "sbom_digest"]] = {
    "content": "digest",
    "provenance": "provenance_digest",
    "sbom": "sbom_digest",
}


def blob(store: Store, project: str, ref: str, part: str) -> tuple[bytes, ArtifactRow]:
    """The artifact's provenance envelope or SBOM (or small bytes), checked against its digest."""
    chunks, row = stream(store, project, ref, part)
    return b"".join(chunks), row


def stream(store: Store, project: str, ref: str, part: str) -> tuple[Iterator[bytes], ArtifactRow]:
    """The artifact's bytes, provenance envelope or SBOM in chunks, checked against its digest
    on the way (``blob-corrupt`` after the last chunk if they do not match); ``blob-missing``
    is raised here, before any chunk."""
    with store.read() as uow:
        row = _get(uow, project, ref)
    return cas_of(store).chunks(row[PARTS[part]]), row


class ArtifactDownloaded(TypedDict):
    path: str
    digest: str
    size: int


def download(store: Store, project: str, ref: str, dest: Path) -> ArtifactDownloaded:
    with store.read() as uow:
        row = _get(uow, project, ref)
    from shipyard.domain.filenames import safe_basename

    name = safe_basename(row["filename"], f"{row['name']}-{row['version']}")
    target = dest / name if dest.is_dir() else dest
    cas_of(store).restore(row["digest"], target, verify=True)
    return {"path": str(target), "digest": row["digest"], "size": row["size"]}


class ArtifactVerified(TypedDict):
    """`shipyard artifacts verify`: each check of the bytes, envelope, SBOM and record."""

    ok: bool
    artifact: str  # NAME@VERSION
    digest: str
    checks: list[provenance.CheckOut]


def verify(store: Store, project: str, ref: str) -> ArtifactVerified:
    """Digest of the bytes, signature of the envelope, subject = the bytes, SBOM digest; and
    the registry row against the ``artifact.published`` event that recorded it, included in
    the log's signed tree head, signed by a key trusted from outside the database
    (adapters/trust.py: SHIPYARD_TRUSTED_KEYS, or the configured signing key), the same keys
    `shipyard audit verify` trusts."""
    from sqlalchemy import select

    from shipyard.adapters import signing
    from shipyard.adapters.trust import load as trusted_keys
    from shipyard.domain import registry
    from shipyard.store.schema import signing_keys

    cas = cas_of(store)
    with store.read() as uow:
        row = _get(uow, project, ref)
        stored = {
            k: bytes(pk)
            for k, pk in uow.conn.execute(select(signing_keys.c.key_id, signing_keys.c.public_key))
        }
        keys = trusted_keys(store).by_key_id()
        recorded = _recorded(store, uow, project, row, keys)
    checks: list[provenance.Check] = registry.check_row(row, recorded)
    actual = _stored_digest(cas, row["digest"])
    if actual is None:
        checks.append(provenance.Check("digest", False, f"blob {row['digest']} is missing"))
    else:
        checks.append(
            provenance.Check(
                "digest",
                actual == row["digest"],
                f"bytes hash to {actual}"
                + ("" if actual == row["digest"] else f", registered {row['digest']}"),
            )
        )
    raw = _stored(cas, row["provenance_digest"])
    env_digest = None if raw is None else digest_bytes(raw)
    checks.append(
        provenance.Check(
            "provenance-digest",
            env_digest == row["provenance_digest"],
            "envelope unchanged" if env_digest == row["provenance_digest"] else "envelope changed",
        )
    )
    if raw is not None:

        def verify_sig(keyid: str, message: bytes, sig: bytes) -> bool:
            return keyid in keys and signing.verify(keys[keyid], message, sig)

        checks += provenance.check_envelope(raw, verify_sig, actual or row["digest"])
        recorded_key = recorded.payload.get("key_id") if recorded is not None else None
        checks += registry.check_keys(_signers(raw), recorded_key, keys, stored)
    sbom_digest = _stored_digest(cas, row["sbom_digest"])
    checks.append(
        provenance.Check(
            "sbom-digest",
            sbom_digest == row["sbom_digest"],
            "SBOM unchanged" if sbom_digest == row["sbom_digest"] else "SBOM missing or changed",
        )
    )
    ok = all(c.ok for c in checks)
    return {
        "ok": ok,
        "artifact": f"{row['name']}@{row['version']}",
        "digest": row["digest"],
        "checks": [c.to_dict() for c in checks],
    }


def _signers(envelope: bytes) -> list[str]:
    try:
        sigs = json.loads(envelope).get("signatures", [])
        return [str(s.get("keyid", "")) for s in sigs if isinstance(s, dict)]
    except (ValueError, AttributeError):
        return []  # check_envelope already says it is not an envelope


def _recorded(
    store: Store, uow: UnitOfWork, project: str, row: ArtifactRow, keys: dict[str, bytes]
) -> Any:
    """The artifact's ``artifact.published`` event, whether its content still hashes to its
    leaf, and the signed tree head its inclusion proof verifies against (or the current head,
    when no checkpoint covers it yet and the head carries the signing key's seal)."""
    from sqlalchemy import select

    from shipyard.adapters import signing
    from shipyard.adapters.trust import origin
    from shipyard.domain import canonical, merkle, registry
    from shipyard.store import seal
    from shipyard.store.schema import events

    subject = f"artifact:{row['name']}@{row['version']}"
    found = uow.events.query(project=project, kind="artifact.published", subject=subject)
    if not found:
        return None
    e = found[0]  # immutable: the first publish is the record
    c = events.c
    raw = uow.conn.execute(
        select(c.seq, c.ts, c.project, c.kind, c.subject, c.actor, c.payload, c.leaf_hash).where(
            c.seq == e.seq
        )
    ).one()
    leaf = merkle.leaf_hash(canonical.event_bytes(*raw[:7]))
    leaf_ok = leaf == bytes(raw.leaf_hash)
    size, head_root = uow.events.head()
    heads = [
        (n, root)
        for n, root, _ts, key, sig in uow.events.checkpoints()
        if n > e.seq
        and key in keys
        and signing.verify(keys[key], canonical.checkpoint_body(origin(), n, root), sig)
    ]
    seal_key = seal.seal_key(store.home, create=False)
    sealed = seal_key is not None and seal.holds(seal_key, size, head_root, uow.events.head_seal())
    proved_to = None
    head_only = False
    if leaf_ok:
        n, root = max(heads) if heads else (size, head_root)
        leaves = uow.events.leaves(n)
        ok = merkle.verify_inclusion(leaf, e.seq, n, merkle.inclusion_proof(leaves, e.seq, n), root)
        if ok and heads:
            proved_to = n
        head_only = ok and not heads and sealed
    return registry.Recorded(e.seq, e.payload, leaf_ok, proved_to, head_only)


def verify_or_raise(store: Store, project: str, ref: str) -> ArtifactVerified:
    result = verify(store, project, ref)
    if not result["ok"]:
        raise tampered(result)
    return result


def tampered(result: Mapping[str, Any]) -> ArtifactTampered:
    failed = [c for c in result["checks"] if not c["ok"]]
    what = "; ".join(f"{c['name']}: {c['detail']}" for c in failed)
    return ArtifactTampered(f"{result['artifact']} failed verification: {what}", details=result)


def _stored_digest(blobs: BlobStore, digest: str) -> str | None:
    """What the stored bytes named ``digest`` hash to, streamed; None when they are missing."""
    h = hashlib.sha256()
    try:
        for chunk in blobs.chunks(digest, verify=False):
            h.update(chunk)
    except NotFound:
        return None
    return "sha256:" + h.hexdigest()


def _stored(blobs: BlobStore, digest: str) -> bytes | None:
    """A small blob's bytes as stored, unchecked (``verify`` says what is wrong); None when
    missing."""
    try:
        return blobs.get_bytes(digest, verify=False)
    except NotFound:
        return None
