"""Destructive schema changes in SQL and Alembic migrations, found before the migration runs.

A rollout runs the old and the new version side by side, so a migration must keep the schema
usable by both (expand/contract): dropping or renaming a table or a column breaks the version
still serving, and a new NOT NULL without a default breaks its inserts. ``lint`` reads SQL text
(statements split on ``;`` outside quotes and comments) and names each such statement;
``lint_alembic`` reads the ``upgrade()`` of an Alembic revision (``op.drop_column`` and the
like, SQL given to ``op.execute``). Pure: no I/O, no database; SQL is matched, not parsed, so
it errs on the side of flagging.
"""

from __future__ import annotations

import ast
import re
from dataclasses import dataclass

DROP_TABLE = "drop-table"
DROP_COLUMN = "drop-column"
RENAME_TABLE = "rename-table"
RENAME_COLUMN = "rename-column"
SET_NOT_NULL = "set-not-null"
ADD_NOT_NULL = "add-not-null-column"
UNREADABLE = "unreadable"

_WHY = {
    DROP_TABLE: "drops a table the running version may still read",
    DROP_COLUMN: "drops a column the running version may still read",
    RENAME_TABLE: "renames a table the running version reads by its old name",
    RENAME_COLUMN: "renames a column the running version reads by its old name",
    SET_NOT_NULL: "makes a column NOT NULL that the running version may leave empty",
    ADD_NOT_NULL: "adds a NOT NULL column without a DEFAULT, so the running version's inserts fail",
    UNREADABLE: "is not valid Python, so what it changes could not be checked",
}


@dataclass(frozen=True)
class Finding:
    """One destructive statement: what it does, the statement, where it starts."""

    kind: str
    statement: str
    source: str = ""
    line: int = 1

    @property
    def why(self) -> str:
        return _WHY[self.kind]

    def to_dict(self) -> dict[str, str | int]:
        return {
            "kind": self.kind,
            "statement": self.statement,
            "source": self.source,
            "line": self.line,
            "why": self.why,
        }


def statements(sql: str) -> list[tuple[int, str]]:
    """``sql`` split into statements with their first line, comments removed, whitespace
    collapsed; a ``;`` inside quotes or a comment does not end a statement."""
    out: list[tuple[int, str]] = []
    buf: list[str] = []
    line, start = 1, 0
    i, n = 0, len(sql)
    while i < n:
        c = sql[i]
        if c in "'\"`":
            end = i + 1
            while end < n:
                if sql[end] == c:
                    if end + 1 < n and sql[end + 1] == c:  # a doubled quote escapes itself
                        end += 2
                        continue
                    break
                end += 1
            chunk = sql[i : end + 1]
        elif sql.startswith("--", i):
            end = sql.find("\n", i)
            end = n - 1 if end < 0 else end - 1
            chunk = " "
        elif sql.startswith("/*", i):
            end = sql.find("*/", i + 2)
            end = n - 1 if end < 0 else end + 1
            line += sql.count("\n", i, end + 1)
            buf.append(" ")
            i = end + 1
            continue
        elif c == ";":
            _flush(buf, start or line, out)
            buf, start, i = [], 0, i + 1
            continue
        else:
            end, chunk = i, c
        if not start and chunk.strip():
            start = line
        line += chunk.count("\n")
        buf.append(chunk)
        i = end + 1
    _flush(buf, start or line, out)
    return out


def _flush(buf: list[str], line: int, out: list[tuple[int, str]]) -> None:
    text = " ".join("".join(buf).split())
    if text:
        out.append((line, text))


_IDENT = r'(?:"[^"]+"|`[^`]+`|[\w$]+)(?:\.(?:"[^"]+"|`[^`]+`|[\w$]+))*'
_ALTER_TABLE = re.compile(
    rf"^ALTER\s+TABLE\s+(?:IF\s+EXISTS\s+)?(?:ONLY\s+)?{_IDENT}\s+(?P<actions>.*)$",
    re.IGNORECASE | re.DOTALL,
)
_NOT_COLUMN = r"(?:CONSTRAINT|DEFAULT|INDEX|KEY|PRIMARY|FOREIGN|CHECK|PARTITION)\b"
_ADD_OTHER = re.compile(
    r"^ADD\s+(?:CONSTRAINT|PRIMARY|UNIQUE|FOREIGN|CHECK|INDEX|KEY|EXCLUDE)\b", re.IGNORECASE
)


