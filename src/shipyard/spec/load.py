"""Load and validate shipyard.yaml; every problem names file:line:column and a way out."""

from __future__ import annotations

import difflib
import re
import types
import typing
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ValidationError

from shipyard.errors import SpecError, SpecNotFound
from shipyard.settings import SPEC_NAME, find_project_root
from shipyard.spec.models import Spec
from shipyard.spec.source import Located, Path_, parse


def find_spec(start: Path | None = None, file: Path | None = None) -> Path:
    if file is not None:
        if not file.is_file():
            raise SpecNotFound(f"{file} does not exist", "check the path given to --file")
        return file
    root = find_project_root(start)
    if root is None:
        where = (start or Path.cwd()).resolve()
        raise SpecNotFound(f"no {SPEC_NAME} in {where} or any parent folder")
    return root / SPEC_NAME


def load_spec(path: Path) -> Spec:
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError as exc:
        raise SpecNotFound(f"{path} does not exist") from exc
    except (OSError, UnicodeDecodeError) as exc:
        raise SpecError(
            f"cannot read {path}: {exc}", "", code="spec-unreadable", file=str(path)
        ) from exc
    return parse_spec(text, str(path))


def parse_spec(text: str, file: str = SPEC_NAME) -> Spec:
    located = parse(text, file)
    if not isinstance(located.data, dict):
        raise located.error(
            (), "shipyard.yaml must be a mapping at the top level", code="spec-type"
        )
    try:
        spec = Spec.model_validate(located.data)
    except ValidationError as exc:
        raise _translate(exc, located) from None
    _check_references(spec, located)
    return spec


def _normalise(loc: tuple[Any, ...], data: Any) -> Path_:
    """Drop the union-member names pydantic puts in ``loc`` so it follows the YAML's shape."""
    out: list[str | int] = []
    last = len(loc) - 1
    for i, part in enumerate(loc):
        in_dict = isinstance(data, dict) and part in data
        in_list = isinstance(data, list) and isinstance(part, int) and 0 <= part < len(data)
        if in_dict or in_list:
            data = data[part]
            out.append(part)
        elif part == "__root__":
            continue
        elif i == last and isinstance(part, str):
            out.append(part)  # a missing or unknown key: keep it, its parent locates it
    return tuple(out)


def _translate(exc: ValidationError, located: Located) -> SpecError:
    errors = exc.errors()

    # An unknown key usually explains the rest (a misspelt required key), so it goes first;
    # otherwise file order, which is where a reader looks first.
    def position(err: Any) -> tuple[bool, tuple[int, int]]:
        unknown = err["type"] == "extra_forbidden"
        path = _normalise(err["loc"], located.data)
        return (not unknown, located.where(path, key=unknown) or (0, 0))

    errors.sort(key=position)
    err = errors[0]
    path = _normalise(err["loc"], located.data)
    dotted = ".".join(str(p) for p in path) or "(top level)"
    more = f" ({len(errors) - 1} more problem(s) after this one)" if len(errors) > 1 else ""
    if err["type"] == "extra_forbidden":
        key = str(path[-1])
        allowed = _allowed_keys(Spec, path[:-1], located.data)
        close = difflib.get_close_matches(key, allowed, n=1, cutoff=0.6)
        hint = (
            f"did you mean '{close[0]}'?"
            if close
            else f"valid keys here: {', '.join(sorted(allowed))}"
        )
        return located.error(
            path, f"unknown key '{key}'{more}", hint, code="spec-unknown-key", key=True
        )
    if err["type"] == "missing":
        parent = ".".join(str(p) for p in path[:-1])
        return located.error(
            path[:-1],
            f"required key '{path[-1]}' is missing" + (f" in {parent}" if parent else "") + more,
            f"add '{path[-1]}:' here",
            code="spec-missing-key",
        )
    msg = re.sub(r" or instance of \w+", "", err["msg"].removeprefix("Value error, "))
    given = err.get("input")
    shown = f" (got {given!r})" if isinstance(given, str | int | float | bool) else ""
    return located.error(path, f"{dotted}: {msg}{shown}{more}", _type_hint(err), code="spec-type")


def _type_hint(err: Any) -> str:
    t = err["type"]
    if t.startswith(("int_", "float_")):
        return "use a number"
    if t.startswith("bool"):
        return "use true or false"
    if t in ("string_type",):
        return "use a string; quote it if YAML reads it as something else"
    if t in ("dict_type", "model_type", "model_attributes_type"):
        return "use a mapping (key: value lines)"
    if t == "list_type":
        return "use a list ([a, b] or '- item' lines)"
    if t == "string_pattern_mismatch":
        return "names use letters, digits, '.', '_' and '-', starting with a letter or digit"
    return "see docs/shipyard-yaml.md for this key"


