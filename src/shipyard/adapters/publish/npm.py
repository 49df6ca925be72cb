"""The npm registry protocol as `npm publish` speaks it (libnpmpublish): a PUT of the package
document to ``{registry}/{name}`` (``@scope%2fname`` for a scoped package) with the version's
manifest, its ``dist`` (sha1 ``shasum``, sha512 ``integrity``, tarball URL) and the tarball
attached in base64; a bearer token (``Authorization: Bearer``), or Basic auth when a username
is configured. What the registry holds is read from the package document (GET, the same
path): the version's ``dist.integrity``.

Works with registry.npmjs.org, verdaccio, GitHub Packages and other npm registries. The
artifact is an `npm pack` tarball; its package.json decides the name, and its version must be
the release's.
"""

from __future__ import annotations

import base64
import hashlib
import json
import tarfile
from typing import Any

from shipyard.adapters.publish.http import Http, HttpPublisher, basic, token_hint
from shipyard.domain import publish as d
from shipyard.ports.publish import Credentials, Package, Pushed


class NpmPublisher(HttpPublisher):
    def __init__(self, target: Any, credentials: Credentials) -> None:
        self.label = target.label
        self.registry = target.url.rstrip("/")
        self.http = Http(self.label, target.url, credentials, target.timeout, token_hint(target))
        self.headers = {"npm-command": "publish", "Accept": "application/json"}
        if credentials.secret:
            self.headers["Authorization"] = (
                basic(credentials) if credentials.username else f"Bearer {credentials.secret}"
            )

    def _push(self, package: Package) -> Pushed:
        data = package.path.read_bytes()
        tarball = d.NpmTarball(
            manifest=_manifest(data, package.filename, self.label, package.version),
            shasum=hashlib.sha1(data, usedforsecurity=False).hexdigest(),
            integrity="sha512-" + base64.b64encode(hashlib.sha512(data).digest()).decode(),
            size=len(data),
        )
        url = f"{self.registry}/{tarball.name.replace('/', '%2f')}"
        what = f"{tarball.name}@{tarball.version}"
        location = f"{url}/-/{d.npm_tarball_name(tarball.name, tarball.version)}"
        if self._holds(what, self._held(url, tarball.version), tarball.integrity):
            return Pushed(location, tarball.integrity, already=True)
        doc = d.npm_publish_document(tarball, data, self.registry)
        resp = self.http.request(
            "PUT",
            url,
            content=json.dumps(doc).encode(),
            headers={**self.headers, "Content-Type": "application/json"},
        )
        # Published between the look and the PUT: same bytes is success.
        if resp.status_code == 409 and self._holds(
            what, self._held(url, tarball.version), tarball.integrity
        ):
            return Pushed(location, tarball.integrity, already=True)
        if resp.status_code >= 300:
            raise self.http.failed(resp, f"the publish of {what}")
        return Pushed(location, tarball.integrity, already=False)

    def _held(self, url: str, version: str) -> str | None:
        resp = self.http.request("GET", url, headers=self.headers)
        if not self.http.found(resp, f"the package document {url}"):
            return None
        try:
            packument = resp.json()
        except ValueError as exc:
            raise self.http.failed(resp, "a readable package document") from exc
        return d.npm_held(packument, version)


def _manifest(data: bytes, filename: str, target: str, version: str) -> dict[str, Any]:
    """``package/package.json`` of an `npm pack` tarball, checked against the release."""
    import io

    try:
        with tarfile.open(fileobj=io.BytesIO(data), mode="r:gz") as tf:
            f = tf.extractfile("package/package.json")
            manifest = json.loads(f.read()) if f is not None else None
    except (tarfile.TarError, KeyError, ValueError):
        manifest = None
    d.check_npm_manifest(manifest, version, target, filename)
    assert isinstance(manifest, dict)
    return manifest
