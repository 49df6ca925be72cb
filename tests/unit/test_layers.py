"""The package's layers, read from every import in src/ (module-level and inside functions):
what each layer may import, as a table, and the few known exceptions by name, so that a new
dependency across layers is a decision made here rather than an accident.

`domain` is pure (errors only); the SDK needs nothing of the server; nothing but the CLI and
`__main__` imports `cli`.
"""

from __future__ import annotations

import ast
from pathlib import Path

SRC = Path(__file__).resolve().parents[2] / "src"

ROOT = "(shipyard)"  # the package itself: its version
SHELL = {"adapters", "domain", "errors", "identity", "services", "store", ROOT}
ALLOWED: dict[str, set[str]] = {
    ROOT: set(),
    "errors": set(),
    "settings": set(),
    "identity": {"errors"},
    "ports": {"errors"},
    "jsonlimits": {"errors"},
    "domain": {"errors"},
    "sdk": {"domain", "errors"},
    "spec": {"domain", "errors", "settings"},
    "store": {"domain", "errors", "ports", "settings"},
    "adapters": {"domain", "errors", "ports", "store"},
    "services": SHELL | {"ports", "settings", "spec"},
    "web": {"api", "domain", "errors", "services", "store"},
    "api": SHELL | {"jsonlimits", "web"},
    "cli": SHELL | {"settings", "spec"},
    "__main__": {"cli"},
}
# Known debts: each is a module importing across the table, kept until it is moved.
EXCEPTIONS = {
    ("shipyard.spec.checks", "shipyard.services"),  # checks that need a service's parser
    ("shipyard.spec.checks", "shipyard.services.pipeline"),
    ("shipyard.spec.checks", "shipyard.services.rollout_analysis"),
    ("shipyard.store.uow", "shipyard.services.keys"),  # the store opens its signer and blobs
    ("shipyard.store.uow", "shipyard.adapters.blobs"),
    ("shipyard.store.uow", "shipyard.adapters.signing"),
}


def _imports() -> set[tuple[str, str]]:
    found = set()
    for path in SRC.rglob("*.py"):
        module = ".".join(path.relative_to(SRC).with_suffix("").parts).removesuffix(".__init__")
        package = module if path.name == "__init__.py" else module.rpartition(".")[0]
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                targets = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom):
                base = node.module or ""
                if node.level:
                    parts = package.split(".")[: len(package.split(".")) - node.level + 1]
                    base = ".".join([*parts, base] if base else parts)
                targets = [base]
            else:
                continue
            found |= {(module, t) for t in targets if t.split(".")[0] == "shipyard"}
    return found


def _layer(module: str) -> str:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else ROOT


def test_each_layer_imports_only_what_its_row_allows() -> None:
    edges = _imports()
    assert len(edges) > 500  # the walk found the code
    wrong = sorted(
        (a, b)
        for a, b in edges
        if _layer(a) != _layer(b)
        and _layer(b) not in ALLOWED[_layer(a)]
        and (a, b) not in EXCEPTIONS
    )
    assert wrong == [], "imports across layers the table does not allow:\n" + "\n".join(
        f"  {a} -> {b}" for a, b in wrong
    )


def test_every_known_exception_is_still_needed() -> None:
    """An exception that no import needs any more is taken off the list."""
    assert _imports() >= EXCEPTIONS
