"""The version written into pyproject.toml, package.json, Cargo.toml and VERSION files."""

from __future__ import annotations

import json

import pytest

from shipyard.domain import versionfiles as vf
from shipyard.domain.versioning import VersionInvalid
from shipyard.errors import InputError

PYPROJECT = """\
[build-system]
requires = ["hatchling"]
version = "not this one"

[project]
name = "shop"  # the distribution
version = "1.4.2"  # set by the release
dependencies = ["httpx"]

[tool.other]
version = "9.9.9"
"""

POETRY = """\
[tool.poetry]
name = 'shop'
version = '0.3.0'
"""

CARGO = """\
[package]
name = "shop"
version = "1.4.2"
edition = "2021"

[dependencies]
serde = { version = "1.0" }
"""

WORKSPACE = """\
[workspace]
members = ["a", "b"]

[workspace.package]
version = "1.4.2"
"""


@pytest.mark.parametrize(
    ("path", "before", "version", "after"),
    [
        (
            "pyproject.toml",
            PYPROJECT,
            "1.5.0",
            PYPROJECT.replace('version = "1.4.2"  # set', 'version = "1.5.0"  # set'),
        ),
        (
            "sub/pyproject.toml",
            PYPROJECT,
            "2.0.0-rc.1",
            PYPROJECT.replace('"1.4.2"  # set', '"2.0.0rc1"  # set'),
        ),
        ("pyproject.toml", POETRY, "0.4.0", POETRY.replace("'0.3.0'", "'0.4.0'")),
        ("pyproject.toml", PYPROJECT, "2026.6.1", PYPROJECT.replace('"1.4.2"  #', '"2026.6.1"  #')),
        (
            "Cargo.toml",
            CARGO,
            "1.5.0-rc.1",
            CARGO.replace('version = "1.4.2"', 'version = "1.5.0-rc.1"'),
        ),
        ("Cargo.toml", WORKSPACE, "2.0.0", WORKSPACE.replace('"1.4.2"', '"2.0.0"')),
        ("VERSION", "1.4.2\n", "1.5.0", "1.5.0\n"),
        ("version.txt", "", "1.5.0", "1.5.0\n"),
    ],
)
def test_write_version(path: str, before: str, version: str, after: str) -> None:
    """Only the version line of the right table changes; comments and layout stay."""
    assert vf.write_version(path, before, version) == after


@pytest.mark.parametrize(
    ("text", "indent"),
    [
        ('{\n  "name": "shop",\n  "version": "1.4.2",\n  "deps": {"a": "1"}\n}\n', 2),
        ('{\n    "name": "shop",\n    "version": "1.4.2"\n}', 4),
        ('{\n\t"name": "shop",\n\t"version": "1.4.2"\n}\n', "\t"),
    ],
)
def test_package_json_keeps_indentation_and_order(text: str, indent: int | str) -> None:
    """package.json gets the new version with its own indentation, key order and final newline."""
    out = vf.write_version("package.json", text, "1.5.0")
    data = json.loads(text) | {"version": "1.5.0"}
    assert out == json.dumps(data, indent=indent) + ("\n" if text.endswith("\n") else "")
    assert list(json.loads(out)) == list(json.loads(text))


def test_package_lock_sets_both_versions() -> None:
    """package-lock.json v3 repeats the root package's version under packages[""]."""
    lock = {
        "name": "shop",
        "version": "1.4.2",
        "packages": {"": {"version": "1.4.2"}, "node_modules/a": {"version": "3.0.0"}},
    }
    out = json.loads(vf.write_version("package-lock.json", json.dumps(lock, indent=2), "1.5.0"))
    assert out["version"] == out["packages"][""]["version"] == "1.5.0"
    assert out["packages"]["node_modules/a"]["version"] == "3.0.0"


@pytest.mark.parametrize(
    ("path", "text", "code", "words"),
    [
        ("setup.py", "", "version-file-unsupported", "setup.py"),
        (
            "pyproject.toml",
            '[project]\nname = "x"\ndynamic = ["version"]\n',
            "version-field-missing",
            "dynamic",
        ),
        (
            "pyproject.toml",
            '[project]\nname = "x"\n',
            "version-field-missing",
            "[project] or [tool.poetry]",
        ),
        (
            "Cargo.toml",
            '[package]\nname = "x"\nversion.workspace = true\n',
            "version-field-missing",
            "workspace",
        ),
        ("package.json", '{"name": "x"}', "version-field-missing", '"version"'),
        ("package.json", '{"name": ', "version-field-missing", "package.json:1:"),
    ],
)
def test_files_without_a_version_are_refused(path: str, text: str, code: str, words: str) -> None:
    """Unknown formats, dynamic or inherited versions and missing fields are named errors."""
    with pytest.raises(InputError) as info:
        vf.write_version(path, text, "1.5.0")
    assert info.value.code == code and words in info.value.message


def test_pyproject_refuses_a_version_pep440_cannot_spell() -> None:
    """A pre-release channel PEP 440 has no spelling for is refused, not written wrongly."""
    with pytest.raises(VersionInvalid):
        vf.write_version("pyproject.toml", PYPROJECT, "1.5.0-nightly.3")


def test_cargo_lock_follows_the_package() -> None:
    """The Cargo.lock entry of the released package moves with it; others stay."""
    lock = (
        'version = 3\n\n[[package]]\nname = "serde"\nversion = "1.4.2"\n\n'
        '[[package]]\nname = "shop"\nversion = "1.4.2"\ndependencies = ["serde"]\n'
    )
    out = vf.cargo_lock_version(lock, "shop", "1.4.2", "1.5.0")
    assert out == lock.replace('"shop"\nversion = "1.4.2"', '"shop"\nversion = "1.5.0"')
    assert vf.cargo_package(CARGO) == ("shop", "1.4.2") and vf.cargo_package(WORKSPACE) is None
