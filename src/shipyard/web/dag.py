"""A run's steps laid out as its DAG: columns by depth, each step with its state.

Layout only: the steps and the graph come from the services; nothing here decides anything
about a run.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any


def columns(
    needs: dict[str, tuple[str, ...]], steps: Sequence[Mapping[str, Any]], running: list[str]
) -> list[list[dict[str, Any]]]:
    """Nodes by depth (a node sits one column right of its deepest need), each with its
    recorded step, ``running`` or ``pending``; recorded steps the graph lacks go last."""
    by_node = {s["node"]: s for s in steps}
    depth: dict[str, int] = {}

    def level(node: str) -> int:
        if node not in depth:
            depth[node] = 0  # a cycle cannot be here (the graph was built), this ends recursion
            depth[node] = 1 + max((level(n) for n in needs[node] if n in needs), default=-1)
        return depth[node]

    for node in needs:
        level(node)
    out: list[list[dict[str, Any]]] = [[] for _ in range(max(depth.values(), default=-1) + 1)]
    for node in needs:
        step = by_node.get(node)
        state = step["status"] if step else ("running" if node in running else "pending")
        out[depth[node]].append({"node": node, "state": state, "needs": needs[node], "step": step})
    extra = [
        {"node": s["node"], "state": s["status"], "needs": (), "step": s}
        for s in steps
        if s["node"] not in needs
    ]
    extra += [
        {"node": n, "state": "running", "needs": (), "step": None}
        for n in running
        if n not in needs and n not in by_node
    ]
    if extra:
        out.append(extra)
    return out
