"""Blob store backends (``ports/blobs.py``): ``disk``, ``postgres`` (the database the store
already uses) and ``s3://BUCKET[/PREFIX]``, chosen by ``SHIPYARD_BLOBS``.

Spaces keep kinds of blobs apart: ``artifacts`` (bytes, provenance, SBOMs) and ``pipeline``
(the build cache's outputs and logs). On disk they are ``.shipyard/cas/`` and
``.shipyard/cas/pipeline/`` as they always were.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from shipyard.errors import InputError

if TYPE_CHECKING:
    from shipyard.adapters.blobs.tiered import Tiered
    from shipyard.adapters.cas.disk import DiskCAS
    from shipyard.ports.blobs import BlobStore
    from shipyard.store.uow import Store

KINDS = ("disk", "postgres", "s3://BUCKET[/PREFIX]")
PACK_BELOW = 64 * 1024  # pipeline outputs and logs smaller than this go to packs (DiskCAS)


def check_kind(kind: str) -> str:
    if kind in ("disk", "postgres") or kind.startswith("s3://"):
        if kind.startswith("s3://"):
            from shipyard.adapters.blobs.s3 import parse_url

            parse_url(kind)
        return kind
    raise InputError(
        f"SHIPYARD_BLOBS={kind!r} names no blob store",
        f"use one of {', '.join(KINDS)}",
        code="blob-store-invalid",
    )


def open_blobs(store: Store, space: str) -> BlobStore:
    """The store's blobs of ``space`` in its configured backend."""
    kind = check_kind(store.pipeline_blobs_url if space == "pipeline" else store.blobs_url)
    if kind == "disk":
        from shipyard.adapters.blobs.disk import DiskBlobs

        root = store.home / "cas"
        return DiskBlobs(root if space == "artifacts" else root / space)
    if kind == "postgres":
        from shipyard.adapters.blobs.postgres import DatabaseBlobs

        return DatabaseBlobs(store.engine, space)
    from shipyard.adapters.blobs.s3 import S3Blobs

    return S3Blobs(kind, space)


def pipeline_cas(store: Store) -> DiskCAS | Tiered:
    """The pipeline cache: the local disk, and behind it the shared store when there is one."""
    from shipyard.adapters.cas.disk import DiskCAS

    local = DiskCAS(store.home / "cas" / "pipeline", pack_below=PACK_BELOW)
    if store.pipeline_blobs_url == "disk":
        return local
    from shipyard.adapters.blobs.tiered import Tiered

    return Tiered(local, open_blobs(store, "pipeline"))
