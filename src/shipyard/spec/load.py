"""Load and validate shipyard.yaml; every problem names file:line:column, its key and a way out.

``parse_spec`` (every command) checks the YAML, the schema and the names that refer to other
names. ``check_spec`` (`shipyard validate`) adds what `run`, `deploy`, `freeze` and `train`
would refuse later, asking the same functions they ask (``spec/checks.py``). Either reports
every problem it finds in one go (``SpecProblems``), in file order.
"""

from __future__ import annotations

import copy
import difflib
import re
import types
import typing
from collections.abc import Collection, Sequence
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ValidationError

from shipyard.errors import ShipyardError, SpecError, SpecNotFound, SpecProblems
from shipyard.settings import SPEC_NAME, find_project_root
from shipyard.spec.base import NAME_RE
from shipyard.spec.models import Spec
from shipyard.spec.source import Located, Path_, check_size, dotted, parse

Problem = tuple[Path_, SpecError]


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


def read_spec(path: Path) -> str:
    """The text of ``path``, refused unread when it is over the size limit."""
    try:
        check_size(path.stat().st_size, str(path))
        return path.read_text(encoding="utf-8")
    except FileNotFoundError as exc:
        raise SpecNotFound(f"{path} does not exist") from exc
    except (OSError, UnicodeDecodeError) as exc:
        raise SpecError(
            f"cannot read {path}: {exc}", "", code="spec-unreadable", file=str(path)
        ) from exc


def load_spec(path: Path) -> Spec:
    return parse_spec(read_spec(path), str(path))


def check_file(path: Path) -> Spec:
    """`shipyard validate`: ``load_spec`` and everything later commands would refuse."""
    return check_spec(read_spec(path), str(path))


def parse_spec(text: str, file: str = SPEC_NAME) -> Spec:
    """The spec; otherwise every problem of its YAML, schema and references at once."""
    return _checked(text, file, deep=False)


def check_spec(text: str, file: str = SPEC_NAME) -> Spec:
    """``parse_spec``, and everything `run`, `deploy`, `freeze` and `train` would refuse later."""
    return _checked(text, file, deep=True)


def _checked(text: str, file: str, *, deep: bool) -> Spec:
    located = parse(text, file)
    if not isinstance(located.data, dict):
        raise located.error(
            (), "shipyard.yaml must be a mapping at the top level", code="spec-type"
        )
    found: list[Problem] = []
    stood_in: list[Path_] = []
    spec: Spec | None = None
    try:
        spec = Spec.model_validate(located.data)
    except ValidationError as exc:
        found = _translate(exc, located)
        if deep:  # look further, in a copy with stand-ins where the schema failed
            spec, stood_in = _with_stand_ins(located.data, [path for path, _ in found])
    if spec is not None:
        more = _check_references(spec, located)
        if deep and not any(e.code == "spec-promotion-cycle" for _, e in more):
            from shipyard.spec.checks import problems

            more += [(path, _located(located, path, exc)) for path, exc in problems(spec)]
        found += [(path, e) for path, e in more if not _under(path, stood_in)]
    if not found:
        assert spec is not None
        return spec
    found.sort(key=lambda pe: (pe[1].line or 0, pe[1].column or 0))
    unique: dict[tuple[str, str], SpecError] = {}
    for path, error in found:
        unique.setdefault((dotted(path), error.message), error)
    errors = list(unique.values())
    raise errors[0] if len(errors) == 1 else SpecProblems(errors)


def _located(located: Located, path: Path_, exc: ShipyardError) -> SpecError:
    """A check's error at the position of ``path``, its message led by the key."""
    return located.error(path, f"{dotted(path)}: {exc.message}", exc.hint, code=exc.code)


def _under(path: Path_, parents: list[Path_]) -> bool:
    """Whether ``path`` is in a part a stand-in replaced, and not in what the stand-in kept."""
    for parent in parents:
        n = len(parent)
        if path[:n] == parent and not (len(path) > n and path[n] in ("needs", "promote_from")):
            return True
    return False


