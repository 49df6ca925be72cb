"""Blobs in S3-compatible object storage (AWS S3, MinIO, Ceph, R2...), through boto3.

``SHIPYARD_BLOBS=s3://BUCKET[/PREFIX]`` names where; each blob is the object
``PREFIX/SPACE/sha256/<hex>``. The endpoint, region and credentials are boto3's own settings
(``AWS_ENDPOINT_URL``, ``AWS_REGION``, ``AWS_ACCESS_KEY_ID``/``AWS_SECRET_ACCESS_KEY``, a
profile or an instance role); ``SHIPYARD_S3_ENDPOINT_URL`` overrides the endpoint for this
store alone. Uploads stream from a file (multipart above 8 MiB, as boto3's transfer manager
does), downloads stream the object's body in chunks; botocore's errors become
``blob-store-failed`` here, with the bucket named and the credentials never shown.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from shipyard.adapters.blobs.base import (
    CHUNK,
    check_digest,
    checked,
    missing,
    unreachable,
    write_chunks,
)
from shipyard.adapters.cas.digest import digest_bytes, digest_file
from shipyard.errors import InputError
from shipyard.ports.blobs import BlobInfo

_NOT_FOUND = ("404", "NoSuchKey", "NotFound")


def parse_url(url: str) -> tuple[str, str]:
    """``s3://bucket/prefix`` as (bucket, prefix)."""
    rest = url.removeprefix("s3://")
    bucket, _, prefix = rest.partition("/")
    if not url.startswith("s3://") or not bucket:
        raise InputError(
            f"SHIPYARD_BLOBS={url!r} is not an s3:// URL with a bucket",
            "use s3://BUCKET or s3://BUCKET/PREFIX",
            code="blob-store-invalid",
        )
    return bucket, prefix.strip("/")


class S3Blobs:
    def __init__(self, url: str, space: str, client: Any = None) -> None:
        self.bucket, prefix = parse_url(url)
        self.base = f"{prefix}/{space}" if prefix else space
        self.url = url
        self._client = client

    @property
    def client(self) -> Any:
        if self._client is None:
            import boto3

            endpoint = os.environ.get("SHIPYARD_S3_ENDPOINT_URL") or None
            self._client = boto3.client("s3", endpoint_url=endpoint)
        return self._client

    def _key(self, digest: str) -> str:
        return f"{self.base}/sha256/{check_digest(digest).removeprefix('sha256:')}"

    def _where(self) -> str:
        return f"s3://{self.bucket}/{self.base}"

    def _fail(self, exc: Exception) -> Exception:
        code = _error_code(exc)
        return unreachable(
            f"s3://{self.bucket}",
            f"{type(exc).__name__}{f' {code}' if code else ''}",
            "check the bucket, the endpoint (AWS_ENDPOINT_URL or SHIPYARD_S3_ENDPOINT_URL) "
            "and the credentials",
        )

    def has(self, digest: str) -> bool:
        from botocore.exceptions import BotoCoreError, ClientError

        try:
            self.client.head_object(Bucket=self.bucket, Key=self._key(digest))
        except ClientError as exc:
            if _error_code(exc) in _NOT_FOUND:
                return False
            raise self._fail(exc) from exc
        except BotoCoreError as exc:
            raise self._fail(exc) from exc
        return True

    def put_bytes(self, data: bytes) -> str:
        from botocore.exceptions import BotoCoreError, ClientError

        digest = digest_bytes(data)
        if not self.has(digest):
            try:
                self.client.put_object(Bucket=self.bucket, Key=self._key(digest), Body=data)
            except (BotoCoreError, ClientError) as exc:
                raise self._fail(exc) from exc
        return digest

    def put_file(self, src: Path) -> str:
        return self.put_file_sized(src)[0]

    def put_file_sized(self, src: Path | str) -> tuple[str, int]:
        from boto3.exceptions import S3UploadFailedError
        from botocore.exceptions import BotoCoreError, ClientError

        digest = digest_file(src)
        if not self.has(digest):
            try:
                # An object appears whole or not at all, so two writers of the same bytes
                # cannot leave half a blob.
                self.client.upload_file(str(src), self.bucket, self._key(digest))
            except (BotoCoreError, ClientError, S3UploadFailedError) as exc:
                raise self._fail(exc) from exc
        return digest, os.path.getsize(src)

    def chunks(self, digest: str, *, verify: bool = True) -> Iterator[bytes]:
        from botocore.exceptions import BotoCoreError, ClientError

        try:
            body = self.client.get_object(Bucket=self.bucket, Key=self._key(digest))["Body"]
        except ClientError as exc:
            if _error_code(exc) in _NOT_FOUND:
                raise missing(digest, self._where()) from exc
            raise self._fail(exc) from exc
        except BotoCoreError as exc:
            raise self._fail(exc) from exc
        read = self._read(body)
        return checked(digest, read, self._where()) if verify else read

    def _read(self, body: Any) -> Iterator[bytes]:
        from botocore.exceptions import BotoCoreError

        try:
            yield from body.iter_chunks(CHUNK)
        except BotoCoreError as exc:
            raise self._fail(exc) from exc
        finally:
            body.close()

    def get_bytes(self, digest: str, *, verify: bool = True) -> bytes:
        return b"".join(self.chunks(digest, verify=verify))

    def restore(self, digest: str, dest: Path, *, verify: bool = True) -> None:
        write_chunks(self.chunks(digest, verify=verify), dest)

    def blobs(self) -> Iterator[BlobInfo]:
        from botocore.exceptions import BotoCoreError, ClientError

        prefix = f"{self.base}/sha256/"
        try:
            pages = self.client.get_paginator("list_objects_v2").paginate(
                Bucket=self.bucket, Prefix=prefix
            )
            for page in pages:
                for obj in page.get("Contents", []):
                    digest = "sha256:" + obj["Key"].removeprefix(prefix)
                    yield BlobInfo(digest, int(obj["Size"]), obj["LastModified"].timestamp())
        except (BotoCoreError, ClientError) as exc:
            raise self._fail(exc) from exc

    def delete(self, digest: str) -> None:
        from botocore.exceptions import BotoCoreError, ClientError

        try:
            self.client.delete_object(Bucket=self.bucket, Key=self._key(digest))
        except (BotoCoreError, ClientError) as exc:
            raise self._fail(exc) from exc

    def close(self) -> None:
        pass


def _error_code(exc: Exception) -> str:
    response = getattr(exc, "response", None) or {}
    return str(response.get("Error", {}).get("Code", ""))
