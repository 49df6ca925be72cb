"""One registry of error codes: every code the source can raise is documented where a user looks
it up, and every code documented there is one the source still raises.

The source's codes (``codes_in``, over src/shipyard, read with ``ast``) are the strings found
- as a ``code=`` argument of any call;
- assigned to ``code``: a class's attribute, or a local passed on as ``code=code``;
- as the default of a parameter named ``code``, or given positionally for it in a call to a
  function or dataclass of the same module (``_bad(message, code="note-invalid")``,
  ``FlagProblem("flag-...", ...)``);
- as the value of a ``"code"`` key of a dict literal (a JSON error body), or the default of
  ``.get("code", ...)``;
- hyphenated, in the tuples a function annotated ``-> tuple[str, str] | None`` returns, itself or
  from a module dict it looks up (the (code, message) refusals of domain/flag_requests.py, the
  (rule, code) pairs of api/inputs.py);
- as ``error[CODE]`` inside a string other than a docstring (a step's log).
A string there is a literal, a module constant holding one, either branch of ``a if c else b``,
or the fixed start of an f-string: ``f"deployment-{status}"`` is the family ``deployment-*``.

The documented codes (``documented_codes``) are the backticked words of docs/errors.md and of the
``Errors`` section of each page it links to as ``PAGE.md#errors``, in a table column headed
``code`` (or ``examples``: the family table), and, in docs/errors.md's paragraphs, the
hyphenated ones. Codes other pages mention (server.md, dashboard.md, ...) do not count.

A family is documented when the docs name a member that is not a code of its own; a documented
code of a family is not stale.
"""

from __future__ import annotations

import ast
import re
from collections.abc import Iterator
from functools import cache
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
DOCS = ROOT / "docs"
CODE = re.compile(r"[a-z0-9]+(-[a-z0-9]+)*")
HYPHENATED = re.compile(r"[a-z0-9]+(-[a-z0-9]+)+")
LOGGED = re.compile(r"error\[([a-z0-9-]+)\]")
PAIR = "tuple[str, str] | None"

# Documented codes that no Python source produces, each with the reason. None today.
PRODUCED_ELSEWHERE: dict[str, str] = {}


def _strings(node: ast.expr, constants: dict[str, ast.expr]) -> list[str]:
    if isinstance(node, ast.Name) and node.id in constants:
        node = constants[node.id]
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return [node.value]
    if isinstance(node, ast.IfExp):
        return _strings(node.body, constants) + _strings(node.orelse, constants)
    start = node.values[0] if isinstance(node, ast.JoinedStr) and node.values else None
    if isinstance(start, ast.Constant) and isinstance(start.value, str):
        return [start.value + "*"]
    return []


def _is(node: ast.expr | None, text: str) -> bool:
    return isinstance(node, ast.Constant) and node.value == text


def _code_positions(tree: ast.Module) -> dict[str, int]:
    """The position of ``code`` among the positional parameters of the module's functions and
    dataclasses, by the name a call uses."""
    out: dict[str, int] = {}
    for node in ast.walk(tree):
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            names = [a.arg for a in node.args.posonlyargs + node.args.args]
            names = names[1:] if names[:1] in (["self"], ["cls"]) else names
        elif isinstance(node, ast.ClassDef) and any(
            "dataclass" in ast.unparse(d) for d in node.decorator_list
        ):
            names = [
                st.target.id
                for st in node.body
                if isinstance(st, ast.AnnAssign) and isinstance(st.target, ast.Name)
            ]
        else:
            continue
        if "code" in names:
            out[node.name] = names.index("code")
    return out


def _pair_codes(func: ast.AST, constants: dict[str, ast.expr]) -> Iterator[ast.expr]:
    for ret in ast.walk(func):
        if not isinstance(ret, ast.Return) or ret.value is None:
            continue
        tuples = [ret.value]
        call = ret.value
        if (
            isinstance(call, ast.Call)
            and isinstance(call.func, ast.Attribute)
            and isinstance(call.func.value, ast.Name)
        ):
            table = constants.get(call.func.value.id)
            tuples = [v for v in table.values if v] if isinstance(table, ast.Dict) else []
        for t in tuples:
            if isinstance(t, ast.Tuple):
                yield from (
                    e
                    for e in t.elts
                    if isinstance(e, ast.Constant)
                    and isinstance(e.value, str)
                    and HYPHENATED.fullmatch(e.value)
                )


