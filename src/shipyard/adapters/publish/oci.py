"""An OCI registry, by the OCI distribution spec: the file and the empty config pushed as blobs
(``HEAD /v2/<repo>/blobs/<digest>`` first; else ``POST /v2/<repo>/blobs/uploads/`` and a
monolithic ``PUT <location>?digest=``), then the manifest ``PUT /v2/<repo>/manifests/<tag>``,
an image manifest with ``artifactType`` (image-spec 1.1's artifact guidance, as ORAS pushes
files). The tag is the version (``+`` becomes ``_``). What the registry holds is the
manifest under the tag (``GET``), compared by its one layer's digest.

Authentication follows the registry's challenge (``WWW-Authenticate``): ``Basic`` sends the
username and token; ``Bearer realm=...`` fetches a token from the realm for
``repository:<repo>:pull,push`` with them (Docker Hub, ghcr.io, GitLab) and sends it.
"""

from __future__ import annotations

import hashlib
import re
from typing import Any
from urllib.parse import urljoin, urlsplit

import httpx

from shipyard.adapters.publish.http import Http, HttpPublisher, basic
from shipyard.domain import publish as d
from shipyard.ports.publish import Credentials, Package, Pushed

ACCEPT = f"{d.OCI_MANIFEST}, application/vnd.docker.distribution.manifest.v2+json"


class OciPublisher(HttpPublisher):
    def __init__(self, target: Any, credentials: Credentials) -> None:
        self.label = target.label
        self.base = target.url.rstrip("/")
        self.repo = target.repository
        self.credentials = credentials
        secret = (
            f"the username and the token in ${target.token_env}"
            if target.token_env
            else "the target's username and token_env"
        )
        self.http = Http(self.label, target.url, credentials, target.timeout, secret)
        self.auth: str | None = None  # the Authorization header once a challenge is met

    def _push(self, package: Package) -> Pushed:
        tag = d.oci_tag(package.version)
        host = urlsplit(self.base).netloc
        location = f"{host}/{self.repo}:{tag}"
        manifest_url = f"{self.base}/v2/{self.repo}/manifests/{tag}"
        what = f"{self.repo}:{tag}"
        held, held_digest = self._held(manifest_url)
        if self._holds(what, held, package.digest):
            return Pushed(location, held_digest, already=True)
        self._blob(package.digest, package.size, lambda: package.path.open("rb"))
        self._blob(d.OCI_EMPTY_DIGEST, 2, lambda: _Bytes(d.OCI_EMPTY_DATA))
        manifest = d.oci_manifest(
            digest=package.digest,
            size=package.size,
            media_type=package.media_type,
            filename=package.filename,
            name=package.name,
            version=package.version,
        )
        resp = self._send(
            "PUT", manifest_url, content=manifest, headers={"Content-Type": d.OCI_MANIFEST}
        )
        if resp.status_code >= 300:
            raise self.http.failed(resp, f"the manifest of {what}")
        digest = "sha256:" + hashlib.sha256(manifest).hexdigest()
        return Pushed(location, resp.headers.get("Docker-Content-Digest", digest), already=False)

    def _held(self, url: str) -> tuple[str | None, str]:
        resp = self._send("GET", url, headers={"Accept": ACCEPT})
        if not self.http.found(resp, f"the manifest {url}"):
            return None, ""
        try:
            manifest = resp.json()
        except ValueError as exc:
            raise self.http.failed(resp, "a readable manifest") from exc
        digest = "sha256:" + hashlib.sha256(resp.content).hexdigest()
        return d.oci_held(manifest), resp.headers.get("Docker-Content-Digest", digest)

    def _blob(self, digest: str, size: int, opener: Any) -> None:
        blobs = f"{self.base}/v2/{self.repo}/blobs/"
        if self._send("HEAD", blobs + digest).status_code == 200:
            return  # the registry has these bytes (cross-mounting is the registry's affair)
        start = self._send("POST", blobs + "uploads/")
        if start.status_code != 202 or "Location" not in start.headers:
            raise self.http.failed(start, f"an upload of {digest}")
        where = urljoin(self.base + "/", start.headers["Location"])
        where += ("&" if "?" in where else "?") + f"digest={digest}"
        with opener() as f:
            resp = self._send(
                "PUT",
                where,
                content=_chunks(f),
                headers={"Content-Type": "application/octet-stream", "Content-Length": str(size)},
            )
        if resp.status_code != 201:
            raise self.http.failed(resp, f"the blob {digest}")

    def _send(self, method: str, url: str, **kw: Any) -> httpx.Response:
        """A request, answering the registry's first 401 challenge and sending again (a body
        given as a stream is only sent once the challenge is met, by a HEAD before it)."""
        headers = dict(kw.pop("headers", {}) or {})
        if self.auth:
            headers["Authorization"] = self.auth
        streamed = "content" in kw and not isinstance(kw["content"], bytes)
        if streamed and self.auth is None:
            probe = self._raw("HEAD", f"{self.base}/v2/", headers=headers)
            if probe.status_code == 401 and self._answer(probe):
                headers["Authorization"] = self.auth or ""
        resp = self._raw(method, url, headers=headers, **kw)
        if resp.status_code == 401 and self.auth is None and self._answer(resp):
            headers["Authorization"] = self.auth or ""
            resp = self._raw(method, url, headers=headers, **kw)
        if resp.status_code in (401, 403):
            raise self.http.unauthorized(resp)
        return resp

    def _raw(self, method: str, url: str, **kw: Any) -> httpx.Response:
        return self.http.request(method, url, challenge=True, **kw)

    def _answer(self, resp: httpx.Response) -> bool:
        """Set ``self.auth`` from a 401's challenge; False when there is nothing to send."""
        if not self.credentials.secret:
            return False
        challenge = resp.headers.get("WWW-Authenticate", "")
        scheme, _, rest = challenge.partition(" ")
        if scheme.lower() == "basic":
            self.auth = basic(self.credentials)
            return True
        if scheme.lower() == "bearer":
            params = dict(re.findall(r'(\w+)="([^"]*)"', rest))
            realm = params.get("realm")
            if not realm:
                return False
            query = {"scope": f"repository:{self.repo}:pull,push"}
            if "service" in params:
                query["service"] = params["service"]
            got = self.http.request(
                "GET", realm, params=query, headers={"Authorization": basic(self.credentials)}
            )
            if got.status_code != 200:
                raise self.http.failed(got, "a token")
            body = got.json()
            token = body.get("token") or body.get("access_token")
            if not token:
                raise self.http.failed(got, "a token (the answer had none)")
            self.auth = f"Bearer {token}"
            return True
        return False


def _chunks(f: Any, size: int = 1 << 20) -> Any:
    while chunk := f.read(size):
        yield chunk


class _Bytes:
    """Small bytes with the file interface ``_blob`` reads from."""

    def __init__(self, data: bytes) -> None:
        import io

        self._f = io.BytesIO(data)

    def __enter__(self) -> Any:
        return self._f

    def __exit__(self, *exc: object) -> None:
        self._f.close()