# -- stand-ins: the rest of a file is checked even where its schema fails ------------------------


def _with_stand_ins(data: Any, paths: list[Path_]) -> tuple[Spec | None, list[Path_]]:
    """A spec from a copy of ``data`` whose invalid parts are replaced by stand-ins that
    validate, and the paths replaced; None when no stand-ins make it valid."""
    data = copy.deepcopy(data)
    replaced: list[Path_] = []
    for _ in range(3):  # a stand-in can uncover a problem its parent hid; few levels exist
        for path in paths:
            unit = _stand_in(data, path)
            if unit is None:
                return None, replaced
            replaced.append(unit)
        try:
            return Spec.model_validate(data), replaced
        except ValidationError as exc:
            paths = [_normalise(err["loc"], data) for err in exc.errors()]
    return None, replaced


_STAND_IN_FREEZE = {"name": "stand-in", "start": "2000-01-01", "end": "2000-01-02"}


def _stand_in(data: dict[str, Any], path: Path_) -> Path_ | None:
    """Replace the part of ``data`` that holds ``path`` with something valid that keeps what
    other parts refer to (a job's needs, an environment's promote_from); its path, or None."""
    if not path or not isinstance(path[0], str):
        return None
    top = path[0]
    section = data.get(top)
    name = path[1] if len(path) > 1 else None
    entry_key = path[-1] == "[key]"  # the name of an entry is what is wrong
    if top == "project":
        data["project"] = "project"
        return ("project",)
    if (
        top == "pipeline"
        and name == "jobs"
        and len(path) > 2
        and not entry_key
        and isinstance(section, dict)
        and isinstance(section.get("jobs"), dict)
        and path[2] in section["jobs"]
    ):
        jobs = section["jobs"]
        job = jobs[path[2]]
        needs = job.get("needs") if isinstance(job, dict) else None
        jobs[path[2]] = {"run": ":", "needs": needs if _strings(needs) else []}
        return path[:3]
    if (
        top in ("environments", "analysis", "flags")
        and isinstance(section, dict)
        and name in section
    ):
        if entry_key:
            del section[name]
            return path[:2]
        entry = section[name]
        source = entry.get("promote_from") if isinstance(entry, dict) else None
        keep = top == "environments" and isinstance(source, str) and re.match(NAME_RE, source)
        section[name] = {"promote_from": source} if keep else {}
        return path[:2]
    if top == "release" and isinstance(section, dict) and name in section:
        freezes = section[name]
        if name == "freezes" and len(path) > 2 and isinstance(path[2], int):
            freezes[path[2]] = dict(_STAND_IN_FREEZE)  # the others keep their positions
            return path[:3]
        del section[name]
        return path[:2]
    if top in ("config", "secrets") and isinstance(section, dict) and name in section:
        del section[name]
        return path[:2]
    if top in data:
        del data[top]
        return (top,)
    return None


def _strings(value: Any) -> bool:
    return isinstance(value, str) or (
        isinstance(value, list) and all(isinstance(v, str) for v in value)
    )


# -- the schema's errors -------------------------------------------------------------------------


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


def _translate(exc: ValidationError, located: Located) -> list[Problem]:
    """Each of pydantic's errors as a SpecError, one per path: a value that matches no member
    of a union gets an error per member, and the first says most."""
    out: dict[Path_, SpecError] = {}
    for err in exc.errors():
        path = _normalise(err["loc"], located.data)
        if path not in out:
            out[path] = _one(err, path, located)
    return list(out.items())


