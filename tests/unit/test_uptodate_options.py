"""Which `shipyard run` command lines the up-to-date check may answer."""

from __future__ import annotations

import click
import pytest

from shipyard.services.pipelines.uptodate import FAST_OPTIONS, FULL_PATH_ENV, options


@pytest.mark.parametrize(
    ("argv", "expected"),
    [
        (["run"], (False, [])),
        (["run", "--json"], (True, [])),
        (["--json", "run"], (True, [])),
        (["run", "-j", "2", "--json"], (True, [])),
        (["run", "--jobs", "8", "--plain"], (False, [])),
        (["run", "-j4"], (False, [])),
        (["run", "--jobs=3"], (False, [])),
        (["run", "build", "test"], (False, ["build", "test"])),
        (["run", "-j", "x"], None),
        (["run", "-j"], None),
        (["run", "-j0"], None),
        (["run", "-j", "0"], None),
        (["run", "--rerun-failed", "3"], None),
        (["run", "-f", "other.yaml"], None),
        (["run", "--help"], None),
        (["runs"], None),
        (["--plain", "run"], None),
        ([], None),
    ],
)
def test_options(argv: list[str], expected: tuple[bool, list[str]] | None) -> None:
    assert options(argv) == expected


def _run_command() -> click.Command:
    from shipyard.cli.main import cli

    command = cli.get_command(click.Context(cli), "run")
    assert command is not None
    return command


def test_every_other_option_of_run_goes_the_full_way() -> None:
    """Each option `run` has (read from the CLI's own parameters) is either one the check
    honours, or makes it step aside: a new option cannot be ignored by the fast path."""
    flags = {flag for p in _run_command().params for flag in p.opts if flag.startswith("-")}
    assert set(FAST_OPTIONS) <= flags  # a renamed option is caught too
    for flag in sorted(flags - set(FAST_OPTIONS)):
        assert options(["run", flag, "x"]) is None, flag
        assert options(["run", f"{flag}=x"]) is None, flag


def test_every_variable_of_run_goes_the_full_way(monkeypatch: pytest.MonkeyPatch) -> None:
    """A variable that sets one of `run`'s options (SHIPYARD_EXECUTOR, SHIPYARD_REMOTE_CACHE)
    makes the check step aside, so changed steps run where, and fill what, the user asked."""
    names = {
        name
        for p in _run_command().params
        for name in ([p.envvar] if isinstance(p.envvar, str) else list(p.envvar or ()))
    }
    assert names == set(FULL_PATH_ENV)
    assert options(["run"]) == (False, [])
    for name in sorted(names):
        monkeypatch.setenv(name, "dask://127.0.0.1:8786")
        assert options(["run"]) is None, name
        monkeypatch.delenv(name)