def _code_values(
    node: ast.AST, positions: dict[str, int], constants: dict[str, ast.expr]
) -> Iterator[ast.expr]:
    """The expressions ``node`` gives as an error code."""
    if isinstance(node, ast.Call):
        yield from (kw.value for kw in node.keywords if kw.arg == "code")
        func = node.func
        name = func.id if isinstance(func, ast.Name) else getattr(func, "attr", None)
        at = positions.get(name or "")
        if at is not None and len(node.args) > at:
            yield node.args[at]
        if name == "get" and len(node.args) == 2 and _is(node.args[0], "code"):
            yield node.args[1]
    elif isinstance(node, ast.Assign | ast.AnnAssign):
        targets = node.targets if isinstance(node, ast.Assign) else [node.target]
        if node.value and any(isinstance(t, ast.Name) and t.id == "code" for t in targets):
            yield node.value
    elif isinstance(node, ast.Dict):
        yield from (v for k, v in zip(node.keys, node.values, strict=True) if _is(k, "code"))
    elif isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
        args = node.args
        positional = args.posonlyargs + args.args
        defaults = [
            *zip(positional[len(positional) - len(args.defaults) :], args.defaults, strict=True),
            *zip(args.kwonlyargs, args.kw_defaults, strict=True),
        ]
        yield from (d for a, d in defaults if a.arg == "code" and d is not None)
        if node.returns and ast.unparse(node.returns) == PAIR:
            yield from _pair_codes(node, constants)


def codes_in(source: str) -> set[str]:
    """The error codes one module can raise; an f-string's family as ``prefix*``."""
    tree = ast.parse(source)
    constants = {
        st.targets[0].id: st.value
        for st in tree.body
        if isinstance(st, ast.Assign) and isinstance(st.targets[0], ast.Name)
    }
    positions = _code_positions(tree)
    docstrings = {id(n.value) for n in ast.walk(tree) if isinstance(n, ast.Expr)}
    found: set[str] = set()
    for node in ast.walk(tree):
        for value in _code_values(node, positions, constants):
            found.update(_strings(value, constants))
        if (
            isinstance(node, ast.Constant)
            and isinstance(node.value, str)
            and id(node) not in docstrings
        ):
            found.update(LOGGED.findall(node.value))
    return found


@cache
def source_codes() -> dict[str, str]:
    """Each code of src/shipyard and of the SDK, with the first file that holds it."""
    found: dict[str, str] = {}
    paths = [*(ROOT / "src" / "shipyard").rglob("*.py"), *(ROOT / "sdk" / "src").rglob("*.py")]
    for path in sorted(paths):
        for code in sorted(codes_in(path.read_text())):
            found.setdefault(code, str(path.relative_to(ROOT)))
    return found


def _ticked(text: str) -> list[str]:
    return re.findall(r"`([^`]+)`", text)


def _cells(row: str) -> list[str]:
    # A pipe inside backticks (`rollout abort|resume`) does not end a cell.
    return [c.strip() for c in re.split(r"\|(?=(?:[^`]*`[^`]*`)*[^`]*$)", row.strip("| "))]


def codes_documented_in(markdown: str, *, prose: bool) -> set[str]:
    """The backticked codes of a table column headed ``code`` or ``examples`` and, with
    ``prose``, the hyphenated backticked words outside tables and fenced blocks."""
    markdown = re.sub(r"^```.*?^```", "", markdown, flags=re.M | re.S)
    found: set[str] = set()
    header: list[str] | None = None
    for line in markdown.splitlines():
        if not line.startswith("|"):
            header = None
            if prose:
                found.update(w for w in _ticked(line) if HYPHENATED.fullmatch(w))
        elif header is None:
            header = _cells(line)
        else:
            for name, cell in zip(header, _cells(line), strict=False):
                if name in ("code", "examples"):
                    found.update(w for w in _ticked(cell) if CODE.fullmatch(w))
    return found


def errors_section(markdown: str) -> str:
    """The section headed ``Errors``, at any level, without its heading."""
    markdown = re.sub(r"^```.*?^```", "", markdown, flags=re.M | re.S)
    lines: list[str] = []
    level = None
    for line in markdown.splitlines():
        heading = re.match(r"(#+) (.*)", line)
        if heading and level is not None and len(heading[1]) <= level:
            break
        if heading and heading[2].strip() == "Errors":
            level = len(heading[1])
        elif level is not None:
            lines.append(line)
    return "\n".join(lines)


