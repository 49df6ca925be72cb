"""YAML with positions: plain data plus a map from each value's path to its line and column."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import yaml

from shipyard.errors import SpecError

try:  # the C loader is several times faster; fall back where libyaml is missing
    from yaml import CSafeLoader as _Loader
except ImportError:  # pragma: no cover
    from yaml import SafeLoader as _Loader  # type: ignore[assignment]

Path_ = tuple[str | int, ...]


@dataclass
class Located:
    """The data, and the YAML node tree it came from, which positions are read from."""

    data: Any
    file: str
    node: yaml.Node | None = None

    def where(self, path: Path_, *, key: bool = False) -> tuple[int, int] | None:
        """Line and column (1-based) of a value, or of its key; the nearest parent otherwise.

        Found by walking the node tree only when asked, which is when something is wrong:
        recording a position for every value would cost a large spec more than parsing it.
        """
        node = self.node
        if node is None:
            return (1, 1)
        key_node: yaml.Node | None = None
        for part in path:
            child = _child(node, part)
            if child is None:
                break
            key_node, node = child
        mark = key_node.start_mark if key and key_node is not None else node.start_mark
        return (mark.line + 1, mark.column + 1)

    def error(
        self, path: Path_, message: str, hint: str = "", *, code: str, key: bool = False
    ) -> SpecError:
        line, col = self.where(path, key=key) or (None, None)
        return SpecError(message, hint, code=code, file=self.file, line=line, column=col)


def parse(text: str, file: str) -> Located:
    try:
        node = yaml.compose(text, Loader=_Loader)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line, col = (mark.line + 1, mark.column + 1) if mark else (None, None)
        problem = exc.problem or exc.context or "invalid YAML"
        raise SpecError(
            f"YAML syntax error: {problem}",
            "check indentation and quoting near this position",
            code="yaml-syntax",
            file=file,
            line=line,
            column=col,
        ) from exc
    except yaml.YAMLError as exc:
        raise SpecError(f"YAML error: {exc}", "", code="yaml-syntax", file=file) from exc
    located = Located(data=None, file=file, node=node)
    located.data = {} if node is None else _build(node, file)
    return located


_CONSTRUCTOR = yaml.constructor.SafeConstructor()


_STR = "tag:yaml.org,2002:str"


def _scalar(node: yaml.ScalarNode) -> Any:
    return _CONSTRUCTOR.construct_object(node, deep=True)


def _child(node: yaml.Node, part: str | int) -> tuple[yaml.Node | None, yaml.Node] | None:
    """(key node, value node) of ``part`` under ``node``; None when there is none."""
    if isinstance(node, yaml.MappingNode):
        for key_node, value_node in node.value:
            if isinstance(key_node, yaml.ScalarNode) and _key(key_node) == part:
                return key_node, value_node
    elif isinstance(node, yaml.SequenceNode) and isinstance(part, int) and part < len(node.value):
        return None, node.value[part]
    return None


def _key(node: yaml.ScalarNode) -> str:
    return node.value if node.tag == _STR else str(_scalar(node))


def _build(node: yaml.Node, file: str) -> Any:
    if isinstance(node, yaml.MappingNode):
        out: dict[Any, Any] = {}
        for key_node, value_node in node.value:
            if key_node.tag == "tag:yaml.org,2002:merge":
                raise _at(key_node, file, "YAML merge keys (<<) are not supported", "yaml-syntax")
            if key_node.tag == _STR and isinstance(key_node, yaml.ScalarNode):
                key = key_node.value
            else:
                key = _build(key_node, file)
            if not isinstance(key, str | int | bool | float) or key is None:
                raise _at(key_node, file, "mapping keys must be plain strings", "spec-type")
            k = str(key) if not isinstance(key, str) else key
            if k in out:
                raise _at(
                    key_node,
                    file,
                    f"duplicate key '{k}'",
                    "spec-duplicate-key",
                    "a key may appear once in a mapping; remove one of them",
                )
            out[k] = _build(value_node, file)
        return out
    if isinstance(node, yaml.SequenceNode):
        return [_build(item, file) for item in node.value]
    if node.tag == _STR:  # most scalars: what the constructor returns, without its overhead
        return node.value
    return _scalar(node)  # type: ignore[arg-type]


def _at(node: yaml.Node, file: str, message: str, code: str, hint: str = "") -> SpecError:
    line, column = node.start_mark.line + 1, node.start_mark.column + 1
    return SpecError(message, hint, code=code, file=file, line=line, column=column)
