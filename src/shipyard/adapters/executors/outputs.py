"""``$SHIPYARD_OUTPUT``: the values a step hands downstream, as it wrote them."""

from __future__ import annotations

__all__ = ["OutputsError", "parse_outputs"]


class OutputsError(ValueError):
    """A line of $SHIPYARD_OUTPUT that is not ``key=value`` or ``key<<DELIMITER``."""


def parse_outputs(text: str) -> dict[str, str]:
    """``key=value`` lines, and ``key<<EOF`` ... ``EOF`` blocks for multi-line values."""
    outputs: dict[str, str] = {}
    lines = text.splitlines()
    i = 0
    while i < len(lines):
        line = lines[i]
        i += 1
        if not line.strip():
            continue
        if "<<" in line and ("=" not in line or line.index("<<") < line.index("=")):
            name, _, delimiter = line.partition("<<")
            block: list[str] = []
            while i < len(lines) and lines[i] != delimiter:
                block.append(lines[i])
                i += 1
            if i >= len(lines):
                raise OutputsError(f"output {name.strip()!r}: no closing line {delimiter!r}")
            i += 1
            outputs[_name(name, i)] = "\n".join(block)
            continue
        name, eq, value = line.partition("=")
        if not eq:
            raise OutputsError(f"line {i} of $SHIPYARD_OUTPUT is not key=value: {line[:60]!r}")
        outputs[_name(name, i)] = value
    return outputs


def _name(name: str, line: int) -> str:
    name = name.strip()
    if not name or not all(c.isalnum() or c in "_-." for c in name):
        raise OutputsError(f"line {line} of $SHIPYARD_OUTPUT names an invalid output {name!r}")
    return name
