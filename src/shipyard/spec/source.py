"""YAML with positions: plain data plus a map from each value's path to its line and column."""

from __future__ import annotations

from dataclasses import dataclass, field
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
    data: Any
    file: str
    positions: dict[Path_, tuple[int, int]] = field(default_factory=dict)
    key_positions: dict[Path_, tuple[int, int]] = field(default_factory=dict)

    def where(self, path: Path_, *, key: bool = False) -> tuple[int, int] | None:
        """Line and column (1-based) of a value, or of its key; the nearest parent otherwise."""
        table = self.key_positions if key else self.positions
        p = tuple(path)
        while p:
            if p in table:
                return table[p]
            if p in self.positions:
                return self.positions[p]
            p = p[:-1]
        return self.positions.get((), (1, 1))

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
    located = Located(data=None, file=file)
    if node is None:
        located.data = {}
        located.positions[()] = (1, 1)
        return located
    located.data = _build(node, (), located)
    return located


_CONSTRUCTOR = yaml.constructor.SafeConstructor()


_STR = "tag:yaml.org,2002:str"


def _scalar(node: yaml.ScalarNode) -> Any:
    return _CONSTRUCTOR.construct_object(node, deep=True)


def _build(node: yaml.Node, path: Path_, located: Located) -> Any:
    mark = node.start_mark
    located.positions[path] = (mark.line + 1, mark.column + 1)
    if isinstance(node, yaml.MappingNode):
        out: dict[Any, Any] = {}
        for key_node, value_node in node.value:
            if key_node.tag == "tag:yaml.org,2002:merge":
                raise located.error(
                    path, "YAML merge keys (<<) are not supported", code="yaml-syntax"
                )
            if key_node.tag == _STR and isinstance(key_node, yaml.ScalarNode):
                key = key_node.value
            else:
                key = _build(key_node, path + ("<key>",), located)
            if not isinstance(key, str | int | bool | float) or key is None:
                raise SpecError(
                    "mapping keys must be plain strings",
                    "",
                    code="spec-type",
                    file=located.file,
                    line=key_node.start_mark.line + 1,
                    column=key_node.start_mark.column + 1,
                )
            k = str(key) if not isinstance(key, str) else key
            if k in out:
                raise SpecError(
                    f"duplicate key '{k}'",
                    "a key may appear once in a mapping; remove one of them",
                    code="spec-duplicate-key",
                    file=located.file,
                    line=key_node.start_mark.line + 1,
                    column=key_node.start_mark.column + 1,
                )
            located.key_positions[(*path, k)] = (
                key_node.start_mark.line + 1,
                key_node.start_mark.column + 1,
            )
            out[k] = _build(value_node, (*path, k), located)
        located.positions.pop(path + ("<key>",), None)
        return out
    if isinstance(node, yaml.SequenceNode):
        return [_build(item, (*path, i), located) for i, item in enumerate(node.value)]
    if node.tag == _STR:  # most scalars: what the constructor returns, without its overhead
        return node.value
    return _scalar(node)  # type: ignore[arg-type]
