"""The package's layers, read from every import in src/ (module-level and inside functions):
what each layer may import, as a table, and the few known exceptions by name, so that a new
dependency across layers is a decision made here rather than an accident.

`domain` is pure (errors only); nothing but the CLI and `__main__` imports `cli`. The SDK
(`sdk/src/shipyard_sdk`, its own distribution) imports nothing of the server, which may use it
as any library.
"""

from __future__ import annotations

import ast
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
ROOTS = (REPO / "src", REPO / "sdk" / "src")
PACKAGES = ("shipyard", "shipyard_sdk")
SDK = "(sdk)"  # shipyard_sdk, the flags client's own distribution

ROOT = "(shipyard)"  # the package itself: its version
SHELL = {"adapters", "domain", "errors", "identity", "services", "store", ROOT}
ALLOWED: dict[str, set[str]] = {
    ROOT: set(),
    SDK: set(),  # nothing of the server
    "errors": set(),
    "settings": set(),
    "identity": {"errors"},
    "ports": {"errors"},
    "jsonlimits": {"errors"},
    "domain": {"errors"},
    "spec": {"domain", "errors", "settings"},
    "store": {"domain", "errors", "ports", "settings"},
    "adapters": {"domain", "errors", "ports", "store"},
    "services": SHELL | {"ports", "settings", "spec"},
    "web": {"api", "domain", "errors", "services", "store"},
    "api": SHELL | {"jsonlimits", "web"},
    "demo": SHELL | {"settings", "spec"},  # `shipyard demo`: the product walked through, apart
    "cli": SHELL | {"demo", "settings", "spec"},
    "__main__": {"cli"},
}
# Known debts: each is a module importing across the table, kept until it is moved.
EXCEPTIONS = {
    # spec/checks.py asks the services that parse what they check
    ("shipyard.spec.checks", "shipyard.services.deployments"),
    ("shipyard.spec.checks", "shipyard.services.pipelines.pipeline"),
    ("shipyard.spec.checks", "shipyard.services.deployments.rollout_analysis"),
    ("shipyard.store.uow", "shipyard.services.keys"),  # the store opens its signer and blobs
    ("shipyard.store.uow", "shipyard.adapters.blobs"),
    ("shipyard.store.uow", "shipyard.adapters.signing"),
}


def _named(node: ast.AST, package: str) -> list[str] | None:
    """What an import statement in ``package`` names, absolute: the modules of ``import``; for
    ``from X import a, b``, X and then X.a, X.b (modules, or names in X). None for any other
    statement."""
    if isinstance(node, ast.Import):
        return [alias.name for alias in node.names]
    if not isinstance(node, ast.ImportFrom):
        return None
    base = node.module or ""
    if node.level:
        parts = package.split(".")[: len(package.split(".")) - node.level + 1]
        base = ".".join([*parts, base] if base else parts)
    return [base, *(f"{base}.{alias.name}" for alias in node.names)]


def _sources() -> dict[str, Path]:
    """Every module of both distributions, by name."""
    return {
        ".".join(path.relative_to(root).with_suffix("").parts).removesuffix(".__init__"): path
        for root in ROOTS
        for path in root.rglob("*.py")
    }


def _imports() -> set[tuple[str, str]]:
    found = set()
    for module, path in _sources().items():
        package = module if path.name == "__init__.py" else module.rpartition(".")[0]
        for node in ast.walk(ast.parse(path.read_text())):
            named = _named(node, package)
            if named is None:
                continue
            targets = named[:1] if isinstance(node, ast.ImportFrom) else named
            found |= {(module, t) for t in targets if t.split(".")[0] in PACKAGES}
    return found


def _layer(module: str) -> str:
    parts = module.split(".")
    if parts[0] == "shipyard_sdk":
        return SDK
    return parts[1] if len(parts) > 1 else ROOT