def _allowed_keys(model: Any, path: Path_, data: Any) -> list[str]:
    """The keys a mapping at ``path`` accepts, by walking the models the way the data goes."""
    tp: Any = model
    for part in path:
        if isinstance(data, dict):
            data = data.get(part)
        elif isinstance(data, list) and isinstance(part, int):
            data = data[part] if part < len(data) else None
        tp = _step(tp, part)
        if tp is None:
            return []
    model_cls = _model_of(tp, data)
    if model_cls is None:
        return []
    return [f.alias or name for name, f in model_cls.model_fields.items()]


def _unwrap(tp: Any) -> list[Any]:
    origin = typing.get_origin(tp)
    if origin is typing.Annotated:
        return _unwrap(typing.get_args(tp)[0])
    if origin in (typing.Union, types.UnionType):
        return [u for a in typing.get_args(tp) for u in _unwrap(a)]
    return [tp]


def _model_of(tp: Any, data: Any) -> type[BaseModel] | None:
    models = [t for t in _unwrap(tp) if isinstance(t, type) and issubclass(t, BaseModel)]
    if len(models) > 1 and isinstance(data, dict) and "type" in data:
        for m in models:
            ann = m.model_fields.get("type")
            if ann is not None and data["type"] in typing.get_args(ann.annotation):
                return m
    return models[0] if models else None


def _step(tp: Any, part: str | int) -> Any:
    for t in _unwrap(tp):
        if isinstance(t, type) and issubclass(t, BaseModel) and isinstance(part, str):
            for name, f in t.model_fields.items():
                if part in (name, f.alias):
                    return f.annotation
        origin = typing.get_origin(t)
        if origin is dict:
            return typing.get_args(t)[1]
        if origin is list and isinstance(part, int):
            return typing.get_args(t)[0]
    return None


def _check_references(spec: Spec, located: Located) -> None:
    """Names that point at other names must point at something that exists."""
    jobs = spec.pipeline.jobs
    for name, job in jobs.items():
        for i, need in enumerate(job.needs):
            if need not in jobs:
                raise located.error(
                    ("pipeline", "jobs", name, "needs", i),
                    f"job '{name}' needs '{need}', which is not a job",
                    _suggest(need, jobs),
                    code="spec-unknown-reference",
                )
    envs = spec.environments
    for name, env in envs.items():
        if env.promote_from is not None and env.promote_from not in envs:
            raise located.error(
                ("environments", name, "promote_from"),
                f"environment '{name}' promotes from '{env.promote_from}', which is not defined",
                _suggest(env.promote_from, envs),
                code="spec-unknown-reference",
            )
        used = []
        s = env.strategy
        if s.canary:
            used += [
                (("canary", "steps", i, "analysis"), st.analysis)
                for i, st in enumerate(s.canary.steps)
            ]
        if s.blue_green:
            used += [
                (("blue-green", "pre_promotion_analysis"), s.blue_green.pre_promotion_analysis),
                (("blue-green", "post_promotion_analysis"), s.blue_green.post_promotion_analysis),
            ]
        if s.rings:
            used += [
                (("rings", "waves", i, "analysis"), w.analysis) for i, w in enumerate(s.rings.waves)
            ]
        for sub, ref in used:
            if ref is not None and ref not in spec.analysis:
                raise located.error(
                    ("environments", name, "strategy", *sub),
                    f"analysis '{ref}' is not defined under 'analysis:'",
                    _suggest(ref, spec.analysis),
                    code="spec-unknown-reference",
                )
    for name in envs:
        chain, cur = [name], envs[name].promote_from
        while cur is not None:
            if cur in chain:
                raise located.error(
                    ("environments", name, "promote_from"),
                    "promotion chain loops: " + " -> ".join([*chain, cur]),
                    "one environment in the chain must have no promote_from",
                    code="spec-promotion-cycle",
                )
            chain.append(cur)
            cur = envs[cur].promote_from if cur in envs else None


def _suggest(name: str, options: Any) -> str:
    close = difflib.get_close_matches(name, list(options), n=1, cutoff=0.6)
    if close:
        return f"did you mean '{close[0]}'?"
    return f"defined: {', '.join(sorted(options)) or 'none'}"
