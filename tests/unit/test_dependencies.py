"""A wheel's dependency closure resolved like pip: extras, markers, normalised names."""

from __future__ import annotations

import pytest

from shipyard.domain.dependencies import Dist, resolve

ENV = {
    "python_version": "3.12",
    "python_full_version": "3.12.1",
    "sys_platform": "linux",
    "platform_system": "Linux",
    "os_name": "posix",
    "implementation_name": "cpython",
    "platform_machine": "x86_64",
    "platform_python_implementation": "CPython",
    "platform_release": "",
    "platform_version": "",
    "implementation_version": "3.12.1",
}
AVAILABLE = {
    "alpha": Dist("Alpha", "1.0"),
    "beta": Dist("beta", "2.0", ("epsilon", 'zeta; extra == "fast"', 'eta; extra == "slow"')),
    "epsilon": Dist("epsilon", "1.1"),
    "zeta": Dist("Zeta", "0.5", ('alpha>=2; sys_platform == "win32"',)),
    "eta": Dist("eta", "3.0"),
    "gamma": Dist("gamma", "1.0"),
    "delta": Dist("delta", "1.0"),
    "tooling": Dist("tooling", "9.0"),  # installed here, required by nobody
}


@pytest.mark.parametrize(
    ("requires", "extras", "expected"),
    [
        (["alpha>=1"], [], {"alpha": "1.0"}),
        (["beta"], [], {"beta": "2.0", "epsilon": "1.1"}),
        (["beta[fast]"], [], {"beta": "2.0", "epsilon": "1.1", "zeta": "0.5"}),
        (["beta", "Beta[FAST]"], [], {"beta": "2.0", "epsilon": "1.1", "zeta": "0.5"}),
        (["beta[fast,slow]"], [], {"beta": "2.0", "epsilon": "1.1", "zeta": "0.5", "eta": "3.0"}),
        (['gamma; python_version < "3"'], [], {}),
        (['delta; extra == "docs"'], [], {}),
        (['delta; extra == "docs"'], ["docs"], {"delta": "1.0"}),
        (["missing-pkg>=1"], [], {"missing-pkg": None}),
        (["alpha_ALPHA"], [], {"alpha-alpha": None}),
    ],
)
def test_closure(requires: list[str], extras: list[str], expected: dict[str, str | None]) -> None:
    """Only what the installer would install appears, at the version available."""
    closure = resolve(requires, ENV, AVAILABLE, extras)
    assert {k: n.version for k, n in closure.nodes.items()} == expected


def test_edges_and_unsatisfied_versions() -> None:
    """Edges follow who required what; a version below a specifier is marked unsatisfied."""
    closure = resolve(["beta[fast]", "alpha>=5"], ENV, AVAILABLE)
    assert closure.edges[""] == {"beta", "alpha"} and closure.edges["beta"] == {"epsilon", "zeta"}
    assert not closure.nodes["alpha"].satisfied and closure.nodes["beta"].satisfied
    assert closure.nodes["beta"].extras == {"fast"}
