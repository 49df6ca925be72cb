"""A wheel's dependency closure, resolved the way its installer resolves it.

Pure: the caller hands in the wheel's ``Requires-Dist``, the marker environment of the Python
it is installed into, and the distributions available there (name, version, their own
``Requires-Dist``). Like pip: a requirement applies when its marker holds for that Python with
``extra`` set to each extra the requirer was asked for (or ``""``); ``name[extra]`` asks the
named distribution for that extra, whose requirements then apply too; names compare after
PEP 503 normalisation.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from packaging.markers import InvalidMarker, UndefinedComparison, UndefinedEnvironmentName
from packaging.requirements import InvalidRequirement, Requirement
from packaging.version import InvalidVersion


def normalize(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


@dataclass(frozen=True, slots=True)
class Dist:
    """A distribution available where the wheel is installed."""

    name: str
    version: str
    requires: tuple[str, ...] = ()


@dataclass(slots=True)
class Node:
    """One resolved dependency: what is there, and what asked for it."""

    name: str
    version: str | None  # None: nothing of that name is available
    extras: set[str] = field(default_factory=set)
    requirements: list[str] = field(default_factory=list)  # as written by who required it
    satisfied: bool = True  # the available version meets every specifier


@dataclass(frozen=True, slots=True)
class Closure:
    nodes: dict[str, Node]  # by normalised name
    edges: dict[str, set[str]]  # normalised name -> those it requires; "" is the root


def applies(req: Requirement, extras: set[str], env: Mapping[str, str]) -> bool:
    """Whether a requirement holds for this Python, for a requirer asked for ``extras``."""
    if req.marker is None:
        return True
    try:
        return any(req.marker.evaluate({**env, "extra": e}) for e in (extras or {""}))
    except (InvalidMarker, UndefinedComparison, UndefinedEnvironmentName):
        return False


def resolve(
    requires: Sequence[str],
    env: Mapping[str, str],
    available: Mapping[str, Dist],
    extras: Sequence[str] = (),
) -> Closure:
    """The closure of ``requires`` (the wheel's own, asked for ``extras``) over ``available``
    (keyed by normalised name)."""
    nodes: dict[str, Node] = {}
    edges: dict[str, set[str]] = {"": set()}
    # (requirer, requirement line, the requirer's extras now, its extras already walked)
    todo: list[tuple[str, str, set[str], set[str] | None]] = [
        ("", r, set(extras), None) for r in requires
    ]
    while todo:
        parent, line, parent_extras, walked = todo.pop(0)
        try:
            req = Requirement(line)
        except InvalidRequirement:
            continue
        if not applies(req, parent_extras, env):
            continue
        if walked is not None and applies(req, walked, env):
            continue  # applied before the new extras were asked for
        key = normalize(req.name)
        edges.setdefault(parent, set()).add(key)
        dist = available.get(key)
        node = nodes.get(key)
        if node is None:
            node = nodes[key] = Node(
                dist.name if dist else req.name, dist.version if dist else None
            )
        node.requirements.append(line)
        if dist is not None:
            try:
                ok = req.specifier.contains(dist.version, prereleases=True)
            except InvalidVersion:
                ok = False
            node.satisfied = node.satisfied and ok
        before = set(node.extras)
        first = len(node.requirements) == 1
        node.extras |= {normalize(e) for e in req.extras}
        if dist is None or not (first or node.extras != before):
            continue
        # Walk the distribution's requirements the first time, and again for new extras.
        again = None if first else before
        todo += [(key, r, set(node.extras), again) for r in dist.requires]
    return Closure(nodes, edges)
