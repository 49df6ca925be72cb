"""PyPI's legacy upload API, as twine speaks it: a multipart POST to the repository URL with
``:action=file_upload``, ``protocol_version=1``, the distribution's core metadata fields and
its digests, and the file as ``content``; HTTP Basic auth (``__token__`` and an API token
on pypi.org). What the index already holds is read from its PEP 503 simple page, whose links
carry ``#sha256=``.

Works with pypi.org (url ``https://upload.pypi.org/legacy/``), TestPyPI, pypiserver, devpi
and other indexes that implement the legacy API.
"""

from __future__ import annotations

import hashlib
import tarfile
import zipfile
from email.message import Message
from email.parser import HeaderParser
from typing import Any
from urllib.parse import urljoin, urlsplit

from shipyard.adapters.publish.http import Http, HttpPublisher, token_hint
from shipyard.domain import publish as d
from shipyard.ports.publish import Credentials, Package, Pushed

# Core metadata field -> upload form field (warehouse's forms and twine's package.py).
_SINGLE = {
    "Metadata-Version": "metadata_version",
    "Name": "name",
    "Version": "version",
    "Summary": "summary",
    "Home-page": "home_page",
    "Author": "author",
    "Author-email": "author_email",
    "Maintainer": "maintainer",
    "Maintainer-email": "maintainer_email",
    "License": "license",
    "License-Expression": "license_expression",
    "Keywords": "keywords",
    "Platform": "platform",
    "Requires-Python": "requires_python",
    "Description-Content-Type": "description_content_type",
}
_MULTI = {
    "Classifier": "classifiers",
    "Requires-Dist": "requires_dist",
    "Provides-Extra": "provides_extra",
    "Project-URL": "project_urls",
    "License-File": "license_file",
    "Requires-External": "requires_external",
    "Provides-Dist": "provides_dist",
    "Obsoletes-Dist": "obsoletes_dist",
    "Dynamic": "dynamic",
}


def default_index(upload_url: str) -> str:
    """Where the simple index of an upload URL lives: pypi.org's and TestPyPI's by name, else
    ``simple/`` beside the upload path (pypiserver, devpi)."""
    parts = urlsplit(upload_url)
    if parts.hostname == "upload.pypi.org":
        return "https://pypi.org/simple/"
    if parts.hostname == "test.pypi.org":
        return "https://test.pypi.org/simple/"
    base = upload_url if upload_url.endswith("/") else upload_url + "/"
    base = base.removesuffix("legacy/")
    return urljoin(base, "simple/")


class PypiPublisher(HttpPublisher):
    def __init__(self, target: Any, credentials: Credentials) -> None:
        self.label = target.label
        self.upload_url = target.url
        self.index_url = target.index_url or default_index(target.url)
        if not self.index_url.endswith("/"):
            self.index_url += "/"
        creds = Credentials(credentials.username or "__token__", credentials.secret)
        self.auth = (creds.username or "", creds.secret) if creds.secret else None
        self.http = Http(
            self.label,
            target.url,
            creds,
            target.timeout,
            token_hint(target),
        )

    def _push(self, package: Package) -> Pushed:
        pkg = d.python_package(package.filename, package.version, self.label)
        page = f"{self.index_url}{d.project_name(pkg.name)}/"
        what = f"{package.filename}"
        if self._holds(what, self._held(page, package.filename), package.digest):
            return Pushed(page, package.digest, already=True)
        resp = self._upload(package, pkg)
        # Someone uploaded it between the look and the upload: same bytes is success.
        raced = resp.status_code in (400, 409) and "exist" in resp.text.lower()
        if raced and self._holds(what, self._held(page, package.filename), package.digest):
            return Pushed(page, package.digest, already=True)
        if resp.status_code >= 300:
            raise self.http.failed(resp, f"the upload of {package.filename}")
        return Pushed(page, package.digest, already=False)

    def _held(self, page: str, filename: str) -> str | None:
        resp = self.http.request("GET", page, auth=self.auth)
        if not self.http.found(resp, f"the index page {page}"):
            return None
        link = d.simple_index_link(resp.text, filename)
        if link is None:
            return None
        href, digest = link
        return digest or self._hash_of(urljoin(page, href))

    def _hash_of(self, url: str) -> str:
        """The sha256 of a listed file whose link carries no digest, by downloading it."""
        h = hashlib.sha256()
        with self.http.client.stream("GET", url, auth=self.auth) as resp:
            if resp.status_code >= 300:
                raise self.http.failed(resp, f"the download of {url}")
            for chunk in resp.iter_bytes():
                h.update(chunk)
        return "sha256:" + h.hexdigest()

    def _upload(self, package: Package, pkg: d.PythonPackage) -> Any:
        data = package.path.read_bytes()
        meta = _metadata(package, pkg)
        fields: dict[str, Any] = {
            ":action": "file_upload",
            "protocol_version": "1",
            "filetype": pkg.filetype,
            "pyversion": pkg.pyversion,
            "md5_digest": hashlib.md5(data, usedforsecurity=False).hexdigest(),
            "sha256_digest": hashlib.sha256(data).hexdigest(),
            "blake2_256_digest": hashlib.blake2b(data, digest_size=32).hexdigest(),
        }
        for header, field in _SINGLE.items():
            if meta.get(header) is not None:
                fields[field] = str(meta[header])
        for header, field in _MULTI.items():
            values = meta.get_all(header) or []
            if values:
                fields[field] = [str(v) for v in values]
        body = meta.get_payload()
        if isinstance(body, str) and body.strip():
            fields["description"] = body
        elif meta.get("Description"):
            fields["description"] = str(meta["Description"])
        files = {"content": (package.filename, data, "application/octet-stream")}
        return self.http.request("POST", self.upload_url, data=fields, files=files, auth=self.auth)


def _metadata(package: Package, pkg: d.PythonPackage) -> Message:
    """The distribution's core metadata: a wheel's ``*.dist-info/METADATA``, an sdist's
    top-level ``PKG-INFO``."""
    try:
        if pkg.filetype == "bdist_wheel":
            with zipfile.ZipFile(package.path) as zf:
                name = next(
                    n
                    for n in zf.namelist()
                    if n.count("/") == 1 and n.endswith(".dist-info/METADATA")
                )
                text = zf.read(name).decode()
        else:
            with tarfile.open(package.path, "r:gz") as tf:
                member = next(
                    m
                    for m in tf.getmembers()
                    if m.name.count("/") == 1 and m.name.endswith("/PKG-INFO")
                )
                f = tf.extractfile(member)
                assert f is not None
                text = f.read().decode()
    except (zipfile.BadZipFile, tarfile.TarError, StopIteration, UnicodeDecodeError) as exc:
        raise d.PublishUnsupported(
            f"{package.filename} has no readable core metadata (METADATA or PKG-INFO)",
            "build it with `python -m build`",
            details={"file": package.filename},
        ) from exc
    return HeaderParser().parsestr(text)