def _kinds(statement: str) -> list[str]:
    s = statement
    if re.match(r"^DROP\s+TABLE\b", s, re.IGNORECASE):
        return [DROP_TABLE]
    if re.match(r"^RENAME\s+TABLE\b", s, re.IGNORECASE):  # MySQL
        return [RENAME_TABLE]
    if re.match(r"^EXEC(?:UTE)?\s+sp_rename\b", s, re.IGNORECASE):  # SQL Server
        return [RENAME_COLUMN if re.search(r"'COLUMN'", s, re.IGNORECASE) else RENAME_TABLE]
    m = _ALTER_TABLE.match(s)
    if not m:
        return []
    found: list[str] = []
    for action in _top_level_split(m["actions"]):
        a = action.strip()
        if re.match(r"^DROP\s+(?:COLUMN\b|(?!" + _NOT_COLUMN + r")\S)", a, re.IGNORECASE):
            found.append(DROP_COLUMN)
        elif re.match(r"^RENAME\s+TO\b", a, re.IGNORECASE):
            found.append(RENAME_TABLE)
        elif re.match(r"^RENAME\s+(?!CONSTRAINT\b|INDEX\b|KEY\b)", a, re.IGNORECASE):
            found.append(RENAME_COLUMN)
        elif re.match(
            r"^(?:ALTER|MODIFY)\s+(?:COLUMN\s+)?\S+.*\bSET\s+NOT\s+NULL\b", a, re.I | re.S
        ):
            found.append(SET_NOT_NULL)
        elif (
            re.match(r"^ADD\b", a, re.IGNORECASE)
            and not _ADD_OTHER.match(a)
            and re.search(r"\bNOT\s+NULL\b", a, re.IGNORECASE)
            and not re.search(r"\bDEFAULT\b", a, re.IGNORECASE)
        ):
            found.append(ADD_NOT_NULL)
    return found


def _top_level_split(text: str) -> list[str]:
    """Comma-separated clauses of an ALTER TABLE, commas inside parentheses or quotes kept."""
    parts: list[str] = []
    buf: list[str] = []
    depth, quote = 0, ""
    for c in text:
        if quote:
            quote = "" if c == quote else quote
        elif c in "'\"`":
            quote = c
        elif c == "(":
            depth += 1
        elif c == ")":
            depth -= 1
        elif c == "," and depth == 0:
            parts.append("".join(buf))
            buf = []
            continue
        buf.append(c)
    parts.append("".join(buf))
    return parts


def lint(sql: str, source: str = "") -> tuple[Finding, ...]:
    """Every destructive statement of ``sql`` (one finding per destructive clause)."""
    return tuple(
        Finding(kind, text, source, line) for line, text in statements(sql) for kind in _kinds(text)
    )


def lint_file(name: str, text: str) -> tuple[Finding, ...]:
    """An Alembic revision (``.py``) or SQL, by the file's name."""
    return lint_alembic(text, name) if name.endswith(".py") else lint(text, name)


# Alembic operations (on ``op`` or a ``batch_alter_table`` batch) and what each can break.
_OPS = {"drop_table": DROP_TABLE, "drop_column": DROP_COLUMN, "rename_table": RENAME_TABLE}


def lint_alembic(text: str, source: str = "") -> tuple[Finding, ...]:
    """Every destructive operation in the ``upgrade()`` of an Alembic revision's source."""
    try:
        tree = ast.parse(text)
    except SyntaxError as exc:
        return (Finding(UNREADABLE, f"SyntaxError: {exc.msg}", source, exc.lineno or 1),)
    found: list[Finding] = []
    for fn in tree.body:
        if not (isinstance(fn, ast.FunctionDef) and fn.name == "upgrade"):
            continue  # downgrade() may drop what upgrade() added
        for node in ast.walk(fn):
            if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute):
                statement = " ".join((ast.get_source_segment(text, node) or "").split())
                for kind in _alembic_kinds(node):
                    found.append(Finding(kind, statement, source, node.lineno))
                if node.func.attr == "execute" and node.args:
                    sql = node.args[0]
                    if isinstance(sql, ast.Constant) and isinstance(sql.value, str):
                        for f in lint(sql.value, source):
                            found.append(Finding(f.kind, f.statement, source, node.lineno))
    return tuple(found)


def _alembic_kinds(call: ast.Call) -> list[str]:
    assert isinstance(call.func, ast.Attribute)
    name = call.func.attr
    keywords = {k.arg: k.value for k in call.keywords if k.arg}
    if name in _OPS:
        return [_OPS[name]]
    if name == "alter_column":
        kinds = [RENAME_COLUMN] if "new_column_name" in keywords else []
        if _is_false(keywords.get("nullable")):
            kinds.append(SET_NOT_NULL)
        return kinds
    if name == "add_column":
        columns = [a for a in call.args if isinstance(a, ast.Call) and _called(a) == "Column"]
        return [ADD_NOT_NULL for c in columns if _not_null_without_default(c)]
    return []


def _called(call: ast.Call) -> str:
    f = call.func
    return f.attr if isinstance(f, ast.Attribute) else f.id if isinstance(f, ast.Name) else ""


def _is_false(node: ast.expr | None) -> bool:
    return isinstance(node, ast.Constant) and node.value is False


def _not_null_without_default(column: ast.Call) -> bool:
    keywords = {k.arg: k.value for k in column.keywords if k.arg}
    return _is_false(keywords.get("nullable")) and "server_default" not in keywords


def summary(findings: tuple[Finding, ...] | list[Finding]) -> str:
    """One line per finding: where, what and the statement."""
    return "\n".join(
        f"{f.source}:{f.line}: {f.kind}: {f.statement}" if f.source else f"{f.kind}: {f.statement}"
        for f in findings
    )
