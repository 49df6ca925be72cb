"""YAML with positions: plain data plus a map from each value's path to its line and column."""

from __future__ import annotations

from collections.abc import Iterator
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
        """An error at ``path``; its ``details`` name the key as ``a.b.0.c``."""
        line, col = self.where(path, key=key) or (None, None)
        details = {"key": dotted(path)} if path else None
        return SpecError(
            message, hint, code=code, file=self.file, line=line, column=col, details=details
        )


def dotted(path: Path_) -> str:
    return ".".join(str(p) for p in path)


# Bounds on what a document may cost to read: a few hundred bytes of aliases can otherwise
# stand for billions of nodes (the "billion laughs"), and deep nesting overflows the parser's
# stack. A large real spec (10,000 jobs) is about 2 MB, 8 levels deep, with no aliases.
MAX_BYTES = 4 * 1024 * 1024
MAX_DEPTH = 64
MAX_ALIAS_NODES = 10_000
TOO_COMPLEX = "yaml-too-complex"


def check_size(size: int, file: str) -> None:
    """Refuse a document of ``size`` bytes over ``MAX_BYTES``, before reading it."""
    if size > MAX_BYTES:
        raise SpecError(
            f"the file is {size:,} bytes, over the limit of {MAX_BYTES:,}",
            "keep generated content out of it; a spec of 10,000 jobs is about 2 MB",
            code=TOO_COMPLEX,
            file=file,
        )


def parse(text: str, file: str) -> Located:
    check_size(len(text), file)
    node = _compose(text, file)
    located = Located(data=None, file=file, node=node)
    located.data = {} if node is None else _build(node, file)
    return located


_RESOLVER: Any = yaml.resolver.Resolver()
_E = yaml.events