def test_each_layer_imports_only_what_its_row_allows() -> None:
    edges = _imports()
    assert len(edges) > 500  # the walk found the code
    wrong = sorted(
        (a, b)
        for a, b in edges
        if _layer(a) != _layer(b)
        and _layer(b) != SDK
        and _layer(b) not in ALLOWED[_layer(a)]
        and (a, b) not in EXCEPTIONS
    )
    assert wrong == [], "imports across layers the table does not allow:\n" + "\n".join(
        f"  {a} -> {b}" for a, b in wrong
    )


def test_every_known_exception_is_still_needed() -> None:
    """An exception that no import needs any more is taken off the list."""
    assert _imports() >= EXCEPTIONS


def _runtime_graph() -> dict[str, set[str]]:
    """Each module's imports of other modules of the package, at module level or in functions,
    leaving out those under ``if TYPE_CHECKING:`` (types only: nothing runs them)."""
    modules = _sources()
    graph: dict[str, set[str]] = {m: set() for m in modules}
    for module, path in modules.items():
        package = module if path.name == "__init__.py" else module.rpartition(".")[0]
        tree = ast.parse(path.read_text())
        typing_only = {
            id(node)
            for guard in ast.walk(tree)
            if isinstance(guard, ast.If) and "TYPE_CHECKING" in ast.unparse(guard.test)
            for stmt in guard.body
            for node in ast.walk(stmt)
        }
        for node in ast.walk(tree):
            if id(node) in typing_only:
                continue
            targets = _named(node, package)
            if targets is None:
                continue
            graph[module] |= {t for t in targets if t in modules and t != module}
    return graph


def _cycles(graph: dict[str, set[str]]) -> list[set[str]]:
    """The strongly connected groups of more than one module (Tarjan's algorithm)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    found: list[set[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        for w in graph[v]:
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            group = set()
            while True:
                w = stack.pop()
                group.add(w)
                if w == v:
                    break
            if len(group) > 1:
                found.append(group)

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return found


def test_cycles_finds_a_cycle_and_nothing_else() -> None:
    graph = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}, "e": set()}
    assert _cycles(graph) == [{"a", "b", "c"}]


def test_no_modules_import_each_other() -> None:
    """A cycle fails here: cut it by moving what both sides need into a module of its own (as
    run_stamp.py, deploy_sides.py, environments.py, spec/promotion.py and api/deps.py were)."""
    cycles = _cycles(_runtime_graph())
    assert cycles == [], "modules importing each other:\n" + "\n".join(
        "  " + " <-> ".join(sorted(group)) for group in cycles
    )


# Services start and signal no processes themselves: adapters do, behind ports where a service
# is tested with a fake (``Commands``: adapters/commands.py; a step's command:
# adapters/executors/; git in adapters/vcs/; an environment's instances and router in
# adapters/targets/local.py and adapters/routers/local.py; Shipyard's own processes in
# adapters/processes.py).


def _starts_processes(tree: ast.AST, package: str) -> bool:
    """Whether a module imports ``subprocess`` or signals processes (``os.kill``,
    ``os.killpg``), in any function or at module level."""
    for node in ast.walk(tree):
        named = _named(node, package)
        if named is not None:
            modules = named[:1] if isinstance(node, ast.ImportFrom) else named
            if any(m.split(".")[0] == "subprocess" for m in modules):
                return True
        if (
            isinstance(node, ast.Attribute)
            and node.attr in ("kill", "killpg")
            and isinstance(node.value, ast.Name)
            and node.value.id == "os"
        ):
            return True
    return False


def test_services_start_and_signal_no_processes() -> None:
    """A module of services/ that imports `subprocess` or calls `os.kill` fails here: move the
    process work to an adapter (behind a port where the service needs a fake)."""
    found = set()
    for module, path in _sources().items():
        if not module.startswith("shipyard.services."):
            continue
        package = module if path.name == "__init__.py" else module.rpartition(".")[0]
        if _starts_processes(ast.parse(path.read_text()), package):
            found.add(module)
    assert not found, "services running processes themselves:\n" + "\n".join(
        f"  {m}" for m in sorted(found)
    )
