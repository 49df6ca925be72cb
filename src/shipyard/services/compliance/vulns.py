"""The offline OSV snapshot: import OSV JSON records, scan an artifact's SBOM against them."""

from __future__ import annotations

import hashlib
import json
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any, TypedDict

from sqlalchemy import delete, select

from shipyard.domain import vulnerabilities as osv
from shipyard.errors import InputError, NotFound
from shipyard.services.coordination.coordination import SYSTEM_PROJECT
from shipyard.store.release import osv_records
from shipyard.store.uow import Store, UnitOfWork


def _documents(path: Path) -> Iterator[tuple[str, bytes]]:
    """(name, bytes) of each JSON document in a file, a folder or an OSV ``all.zip``."""
    if path.is_dir():
        for f in sorted(path.rglob("*.json")):
            yield str(f.relative_to(path)), f.read_bytes()
    elif path.suffix == ".zip" and path.is_file():  # a missing zip is reported below
        try:
            with zipfile.ZipFile(path) as zf:
                for name in sorted(zf.namelist()):
                    if name.endswith(".json"):
                        yield name, zf.read(name)
        except zipfile.BadZipFile as exc:
            raise InputError(
                f"{path.name} is not a zip file", "", code="osv-source-invalid"
            ) from exc
    elif path.is_file():
        yield path.name, path.read_bytes()
    else:
        raise NotFound(
            f"{path} does not exist",
            "pass an OSV JSON file, a folder or all.zip",
            code="osv-source-not-found",
        )


class RecordSkipped(TypedDict):
    id: str  # the record's, or the file's name when it has none
    reason: str


class VulnsImported(TypedDict):
    """`shipyard vulns import`: how many records were kept, which were not, and the
    snapshot of the advisories now held."""

    imported: int
    skipped: list[RecordSkipped]
    snapshot_id: str


def import_records(store: Store, path: Path, actor: str) -> VulnsImported:
    """Upsert every well-formed record; report malformed ones instead of failing the import."""
    records: dict[str, tuple[str, str]] = {}
    skipped: list[RecordSkipped] = []
    for name, data in _documents(path):
        try:
            doc = json.loads(data)
        except (ValueError, UnicodeDecodeError) as exc:
            skipped.append({"id": name, "reason": f"not JSON: {exc}"})
            continue
        for raw in doc if isinstance(doc, list) else [doc]:
            try:
                record = osv.parse_record(raw)
            except osv.OsvRecordInvalid as exc:
                rid = raw.get("id") if isinstance(raw, dict) else None
                skipped.append({"id": str(rid or name), "reason": exc.message})
                continue
            records[record.id] = (record.modified or "", json.dumps(raw, sort_keys=True))
    with store.begin() as uow:
        if records:
            uow.conn.execute(delete(osv_records).where(osv_records.c.id.in_(list(records))))
            uow.conn.execute(
                osv_records.insert(),
                [{"id": k, "modified": m, "body": b} for k, (m, b) in records.items()],
            )
        snap = _snapshot(uow)
        uow.events.append(
            "vulns.imported",
            f"osv:{snap}",
            actor,
            {
                "source": path.name,
                "imported": len(records),
                "skipped": len(skipped),
                "snapshot_id": snap,
            },
            project=SYSTEM_PROJECT,
        )
    return {"imported": len(records), "skipped": skipped, "snapshot_id": snap}


def _snapshot(uow: UnitOfWork) -> str:
    """Names the database content, so a verdict says which advisories it was judged by."""
    h = hashlib.sha256()
    for rid, modified in uow.conn.execute(
        select(osv_records.c.id, osv_records.c.modified).order_by(osv_records.c.id)
    ):
        h.update(f"{rid}\0{modified}\n".encode())
    return "osv-" + h.hexdigest()[:16]


def load(uow: UnitOfWork) -> tuple[osv.OsvIndex, str, int]:
    bodies = uow.conn.execute(select(osv_records.c.body)).scalars().all()
    return osv.OsvIndex.build(json.loads(b) for b in bodies), _snapshot(uow), len(bodies)


def components_from_sbom(doc: Any) -> list[osv.Component]:
    """Components of a CycloneDX or SPDX JSON document, or of a plain list of purls."""
    purls: list[str] = []
    items: list[Any] = []
    if isinstance(doc, list):
        items = doc
    elif isinstance(doc, dict) and "components" in doc:  # CycloneDX
        items = doc.get("components") or []
    elif isinstance(doc, dict) and "packages" in doc:  # SPDX
        for pkg in doc.get("packages") or []:
            for ref in pkg.get("externalRefs") or []:
                if ref.get("referenceType") == "purl":
                    purls.append(str(ref.get("referenceLocator")))
    out: list[osv.Component] = []
    for item in items:
        if isinstance(item, str):
            purls.append(item)
        elif isinstance(item, dict) and item.get("purl"):
            purls.append(str(item["purl"]))
        elif isinstance(item, dict) and {"ecosystem", "name", "version"} <= set(item):
            out.append(
                osv.Component(str(item["ecosystem"]), str(item["name"]), str(item["version"]))
            )
    for purl in purls:
        try:
            out.append(osv.Component.from_purl(purl))
        except InputError:
            continue  # not a package we can match (e.g. a file); the scan covers the rest
    return out