def _one(err: Any, path: Path_, located: Located) -> SpecError:
    if err["type"] == "extra_forbidden":
        key = str(path[-1])
        allowed = _allowed_keys(Spec, path[:-1], located.data)
        close = difflib.get_close_matches(key, allowed, n=1, cutoff=0.6)
        hint = (
            f"did you mean '{close[0]}'?"
            if close
            else f"valid keys here: {', '.join(sorted(allowed))}"
        )
        return located.error(path, f"unknown key '{key}'", hint, code="spec-unknown-key", key=True)
    if err["type"] == "missing":
        parent = dotted(path[:-1])
        error = located.error(
            path[:-1],
            f"required key '{path[-1]}' is missing" + (f" in {parent}" if parent else ""),
            f"add '{path[-1]}:' here",
            code="spec-missing-key",
        )
        error.details["key"] = dotted(path)
        return error
    msg = re.sub(r" or instance of \w+", "", err["msg"].removeprefix("Value error, "))
    given = err.get("input")
    shown = f" (got {given!r})" if isinstance(given, str | int | float | bool) else ""
    where = dotted(path) or "(top level)"
    return located.error(path, f"{where}: {msg}{shown}", _type_hint(err), code="spec-type")


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


# -- names that refer to other names -------------------------------------------------------------


def _check_references(spec: Spec, located: Located) -> list[Problem]:
    """Names that point at other names must point at something that exists."""
    found: list[Problem] = []

    def problem(path: Path_, message: str, hint: str, code: str = "spec-unknown-reference") -> None:
        found.append((path, located.error(path, message, hint, code=code)))

    def unknown(
        where: Path_, refs: Sequence[str], defined: Collection[str], says: tuple[str, str]
    ) -> None:
        """A problem for each of ``refs`` (at ``where`` and its index) not in ``defined``:
        the two parts of ``says`` around the quoted name."""
        before, after = says
        for j, ref in enumerate(refs):
            if ref not in defined:
                problem((*where, j), f"{before}'{ref}', {after}", _suggest(ref, defined))

    jobs = spec.pipeline.jobs
    for name, job in jobs.items():
        says = (f"job '{name}' needs ", "which is not a job")
        unknown(("pipeline", "jobs", name, "needs"), job.needs, jobs, says)
    envs = spec.environments
    for name, env in envs.items():
        if env.promote_from is not None and env.promote_from not in envs:
            problem(
                ("environments", name, "promote_from"),
                f"environment '{name}' promotes from '{env.promote_from}', which is not defined",
                _suggest(env.promote_from, envs),
            )
        used: list[tuple[Path_, str | None]] = []
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
                problem(
                    ("environments", name, "strategy", *sub),
                    f"analysis '{ref}' is not defined under 'analysis:'",
                    _suggest(ref, spec.analysis),
                )
    looped: set[str] = set()
    for name in envs:
        chain, cur = [name], envs[name].promote_from
        while cur is not None:
            if cur in chain:
                if not looped & set(chain):  # one report per loop
                    problem(
                        ("environments", name, "promote_from"),
                        "promotion chain loops: " + " -> ".join([*chain, cur]),
                        "one environment in the chain must have no promote_from",
                        code="spec-promotion-cycle",
                    )
                looped.update(chain)
                break
            chain.append(cur)
            cur = envs[cur].promote_from if cur in envs else None
    built = {job.artifact for job in jobs.values() if job.artifact}
    seen: set[str] = set()
    for i, target in enumerate(spec.release.publish):
        if target.label in seen:
            problem(
                ("release", "publish", i),
                f"two publish targets are called '{target.label}'",
                "give each a distinct `name:`; `shipyard artifacts push --to NAME` picks one",
                code="spec-duplicate-key",
            )
        seen.add(target.label)
        says = (f"publish target '{target.label}' names artifact ", "which no job builds")
        unknown(("release", "publish", i, "artifacts"), target.artifacts, built, says)
    for name, service in spec.release.services.items():
        says = (f"service '{name}' names artifact ", "which no job builds")
        unknown(("release", "services", name, "artifacts"), service.artifacts, built, says)
    for i, freeze in enumerate(spec.release.freezes):
        says = (f"freeze '{freeze.name}' names environment ", "which is not defined")
        unknown(("release", "freezes", i, "environments"), freeze.environments, envs, says)
    return found


def _suggest(name: str, options: Any) -> str:
    close = difflib.get_close_matches(name, list(options), n=1, cutoff=0.6)
    if close:
        return f"did you mean '{close[0]}'?"
    return f"defined: {', '.join(sorted(options)) or 'none'}"
