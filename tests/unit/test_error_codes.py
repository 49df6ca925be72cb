"""One registry of error codes: every code an error can carry, read from the source (a class's
``code`` or a ``code=`` argument), is named in docs/ or the README, where a user looks it up."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def _codes() -> dict[str, str]:
    found: dict[str, str] = {}
    for path in (ROOT / "src" / "shipyard").rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            values: list[ast.expr] = []
            if isinstance(node, ast.ClassDef):
                values = [
                    st.value
                    for st in node.body
                    if isinstance(st, ast.Assign)
                    and any(isinstance(t, ast.Name) and t.id == "code" for t in st.targets)
                ]
            elif isinstance(node, ast.Call):
                values = [kw.value for kw in node.keywords if kw.arg == "code"]
            for value in values:
                if isinstance(value, ast.Constant) and isinstance(value.value, str):
                    found.setdefault(value.value, str(path.relative_to(ROOT)))
    return found


def test_every_error_code_is_documented() -> None:
    codes = _codes()
    assert len(codes) > 300  # the walk found them
    docs = "".join(p.read_text() for p in (ROOT / "docs").glob("*.md"))
    docs += (ROOT / "README.md").read_text()
    missing = sorted(f"{c} ({where})" for c, where in codes.items() if f"`{c}`" not in docs)
    assert missing == [], "codes no doc names:\n" + "\n".join(missing)
