"""Pure publishing decisions: idempotence, package identity and the documents each registry
protocol takes."""

from __future__ import annotations

import json

import pytest

from shipyard.domain import publish as d
from shipyard.errors import ShipyardError


@pytest.mark.parametrize(
    ("held", "ours", "expected"),
    [(None, "sha256:a", "push"), ("sha256:a", "sha256:a", "already")],
)
def test_decide(held: str | None, ours: str, expected: str) -> None:
    """Nothing there is a push; the same bytes there is already done."""
    assert d.decide("pypi", "shop-1.0.0.whl", held, ours) == expected


def test_decide_refuses_other_bytes() -> None:
    """Other bytes under the version are publish-conflict, naming the target and both digests."""
    with pytest.raises(ShipyardError) as info:
        d.decide("pypi", "shop-1.0.0.whl", "sha256:b", "sha256:a")
    assert info.value.code == "publish-conflict" and info.value.exit_code == 7
    assert "pypi" in info.value.message and "sha256:b" in info.value.message


@pytest.mark.parametrize(
    ("filename", "release", "expected"),
    [
        ("shop-1.5.0-py3-none-any.whl", "1.5.0", ("shop", "1.5.0", "bdist_wheel", "py3")),
        (
            "shop-1.5.0rc1-py3-none-any.whl",
            "1.5.0-rc.1",
            ("shop", "1.5.0rc1", "bdist_wheel", "py3"),
        ),
        ("shop-1.5.0.tar.gz", "1.5.0", ("shop", "1.5.0", "sdist", "source")),
        (
            "my_shop-2.0.0-cp311-cp311-linux_x86_64.whl",
            "2.0.0",
            ("my-shop", "2.0.0", "bdist_wheel", "cp311"),
        ),
    ],
)
def test_python_package(filename: str, release: str, expected: tuple[str, ...]) -> None:
    """A wheel or sdist name gives the upload's name, version, filetype and pyversion."""
    pkg = d.python_package(filename, release, "pypi")
    assert (pkg.name, pkg.version, pkg.filetype, pkg.pyversion) == expected


@pytest.mark.parametrize(
    ("filename", "release", "code"),
    [
        ("shop-1.4.2-py3-none-any.whl", "1.5.0", "publish-version-mismatch"),
        ("shop.zip", "1.5.0", "publish-unsupported"),
        ("shop-x-y.whl", "1.5.0", "publish-unsupported"),
    ],
)
def test_python_package_refuses(filename: str, release: str, code: str) -> None:
    """Another version than the release's, or a file that is no wheel or sdist, is refused."""
    with pytest.raises(ShipyardError) as info:
        d.python_package(filename, release, "pypi")
    assert info.value.code == code


@pytest.mark.parametrize(
    ("html", "expected"),
    [
        (
            '<a href="/packages/shop-1.0.0.tar.gz#sha256=' + "a" * 64 + '">shop-1.0.0.tar.gz</a>',
            ("/packages/shop-1.0.0.tar.gz", "sha256:" + "a" * 64),
        ),
        (
            '<a href="../../packages/shop-1.0.0.tar.gz#md5=abc">shop-1.0.0.tar.gz</a>',
            ("../../packages/shop-1.0.0.tar.gz", None),
        ),
        ('<a href="/packages/shop-1.0.1.tar.gz">shop-1.0.1.tar.gz</a>', None),
    ],
)
def test_simple_index_link(html: str, expected: tuple[str, str | None] | None) -> None:
    """A PEP 503 page's link for the file, with its sha256 when the fragment gives one."""
    assert d.simple_index_link(html, "shop-1.0.0.tar.gz") == expected


def test_npm_document_attaches_the_tarball() -> None:
    """The publish document has the version's manifest with dist, the dist-tag and the
    tarball in base64 under the name npm gives it (a scoped name's last part)."""
    tarball = d.NpmTarball({"name": "@acme/cart", "version": "1.0.0"}, "ab", "sha512-x", 3)
    doc = d.npm_publish_document(tarball, b"abc", "http://r/")
    assert doc["dist-tags"] == {"latest": "1.0.0"}
    dist = doc["versions"]["1.0.0"]["dist"]
    assert dist == {
        "shasum": "ab",
        "integrity": "sha512-x",
        "tarball": "http://r/@acme%2fcart/-/cart-1.0.0.tgz",
    }
    assert doc["_attachments"]["cart-1.0.0.tgz"]["data"] == "YWJj"
    assert d.npm_held(doc, "1.0.0") == "sha512-x" and d.npm_held(doc, "2.0.0") is None


@pytest.mark.parametrize(
    ("manifest", "code"),
    [
        (None, "publish-unsupported"),
        ({"name": "cart", "version": "1.0.0", "private": True}, "publish-unsupported"),
        ({"name": "cart", "version": "0.9.0"}, "publish-version-mismatch"),
    ],
)
def test_npm_manifest_refused(manifest: object, code: str) -> None:
    """No package.json, a private package, or another version is refused before a PUT."""
    with pytest.raises(ShipyardError) as info:
        d.check_npm_manifest(manifest, "1.0.0", "npm", "cart.tgz")
    assert info.value.code == code


@pytest.mark.parametrize(
    ("version", "tag"),
    [("1.0.0", "1.0.0"), ("1.0.0-rc.1", "1.0.0-rc.1"), ("1.0.0+b.7", "1.0.0_b.7")],
)
def test_oci_tag(version: str, tag: str) -> None:
    """A version is its own tag, with semver build metadata's + as _."""
    assert d.oci_tag(version) == tag


def test_oci_manifest_is_deterministic_with_one_layer() -> None:
    """The same file gives the same manifest bytes; it carries artifactType, the empty config
    and the file as its one titled layer, which is what `oci_held` reads back."""
    args = dict(
        digest="sha256:" + "b" * 64,
        size=5,
        media_type="application/zip",
        filename="site.zip",
        name="site",
        version="1.0.0",
    )
    one, two = d.oci_manifest(**args), d.oci_manifest(**args)
    assert one == two
    doc = json.loads(one)
    assert doc["artifactType"] == d.ARTIFACT_TYPE and doc["config"]["size"] == 2
    assert d.oci_held(doc) == "sha256:" + "b" * 64
    assert d.oci_held({"layers": [{}, {}]}) == "unknown" and d.oci_held(None) is None
