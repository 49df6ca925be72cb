"""The file of issue 23: a few hundred bytes of YAML aliases that stand for millions of nodes."""

from __future__ import annotations

import string


def laughs(levels: int, width: int = 9) -> str:
    """``levels`` anchors, each a list of ``width`` aliases of the one before."""
    names = string.ascii_lowercase
    lines = ["project: bomb", f"a: &a [{', '.join(['x'] * width)}]"]
    for i in range(1, levels):
        lines.append(f"{names[i]}: &{names[i]} [{', '.join([f'*{names[i - 1]}'] * width)}]")
    return "\n".join(lines) + "\n"