@cache
def documented_codes() -> dict[str, str]:
    """Each documented code, with the first page that names it."""
    errors = (DOCS / "errors.md").read_text()
    found = dict.fromkeys(sorted(codes_documented_in(errors, prose=True)), "docs/errors.md")
    for page in sorted(set(re.findall(r"\]\(([\w-]+\.md)#errors\)", errors))):
        section = errors_section((DOCS / page).read_text())
        assert section, f"docs/errors.md links to {page}#errors, a section {page} does not have"
        for code in sorted(codes_documented_in(section, prose=False)):
            found.setdefault(code, f"docs/{page}")
    return found


CASES = [
    ('raise Refused("m", code="lock-held")', {"lock-held"}),
    ('class E(Conflict):\n    code = "flag-exists"', {"flag-exists"}),
    ('code = "a-b" if x else "c"\nraise E("m", code=code)', {"a-b", "c"}),
    ('TOO = "yaml-too-complex"\nraise E("m", code=TOO)', {"yaml-too-complex"}),
    ('def bad(m, code="a-b"): ...\nbad("m", "c-d")', {"a-b", "c-d"}),
    ('class C:\n    def no(self, m, code): ...\n    def f(self): self.no("m", "x-y")', {"x-y"}),
    ('@dataclass\nclass P:\n    code: str\n    path: str\nP("a-b", "p")', {"a-b"}),
    ('JSONResponse({"code": "cache-miss", "message": m})', {"cache-miss"}),
    ('raise E(data["message"], code=data.get("code", "router-failed"))', {"router-failed"}),
    ('def no(s) -> tuple[str, str] | None:\n    return ("not-open", f"{s}")', {"not-open"}),
    (
        'R = {"e": ("name", "e-invalid")}\ndef f(p) -> tuple[str, str] | None: return R.get(p)',
        {"e-invalid"},
    ),
    ('log += f"shipyard: error[output-conflict]: {clash}\\n"', {"output-conflict"}),
    ('raise E(m, code=f"deployment-{status}")', {"deployment-*"}),
    ('"""Prints error[code]: message."""', set()),
    ('steps.append({"status": "already-live"})\nraise typer.Exit(code=2)', set()),
    ('part(("blue-green", "preview_header"))\ngit("cat-file", sha)', set()),
    ('def end(live, code): ...\nend(live, 0)\nraise E("m", code=exc.code)', set()),
]


@pytest.mark.parametrize(("source", "codes"), CASES)
def test_the_collector_reads(source: str, codes: set[str]) -> None:
    assert codes_in(source) == codes


def test_the_docs_reader_takes_code_columns_and_hyphenated_prose() -> None:
    page = "| when | code |\n|---|---|\n| `c-d` or `x|y` | `a-b`, `usage` |\n\nSee `e-f`, `g`.\n"
    assert codes_documented_in(page, prose=True) == {"a-b", "usage", "e-f"}
    assert codes_documented_in(page, prose=False) == {"a-b", "usage"}
    assert errors_section("# A\n## Errors\n`x`\n### B\n`y`\n## C\n`z`\n") == "`x`\n### B\n`y`"


def test_the_codes_are_kebab_case() -> None:
    codes = source_codes()
    assert len(codes) > 300  # the walk found them
    bad = [f"{c} ({where})" for c, where in codes.items() if not CODE.fullmatch(c.rstrip("-*"))]
    assert bad == [], "codes not in kebab-case:\n" + "\n".join(bad)


def _documented(code: str) -> bool:
    if code.endswith("*"):
        return any(d.startswith(code[:-1]) and d not in source_codes() for d in documented_codes())
    return code in documented_codes()


def test_every_code_is_documented() -> None:
    missing = [f"{c} ({where})" for c, where in source_codes().items() if not _documented(c)]
    assert missing == [], "codes docs/errors.md and its Errors pages do not name:\n" + "\n".join(
        missing
    )


def test_every_documented_code_is_raised() -> None:
    codes = source_codes()
    families = tuple(c[:-1] for c in codes if c.endswith("*"))
    stale = [
        f"{c} ({page})"
        for c, page in documented_codes().items()
        if c not in codes and c not in PRODUCED_ELSEWHERE and not c.startswith(families)
    ]
    assert stale == [], "documented codes the source no longer raises:\n" + "\n".join(stale)