def _compose(text: str, file: str) -> yaml.Node | None:
    """The node tree of the one document in ``text``, as ``yaml.compose`` makes it.

    Built here from the parser's events, so that every alias is counted as it is met: each
    adds the number of nodes its anchor stands for, expanded, and the alias that takes the
    total past ``MAX_ALIAS_NODES`` is refused at its own position before anything is expanded.
    The parser is lazy, so a document nested past ``MAX_DEPTH`` is refused after reading only
    that far.
    """
    anchors: dict[str, yaml.Node] = {}
    sizes: dict[str, int] = {}  # nodes an anchor stands for once expanded; absent while open
    # One entry per open collection: node, children, expanded size, anchor.
    stack: list[tuple[Any, list[yaml.Node], list[int], str | None]] = []
    root: yaml.Node | None = None
    through_aliases = 0
    documents = 0
    try:
        events: Iterator[Any] = yaml.parse(text, Loader=_Loader)
        for event in events:
            kind = type(event)
            size = 1
            if kind is _E.ScalarEvent:
                tag = event.tag
                if tag is None or tag == "!":
                    tag = _RESOLVER.resolve(yaml.ScalarNode, event.value, event.implicit)
                node: yaml.Node = yaml.ScalarNode(
                    tag, event.value, event.start_mark, event.end_mark, style=event.style
                )
                anchor = event.anchor
            elif kind is _E.AliasEvent:
                name = event.anchor
                if name not in anchors:
                    raise _marked(event.start_mark, file, f"alias *{name} has no anchor &{name}")
                if name not in sizes:
                    raise _marked(
                        event.start_mark,
                        file,
                        f"alias *{name} refers to the node that contains it",
                        "an alias may only repeat a node that is complete before it",
                        code=TOO_COMPLEX,
                    )
                node, size, anchor = anchors[name], sizes[name], None
                through_aliases += size
                if through_aliases > MAX_ALIAS_NODES:
                    raise _marked(
                        event.start_mark,
                        file,
                        f"aliases expand to over {MAX_ALIAS_NODES:,} nodes; alias *{name} "
                        f"alone stands for {size:,}",
                        "write the repeated part out, or repeat smaller anchors",
                        code=TOO_COMPLEX,
                    )
            elif kind is _E.MappingStartEvent or kind is _E.SequenceStartEvent:
                if len(stack) >= MAX_DEPTH:
                    raise _marked(
                        event.start_mark,
                        file,
                        f"the document is nested over {MAX_DEPTH} levels deep",
                        "shipyard.yaml needs a few levels; flatten what is nested this deep",
                        code=TOO_COMPLEX,
                    )
                mapping = kind is _E.MappingStartEvent
                node_cls = yaml.MappingNode if mapping else yaml.SequenceNode
                tag = event.tag
                if tag is None or tag == "!":
                    tag = _RESOLVER.resolve(node_cls, None, event.implicit)
                node = node_cls(tag, [], event.start_mark, None, flow_style=event.flow_style)
                if event.anchor is not None:
                    _anchor(anchors, event.anchor, node, event.start_mark, file)
                stack.append((node, [], [1], event.anchor))
                continue
            elif kind is _E.MappingEndEvent or kind is _E.SequenceEndEvent:
                node, children, total, anchor = stack.pop()
                node.end_mark = event.end_mark
                if kind is _E.MappingEndEvent:
                    node.value = list(zip(children[::2], children[1::2], strict=True))
                else:
                    node.value = children
                size = total[0]
                if anchor is not None:
                    sizes[anchor] = size
                anchor = None  # registered when the collection opened
            elif kind is _E.DocumentStartEvent:
                documents += 1
                if documents > 1:
                    raise _marked(
                        event.start_mark,
                        file,
                        "a second YAML document starts here",
                        "shipyard.yaml holds one document; remove the '---' and what follows",
                    )
                continue
            else:
                continue
            if anchor is not None:
                _anchor(anchors, anchor, node, node.start_mark, file)
                sizes[anchor] = size
            if stack:
                parent = stack[-1]
                parent[1].append(node)
                parent[2][0] += size
            else:
                root = node
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        problem = exc.problem or exc.context or "invalid YAML"
        raise _marked(mark, file, f"YAML syntax error: {problem}") from exc
    except yaml.YAMLError as exc:
        raise SpecError(f"YAML error: {exc}", "", code="yaml-syntax", file=file) from exc
    return root


def _anchor(
    anchors: dict[str, yaml.Node], name: str, node: yaml.Node, mark: Any, file: str
) -> None:
    if name in anchors:
        raise _marked(mark, file, f"anchor &{name} is defined twice", "rename one of them")
    anchors[name] = node


def _marked(
    mark: Any,
    file: str,
    message: str,
    hint: str = "check indentation and quoting near this position",
    *,
    code: str = "yaml-syntax",
) -> SpecError:
    line, col = (mark.line + 1, mark.column + 1) if mark is not None else (None, None)
    return SpecError(message, hint, code=code, file=file, line=line, column=col)


_CONSTRUCTOR = yaml.constructor.SafeConstructor()


_STR = "tag:yaml.org,2002:str"


def _scalar(node: yaml.ScalarNode, file: str = "") -> Any:
    try:
        return _CONSTRUCTOR.construct_object(node, deep=True)
    except (yaml.YAMLError, ValueError, OverflowError) as exc:
        # An unknown tag (!foo), or a value its form promises but does not hold (2026-13-45).
        kind = node.tag.rpartition(":")[2] if node.tag.startswith("tag:yaml.org") else node.tag
        raise _at(
            node,
            file,
            f"{node.value!r} cannot be read as {kind}",
            "spec-type",
            "quote the value to keep it as text, or correct it",
        ) from exc


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
    return _scalar(node, file)  # type: ignore[arg-type]


def _at(node: yaml.Node, file: str, message: str, code: str, hint: str = "") -> SpecError:
    line, column = node.start_mark.line + 1, node.start_mark.column + 1
    return SpecError(message, hint, code=code, file=file, line=line, column=column)
