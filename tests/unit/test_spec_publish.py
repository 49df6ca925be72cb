"""release.publish, release.services and release.hooks in shipyard.yaml: bad entries are
refused at their position, with the code and a way out."""

from __future__ import annotations

import pytest

from shipyard.errors import SpecError
from shipyard.spec.load import parse_spec

JOBS = "pipeline:\n  jobs:\n    b: {run: x, outputs: [d/x.whl], artifact: shop}\n"


def _spec(release: str) -> str:
    return "project: shop\n" + JOBS + "release:\n" + release


BAD = [
    (
        "  publish:\n    - {type: pypi, url: 'https://u:p@pypi.example/legacy/'}\n",
        "spec-type",
        7,
        "must not carry credentials",
    ),
    ("  publish:\n    - {type: pypi, url: 'ftp://x'}\n", "spec-type", 7, "http"),
    ("  publish:\n    - {type: oci, url: 'https://r.example'}\n", "spec-type", 7, "repository"),
    (
        "  publish:\n    - {type: pypi, url: 'https://p.example/', token: abc}\n",
        "spec-unknown-key",
        7,
        "token",
    ),
    (
        "  publish:\n    - {type: npm, url: 'https://n.example', token_env: 'my token'}\n",
        "spec-type",
        7,
        "token_env",
    ),
    (
        "  publish:\n    - {type: npm, url: 'https://a.example'}\n"
        "    - {type: npm, url: 'https://b.example'}\n",
        "spec-duplicate-key",
        8,
        "distinct `name:`",
    ),
    (
        "  publish:\n    - {type: npm, url: 'https://a.example', artifacts: [shoop]}\n",
        "spec-unknown-reference",
        7,
        "did you mean 'shop'",
    ),
    ("  services:\n    api: {path: /abs}\n", "spec-type", 7, "inside the repository"),
    (
        "  services:\n    api: {path: services/api, artifacts: [web]}\n",
        "spec-unknown-reference",
        7,
        "web",
    ),
]


@pytest.mark.parametrize(("release", "code", "line", "words"), BAD)
def test_bad_release_entries_are_placed(release: str, code: str, line: int, words: str) -> None:
    """Each bad publish target or service fails with its code, its line and a helpful word."""
    with pytest.raises(SpecError) as err:
        parse_spec(_spec(release), "shipyard.yaml")
    e = err.value
    assert e.code == code, str(e)
    assert e.line == line, str(e)
    assert words in f"{e} {e.hint}", f"{e} {e.hint}"


def test_good_release_section_loads() -> None:
    """Targets of each type, services and a hook load; a target's name defaults to its type."""
    spec = parse_spec(
        _spec(
            "  publish:\n"
            "    - {type: pypi, url: 'https://upload.pypi.org/legacy/', token_env: PYPI_TOKEN}\n"
            "    - {type: oci, name: ghcr, url: 'https://ghcr.io', repository: acme/shop,"
            " username_env: GHCR_USER, token_env: GHCR_TOKEN, artifacts: [shop]}\n"
            "  services:\n    api: {path: [services/api, libs/common]}\n"
            "  hooks: {after_release: 'sh x.sh', timeout: 2m}\n"
        ),
        "shipyard.yaml",
    )
    assert [t.label for t in spec.release.publish] == ["pypi", "ghcr"]
    assert spec.release.services["api"].path == ["services/api", "libs/common"]
    assert spec.release.hooks.timeout == 120.0
