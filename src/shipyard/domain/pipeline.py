"""Pipeline decisions: matrix expansion, the job graph, conditions and scheduling order.

Everything here works on plain data (``JobDef``) and never touches files, processes or the
clock; the executor asks these functions what to do next and reports what happened.

Node ids. A job without a matrix is one node whose id is the job name (``lint``). A matrix job
is one node per combination, ``job[key=value,...]`` with keys sorted so the id does not change
when keys are reordered in ``shipyard.yaml`` (``test[os=linux,python=3.11]``). Strings made of
letters, digits and ``._:/@+-`` appear bare; other values appear as JSON (``"a b"``, ``true``,
``null``). ``needs: [test]`` on another job means every combination of ``test``.

Conditions. ``if`` uses the expression language of ``expressions.py``. As in GitHub Actions, a
condition that calls none of ``success()``, ``failure()``, ``always()``, ``cancelled()`` is read
as ``success() && (condition)``. Here ``success()`` means every needed job succeeded (a matrix
job succeeded when none of its combinations failed or was cancelled and at least one ran), and
``failure()`` means some job upstream, needed directly or not, failed. Unlike GitHub, success()
looks only at the direct needs, so a job after an ``always()`` job that succeeded still runs.
A failure under ``continue-on-error`` counts as success downstream: ``needs.J.result`` is
``success`` and ``needs.J.outcome`` keeps ``failure``.

Scheduling. Ready nodes are ordered critical path first: by the longest chain of estimated
durations from the node to the end of the graph, ties broken by graph order. ``decide`` is the
plain function over a snapshot of states; ``Scheduler`` applies the same rules incrementally so
a run of thousands of nodes does not rescan the graph after every finished step.
"""

from __future__ import annotations

import difflib
import heapq
import itertools
import json
import math
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from enum import StrEnum
from typing import Any, Final

from shipyard.domain.durations import DurationInvalid, parse_seconds
from shipyard.domain.expressions import EvalContext, Expression, ExpressionError, parse_expression
from shipyard.errors import InputError

__all__ = [
    "DEFAULT_MAX_COMBINATIONS",
    "Decision",
    "Graph",
    "JobDef",
    "Node",
    "NodeState",
    "PipelineError",
    "Scheduler",
    "Skip",
    "build_graph",
    "critical_path",
    "decide",
    "expand_matrix",
    "graph_problems",
    "jobs_from_dict",
    "needs_context",
    "node_id",
    "parse_duration",
    "remaining_lengths",
    "retry_delay",
]

# GitHub Actions' limit; beyond it a job must opt in with `max-combinations`.
DEFAULT_MAX_COMBINATIONS: Final = 256
# Excludes may trim a larger product, but not an unbounded one: stop before building it.
_PRODUCT_HEADROOM: Final = 16


class PipelineError(InputError):
    """The pipeline definition cannot be run as written."""

    code = "pipeline-invalid"


# --- job definitions -------------------------------------------------------------------------


@dataclass(frozen=True)
class JobDef:
    """One job as written in ``shipyard.yaml``, after parsing; see ``from_dict``."""

    name: str
    run: str = ""
    needs: tuple[str, ...] = ()
    matrix: Mapping[str, tuple[Any, ...]] | None = None
    include: tuple[Mapping[str, Any], ...] = ()
    exclude: tuple[Mapping[str, Any], ...] = ()
    if_: str | None = None
    env: Mapping[str, str] = field(default_factory=dict)
    timeout_s: float | None = None
    retries: int = 0
    continue_on_error: bool = False
    inputs: tuple[str, ...] = ()
    outputs: tuple[str, ...] = ()
    tools: tuple[str, ...] = ()
    secrets: tuple[str, ...] = ()
    cache: bool = True
    sandbox: bool = False
    artifact: str | None = None
    working_directory: str | None = None
    max_combinations: int | None = None
    runs_on: tuple[str, ...] = ()  # where it may run: labels an executor matches to workers

    @property
    def is_matrix(self) -> bool:
        return self.matrix is not None or bool(self.include)

    @classmethod
    def from_dict(cls, name: str, data: Mapping[str, Any]) -> JobDef:
        """Build from the YAML mapping of one job; ``_`` and ``-`` in keys are interchangeable."""
        raw = {str(k).replace("_", "-").rstrip("-"): v for k, v in data.items()}
        unknown = sorted(set(raw) - _JOB_KEYS)
        if unknown:
            close = difflib.get_close_matches(unknown[0], sorted(_JOB_KEYS), n=1)
            hint = (
                f"did you mean {close[0]!r}?"
                if close
                else f"known keys: {', '.join(sorted(_JOB_KEYS))}"
            )
            raise PipelineError(f"job {name!r}: unknown key {unknown[0]!r}", hint)
        matrix, include, exclude = _matrix_from(name, raw.get("matrix"))
        timeout = raw.get("timeout", raw.get("timeout-s"))
        artifact = raw.get("artifact")
        directory = raw.get("working-directory")
        limit = raw.get("max-combinations")
        return cls(
            name=name,
            run=_text(name, "run", raw.get("run", "")),
            needs=_names(name, "needs", raw.get("needs")),
            matrix=matrix,
            include=include,
            exclude=exclude,
            if_=None if raw.get("if") is None else _condition_text(raw["if"]),
            env={str(k): _env_value(v) for k, v in _mapping(name, "env", raw.get("env")).items()},
            timeout_s=None
            if timeout is None
            else parse_duration(timeout, f"job {name!r}: timeout"),
            retries=_count(name, "retries", raw.get("retries", 0)),
            continue_on_error=_flag(name, "continue-on-error", raw.get("continue-on-error", False)),
            inputs=_names(name, "inputs", raw.get("inputs")),
            outputs=_names(name, "outputs", raw.get("outputs")),
            tools=_names(name, "tools", raw.get("tools")),
            secrets=_names(name, "secrets", raw.get("secrets")),
            cache=_flag(name, "cache", raw.get("cache", True)),
            sandbox=_flag(name, "sandbox", raw.get("sandbox", False)),
            artifact=None if artifact is None else _text(name, "artifact", artifact),
            working_directory=(
                None if directory is None else _text(name, "working-directory", directory)
            ),
            max_combinations=None if limit is None else _count(name, "max-combinations", limit),
            runs_on=_names(name, "runs-on", raw.get("runs-on")),
        )


_JOB_KEYS: Final = frozenset(
    [
        "run",
        "needs",
        "matrix",
        "if",
        "env",
        "timeout",
        "timeout-s",
        "retries",
        "continue-on-error",
        "inputs",
        "outputs",
        "tools",
        "secrets",
        "cache",
        "sandbox",
        "artifact",
        "working-directory",
        "max-combinations",
        "runs-on",
    ]
)


def jobs_from_dict(jobs: Mapping[str, Mapping[str, Any]]) -> list[JobDef]:
    """``pipeline.jobs`` of ``shipyard.yaml`` as ``JobDef``s, in the order written."""
    return [JobDef.from_dict(str(name), body or {}) for name, body in jobs.items()]


def _invalid(job: str, key: str, expected: str, value: object) -> PipelineError:
    return PipelineError(
        f"job {job!r}: {key} must be {expected}, got {value!r}",
        f"write {key} as {expected}",
    )


def _text(job: str, key: str, value: object) -> str:
    if not isinstance(value, str):
        raise _invalid(job, key, "a string", value)
    return value


def _condition_text(value: object) -> str:
    # YAML reads `if: true` as a boolean; the condition language spells it the same way.
    return json.dumps(value) if isinstance(value, bool) else str(value)


def _names(job: str, key: str, value: object) -> tuple[str, ...]:
    if value is None:
        return ()
    if isinstance(value, str):
        return (value,)
    if isinstance(value, Sequence) and all(isinstance(v, str) for v in value):
        return tuple(dict.fromkeys(value))  # drop repeats, keep order
    raise _invalid(job, key, "a string or a list of strings", value)


def _mapping(job: str, key: str, value: object) -> Mapping[str, Any]:
    if value is None:
        return {}
    if not isinstance(value, Mapping):
        raise _invalid(job, key, "a mapping", value)
    return value


def _env_value(value: object) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _flag(job: str, key: str, value: object) -> bool:
    if not isinstance(value, bool):
        raise _invalid(job, key, "true or false", value)
    return value


def _count(job: str, key: str, value: object) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise _invalid(job, key, "a whole number >= 0", value)
    return value


def _matrix_from(
    job: str, value: object
) -> tuple[
    Mapping[str, tuple[Any, ...]] | None,
    tuple[Mapping[str, Any], ...],
    tuple[Mapping[str, Any], ...],
]:
    if value is None:
        return None, (), ()
    body = dict(_mapping(job, "matrix", value))
    lists = []
    for key in ("include", "exclude"):
        entries = body.pop(key, None) or []
        if not isinstance(entries, Sequence) or not all(isinstance(e, Mapping) for e in entries):
            raise _invalid(job, f"matrix.{key}", "a list of mappings", entries)
        lists.append(tuple(dict(e) for e in entries))
    vectors = {str(k): tuple(v) if isinstance(v, list | tuple) else (v,) for k, v in body.items()}
    return (vectors or None), lists[0], lists[1]


def parse_duration(value: object, what: str = "duration") -> float:
    """Seconds from a number or text such as ``90s``, ``10m``, ``1h30m`` (domain/durations.py)."""
    try:
        return parse_seconds(value)
    except DurationInvalid as exc:
        raise PipelineError(
            f"{what}: {value!r} is not a duration ({exc.message})",
            "write a number of seconds or a duration such as 30s, 10m, 1h30m",
        ) from exc


# --- matrix ----------------------------------------------------------------------------------


def _canonical(value: object) -> str:
    """Identity of a matrix value: `true` is not `1`, and `'3.11'` is not `3.11`."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), default=str)


def _matches(combination: Mapping[str, Any], pattern: Mapping[str, Any]) -> bool:
    return all(
        k in combination and _canonical(combination[k]) == _canonical(v) for k, v in pattern.items()
    )


def expand_matrix(
    matrix: Mapping[str, Sequence[Any]] | None,
    include: Sequence[Mapping[str, Any]] = (),
    exclude: Sequence[Mapping[str, Any]] = (),
    *,
    max_combinations: int | None = None,
    job: str = "job",
) -> list[dict[str, Any]]:
    """Combinations of a matrix, by the rules of GitHub Actions.

    The product of the vectors is taken in the order written. Each ``exclude`` entry removes
    the combinations that have all of its key/value pairs. Then each ``include`` entry, in
    order, is merged into every remaining product combination whose original values it does
    not contradict (it may overwrite values added by an earlier include); an entry that fits no
    product combination becomes a combination of its own. Repeated combinations collapse.
    """
    limit = DEFAULT_MAX_COMBINATIONS if max_combinations is None else max_combinations
    vectors = {k: list(v) for k, v in (matrix or {}).items()}
    for key, values in vectors.items():
        if not values:
            raise PipelineError(
                f"job {job!r}: matrix key {key!r} has no values",
                f"give {key!r} at least one value, or remove it",
                code="matrix-invalid",
            )
    for entry in exclude:
        for key in entry:
            if key not in vectors:
                close = difflib.get_close_matches(key, list(vectors), n=1)
                raise PipelineError(
                    f"job {job!r}: matrix exclude names {key!r}, which is not a matrix key",
                    f"did you mean {close[0]!r}?" if close else "exclude only matrix keys",
                    code="matrix-invalid",
                )
    size = math.prod(len(v) for v in vectors.values()) if vectors else 0
    too_large_hint = (
        f"set `max-combinations: N` on job {job!r} to allow more, or add `exclude` entries"
    )
    if size > limit * _PRODUCT_HEADROOM:
        raise PipelineError(
            f"job {job!r}: matrix has {size} combinations before exclude, over {limit}",
            too_large_hint,
            code="matrix-too-large",
        )
    product: list[dict[str, Any]] = []
    if vectors:
        for row in itertools.product(*vectors.values()):
            combination = dict(zip(vectors, row, strict=True))
            if not any(_matches(combination, e) for e in exclude):
                product.append(combination)
    added: list[dict[str, Any]] = []
    for entry in include:
        fits = [
            c
            for c in product
            if all(_canonical(c[k]) == _canonical(v) for k, v in entry.items() if k in vectors)
        ]
        for combination in fits:
            combination.update(entry)
        if not fits:
            added.append(dict(entry))
    unique: dict[str, dict[str, Any]] = {}
    for combination in product + added:
        unique.setdefault(_canonical(combination), combination)
    result = list(unique.values())
    if len(result) > limit:
        raise PipelineError(
            f"job {job!r}: matrix has {len(result)} combinations, over the limit of {limit}",
            too_large_hint,
            code="matrix-too-large",
        )
    if not result:
        raise PipelineError(
            f"job {job!r}: matrix has no combinations left",
            "the exclude entries remove every combination; relax them or add include entries",
            code="matrix-empty",
        )
    return result


_BARE_VALUE = re.compile(r"[A-Za-z0-9._:/@+-]+")


def _format_value(value: object) -> str:
    if isinstance(value, str) and _BARE_VALUE.fullmatch(value):
        return value
    return _canonical(value)


def node_id(job: str, combination: Mapping[str, Any] | None = None) -> str:
    """``lint`` or ``test[os=linux,python=3.11]`` (keys sorted)."""
    if combination is None:
        return job
    return f"{job}[{_label(combination)}]"


def _label(combination: Mapping[str, Any]) -> str:
    return ",".join(f"{k}={_format_value(combination[k])}" for k in sorted(combination))


# --- graph -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Node:
    """One runnable unit: a job, or one matrix combination of a job."""

    id: str
    job: JobDef
    matrix: Mapping[str, Any]
    label: str  # "python=3.11"; "" outside a matrix
    needs: tuple[str, ...]  # node ids
    condition: Expression | None
    index: int  # position in graph order

    @property
    def name(self) -> str:
        return self.job.name


@dataclass(frozen=True)
class Graph:
    """Jobs expanded into nodes, in a topological order that follows the file where it can."""

    jobs: Mapping[str, JobDef]
    nodes: Mapping[str, Node]
    job_nodes: Mapping[str, tuple[str, ...]]
    dependents: Mapping[str, tuple[str, ...]]

    @property
    def order(self) -> tuple[str, ...]:
        return tuple(self.nodes)

    def ancestors(self, node_ids: Iterable[str]) -> frozenset[str]:
        """The given nodes and every node they need, directly or not."""
        seen: set[str] = set()
        stack = list(node_ids)
        while stack:
            current = stack.pop()
            if current not in seen:
                seen.add(current)
                stack.extend(self.nodes[current].needs)
        return frozenset(seen)


def _did_you_mean(name: str, choices: Iterable[str]) -> str:
    choices = sorted(choices)
    close = difflib.get_close_matches(name, choices, n=1)
    if close:
        return f"did you mean {close[0]!r}?"
    return f"known jobs: {', '.join(choices)}" if choices else "the pipeline has no other jobs"


def _find_cycle(jobs: Mapping[str, JobDef]) -> list[str] | None:
    """The first cycle met walking jobs in file order, as [a, b, c, a] (a needs b ...)."""
    white, grey, black = 0, 1, 2
    color = dict.fromkeys(jobs, white)
    for root in jobs:
        if color[root] != white:
            continue
        # Iterative depth-first search: deep chains must not hit the recursion limit.
        path: list[str] = [root]
        stack = [iter(jobs[root].needs)]
        color[root] = grey
        while stack:
            need = next(stack[-1], None)
            if need is None:
                color[path.pop()] = black
                stack.pop()
            elif color[need] == grey:
                return [*path[path.index(need) :], need]
            elif color[need] == white:
                color[need] = grey
                path.append(need)
                stack.append(iter(jobs[need].needs))
    return None


def _topological(jobs: Mapping[str, JobDef]) -> list[str]:
    position = {name: i for i, name in enumerate(jobs)}
    waiting = {name: len(job.needs) for name, job in jobs.items()}
    users: dict[str, list[str]] = {name: [] for name in jobs}
    for name, job in jobs.items():
        for need in job.needs:
            users[need].append(name)
    ready = [(position[n], n) for n, count in waiting.items() if count == 0]
    heapq.heapify(ready)
    order: list[str] = []
    while ready:
        _, name = heapq.heappop(ready)
        order.append(name)
        for user in users[name]:
            waiting[user] -= 1
            if waiting[user] == 0:
                heapq.heappush(ready, (position[user], user))
    return order


_NEEDS_FIELDS: Final = ("result", "outcome", "outputs")


def _check_references(job: JobDef, condition: Expression, keys: set[str]) -> None:
    folded_needs = {n.casefold(): n for n in job.needs}
    folded_keys = {k.casefold() for k in keys}
    for path in sorted(condition.references):
        if path[0] == "needs" and len(path) > 1:
            need = path[1]
            if need.casefold() not in folded_needs:
                raise PipelineError(
                    f"job {job.name!r}: condition reads needs.{need}, "
                    f"but {job.name!r} does not need {need!r}",
                    _did_you_mean(need, job.needs)
                    if job.needs
                    else f"add `needs: [{need}]` to job {job.name!r}",
                    code="pipeline-unknown-need",
                    details={"job": job.name, "need": need},
                )
            if len(path) > 2 and path[2] not in _NEEDS_FIELDS:
                raise PipelineError(
                    f"job {job.name!r}: condition reads needs.{need}.{path[2]}, "
                    "which does not exist",
                    f"use needs.{need}.result, needs.{need}.outcome or needs.{need}.outputs.NAME",
                    code="expression-invalid",
                )
        if path[0] == "matrix" and len(path) > 1 and path[1].casefold() not in folded_keys:
            close = difflib.get_close_matches(path[1], sorted(keys), n=1)
            raise PipelineError(
                f"job {job.name!r}: condition reads matrix.{path[1]}, "
                f"which is not a matrix key of {job.name!r}",
                f"did you mean matrix.{close[0]}?"
                if close
                else (
                    f"matrix keys: {', '.join(sorted(keys))}" if keys else "the job has no matrix"
                ),
                code="pipeline-unknown-matrix-key",
            )


def build_graph(jobs: Iterable[JobDef]) -> Graph:
    """Check the jobs (unknown needs, cycles, conditions) and expand them into nodes."""
    return _build_graph(jobs, _raise)


def graph_problems(jobs: Iterable[JobDef]) -> list[InputError]:
    """Every reason ``build_graph`` would refuse ``jobs``, not only the first.

    Each problem's ``details`` name the ``job`` and the ``key`` of that job it is about.
    """
    found: list[InputError] = []
    _build_graph(jobs, found.append)
    return found


def _raise(error: InputError) -> None:
    raise error


def _build_graph(jobs: Iterable[JobDef], report: Callable[[InputError], None]) -> Graph:
    """The graph; each problem goes to ``report``, which raises it, or notes it and lets the
    checks go on without the job or the need it is about."""
    by_name: dict[str, JobDef] = {}
    for job in jobs:
        if job.name in by_name:
            report(
                PipelineError(
                    f"job {job.name!r} is defined twice",
                    "rename one of them",
                    code="pipeline-duplicate-job",
                    details={"job": job.name},
                )
            )
            continue
        by_name[job.name] = job
    for job in list(by_name.values()):
        unknown = [need for need in job.needs if need not in by_name]
        for need in unknown:
            report(
                PipelineError(
                    f"job {job.name!r} needs {need!r}, which is not a job",
                    _did_you_mean(need, set(by_name) - {job.name}),
                    code="pipeline-unknown-need",
                    details={"job": job.name, "need": need, "key": "needs"},
                )
            )
        if unknown:
            by_name[job.name] = replace(job, needs=tuple(n for n in job.needs if n in by_name))
    while (cycle := _find_cycle(by_name)) is not None:
        text = " -> ".join(cycle)
        report(
            PipelineError(
                f"the jobs' needs form a cycle: {text}",
                "'a -> b' reads 'a needs b'; remove one of these needs to break the cycle",
                code="pipeline-cycle",
                details={"cycle": cycle, "job": cycle[0], "key": "needs"},
            )
        )
        # Still here, so problems are being collected: drop the need that closes the cycle
        # and look for the next one, then check each job as if it were not there.
        job = by_name[cycle[-2]]
        by_name[job.name] = replace(job, needs=tuple(n for n in job.needs if n != cycle[-1]))

    nodes: dict[str, Node] = {}
    job_nodes: dict[str, tuple[str, ...]] = {}
    for name in _topological(by_name):
        job = by_name[name]
        combinations: list[dict[str, Any]] | list[None]
        try:
            if job.is_matrix:
                combinations = expand_matrix(
                    job.matrix,
                    job.include,
                    job.exclude,
                    max_combinations=job.max_combinations,
                    job=name,
                )
            else:
                combinations = [None]
        except PipelineError as exc:
            exc.details.update(job=name, key="matrix")
            report(exc)
            continue
        condition = None
        if job.if_ is not None:
            try:
                condition = parse_expression(job.if_)
                keys = {k for c in combinations if c for k in c}
                _check_references(job, condition, keys)
            except ExpressionError as exc:
                error = ExpressionError(
                    f"job {name!r}: {exc.message}",
                    exc.hint,
                    expression=exc.expression,
                    column=exc.column,
                )
                error.details.update(job=name, key="if")
                report(error)
                continue
            except PipelineError as exc:
                exc.details.update(job=name, key="if")
                report(exc)
                continue
        needs = tuple(dict.fromkeys(n for need in job.needs for n in job_nodes.get(need, ())))
        ids: list[str] = []
        for combination in combinations:
            nid = node_id(name, combination)
            if nid in nodes:
                report(
                    PipelineError(
                        f"job {name!r}: two matrix combinations are both named {nid}",
                        "quote matrix values consistently, e.g. '3.10' rather than 3.10",
                        code="matrix-ambiguous",
                        details={"job": name, "key": "matrix"},
                    )
                )
                break
            nodes[nid] = Node(
                id=nid,
                job=job,
                matrix=combination or {},
                label="" if combination is None else _label(combination),
                needs=needs,
                condition=condition,
                index=len(nodes),
            )
            ids.append(nid)
        job_nodes[name] = tuple(ids)

    dependents: dict[str, list[str]] = {nid: [] for nid in nodes}
    for node in nodes.values():
        for need in node.needs:
            dependents[need].append(node.id)
    return Graph(
        jobs=by_name,
        nodes=nodes,
        job_nodes={name: job_nodes.get(name, ()) for name in by_name},
        dependents={k: tuple(v) for k, v in dependents.items()},
    )


# --- critical path ---------------------------------------------------------------------------


def _duration(node: Node, durations: Mapping[str, float]) -> float:
    return float(durations.get(node.id, durations.get(node.name, 1.0)))


def remaining_lengths(
    graph: Graph, durations: Mapping[str, float] | None = None
) -> dict[str, float]:
    """For each node, its duration plus the longest chain of durations that depends on it.

    ``durations`` is keyed by node id or, for all combinations of a job, by job name; a node
    missing from it counts 1.
    """
    durations = durations or {}
    remaining: dict[str, float] = {}
    for nid in reversed(graph.order):
        tail = max((remaining[d] for d in graph.dependents[nid]), default=0.0)
        remaining[nid] = _duration(graph.nodes[nid], durations) + tail
    return remaining


def critical_path(
    graph: Graph, durations: Mapping[str, float] | None = None
) -> tuple[tuple[str, ...], float]:
    """The longest chain of nodes by duration, and its total; ``((), 0.0)`` for no nodes."""
    remaining = remaining_lengths(graph, durations)
    if not remaining:
        return (), 0.0
    roots = [nid for nid in graph.order if not graph.nodes[nid].needs]
    current = max(roots, key=lambda n: (remaining[n], -graph.nodes[n].index))
    path = [current]
    while graph.dependents[current]:
        current = max(
            graph.dependents[current], key=lambda n: (remaining[n], -graph.nodes[n].index)
        )
        path.append(current)
    return tuple(path), remaining[path[0]]


# --- conditions and scheduling ---------------------------------------------------------------


class NodeState(StrEnum):
    RUNNING = "running"
    SUCCESS = "success"
    FAILURE = "failure"
    SKIPPED = "skipped"
    CANCELLED = "cancelled"


_TERMINAL: Final = frozenset(
    {NodeState.SUCCESS, NodeState.FAILURE, NodeState.SKIPPED, NodeState.CANCELLED}
)


@dataclass(frozen=True)
class Skip:
    """A node that will not run: ``state`` is SKIPPED, or CANCELLED when the run was cancelled."""

    node: str
    state: NodeState
    reason: str


@dataclass(frozen=True)
class Decision:
    """What to do now: start ``start`` in this order, record ``skip``; ``done`` ends the run."""

    start: tuple[str, ...]
    skip: tuple[Skip, ...]
    done: bool


def _effective(node: Node, state: NodeState) -> NodeState:
    if state is NodeState.FAILURE and node.job.continue_on_error:
        return NodeState.SUCCESS
    return state


def _aggregate(states: Iterable[NodeState]) -> NodeState:
    seen = set(states)
    for state in (NodeState.FAILURE, NodeState.CANCELLED):
        if state in seen:
            return state
    return NodeState.SUCCESS if NodeState.SUCCESS in seen else NodeState.SKIPPED


def needs_context(
    graph: Graph,
    nid: str,
    states: Mapping[str, NodeState],
    outputs: Mapping[str, Mapping[str, str]] | None = None,
) -> dict[str, Any]:
    """``needs`` as a condition sees it: ``{job: {result, outcome, outputs}}``.

    A matrix job keeps one output set per combination, so its ``outputs.NAME`` is an object
    from combination label to value: ``needs.test.outputs.report['python=3.11']``.
    """
    outputs = outputs or {}
    context: dict[str, Any] = {}
    for need in graph.nodes[nid].job.needs:
        members = [graph.nodes[n] for n in graph.job_nodes[need]]
        raw = [states.get(m.id, NodeState.SKIPPED) for m in members]
        entry: dict[str, Any] = {
            "result": str(_aggregate(_effective(m, s) for m, s in zip(members, raw, strict=True))),
            "outcome": str(_aggregate(raw)),
        }
        if graph.jobs[need].is_matrix:
            merged: dict[str, dict[str, str]] = {}
            for member in members:
                for key, value in outputs.get(member.id, {}).items():
                    merged.setdefault(key, {})[member.label] = value
            entry["outputs"] = merged
        else:
            entry["outputs"] = dict(outputs.get(members[0].id, {}))
        context[need] = entry
    return context


_BLOCKED_BY: Final = {
    NodeState.FAILURE: "failed",
    NodeState.SKIPPED: "was skipped",
    NodeState.CANCELLED: "was cancelled",
}


def _resolve(
    graph: Graph,
    node: Node,
    states: Mapping[str, NodeState],
    failed_upstream: bool,
    outputs: Mapping[str, Mapping[str, str]],
    env: Mapping[str, str],
    cancelled: bool,
) -> Skip | None:
    """Decide a node whose needs have all ended: None to run it, else why it will not."""
    blocked: list[str] = []
    for need in node.job.needs:
        members = graph.job_nodes[need]
        result = _aggregate(_effective(graph.nodes[m], states[m]) for m in members)
        if result is not NodeState.SUCCESS:
            blocked.append(f"needed job {need!r} {_BLOCKED_BY[result]}")
    success = not blocked and not cancelled
    condition = node.condition
    off = NodeState.CANCELLED if cancelled else NodeState.SKIPPED
    # Without a status function the condition is read as `success() && (condition)`.
    if not success and (condition is None or not condition.uses_status_function):
        return Skip(node.id, off, "run cancelled" if cancelled else "; ".join(blocked))
    if condition is None:
        return None
    ctx = EvalContext(
        env={**env, **node.job.env},
        matrix=node.matrix,
        needs=needs_context(graph, node.id, states, outputs) if node.job.needs else {},
        success=success,
        failure=failed_upstream,
        cancelled=cancelled,
    )
    if condition.is_true(ctx):
        return None
    return Skip(node.id, off, f"condition is false: {condition.source}")


def _is_failed(node: Node, state: NodeState) -> bool:
    return _effective(node, state) is NodeState.FAILURE


def decide(
    graph: Graph,
    states: Mapping[str, NodeState],
    *,
    outputs: Mapping[str, Mapping[str, str]] | None = None,
    env: Mapping[str, str] | None = None,
    durations: Mapping[str, float] | None = None,
    cancelled: bool = False,
) -> Decision:
    """Which nodes to start and which to skip, given the state of every node so far.

    ``states`` maps node ids to their state; a node absent from it has not started. Skips
    cascade within one call: a node whose needs were all just skipped is skipped too.
    """
    outputs, env = outputs or {}, env or {}
    unknown = set(states) - set(graph.nodes)
    if unknown:
        raise ValueError(f"states name nodes not in the graph: {sorted(unknown)}")
    view: dict[str, NodeState] = dict(states)
    upstream: dict[str, bool] = {}
    start: list[str] = []
    skips: list[Skip] = []
    for nid, node in graph.nodes.items():
        upstream[nid] = any(
            upstream[n] or _is_failed(graph.nodes[n], view[n]) for n in node.needs if n in view
        )
        if nid in view:
            continue
        if any(view.get(n) not in _TERMINAL for n in node.needs):
            continue
        skip = _resolve(graph, node, view, upstream[nid], outputs, env, cancelled)
        if skip is None:
            start.append(nid)
        else:
            skips.append(skip)
            view[nid] = skip.state
    remaining = remaining_lengths(graph, durations)
    start.sort(key=lambda n: (-remaining[n], graph.nodes[n].index))
    done = not start and all(view.get(n) in _TERMINAL for n in graph.nodes)
    return Decision(tuple(start), tuple(skips), done)


class Scheduler:
    """The rules of ``decide`` applied incrementally for one run.

    The caller loops: ``poll(free_slots)`` returns nodes to start (now counted as running) and
    the skips decided since the last poll; ``finish(node, state, outputs)`` reports a result.
    Each call costs time in proportion to the nodes it touches, not to the graph.
    """

    def __init__(
        self,
        graph: Graph,
        *,
        env: Mapping[str, str] | None = None,
        durations: Mapping[str, float] | None = None,
        states: Mapping[str, NodeState] | None = None,
        outputs: Mapping[str, Mapping[str, str]] | None = None,
    ) -> None:
        """``states``/``outputs`` carry results over, e.g. when re-running only failed nodes."""
        self.graph = graph
        self.env: Mapping[str, str] = env or {}
        self.cancelled = False
        self.states: dict[str, NodeState] = {}
        self.outputs: dict[str, Mapping[str, str]] = dict(outputs or {})
        self._remaining = remaining_lengths(graph, durations)
        self._waiting = {nid: len(node.needs) for nid, node in graph.nodes.items()}
        self._upstream = dict.fromkeys(graph.nodes, False)
        self._ready: list[tuple[float, int, str]] = []
        self._skips: list[Skip] = []
        self._open = len(graph.nodes)
        carried = states or {}
        for nid, state in carried.items():
            if state not in _TERMINAL:
                raise ValueError(f"carried-over state of {nid} must be final, got {state}")
            self._close(nid, state)
        nodes = graph.nodes
        for nid in graph.order:
            needs = nodes[nid].needs
            self._waiting[nid] = sum(1 for n in needs if n not in self.states)
            self._upstream[nid] = any(
                self._upstream[n] or _is_failed(nodes[n], self.states[n])
                for n in needs
                if n in self.states
            )
        # Nodes ready from the start; propagation below never reaches these again.
        initial = [n for n in graph.order if n not in self.states and self._waiting[n] == 0]
        for nid in initial:
            self._consider(nid)

    @property
    def done(self) -> bool:
        return self._open == 0

    def poll(self, limit: int | None = None) -> Decision:
        """Take up to ``limit`` ready nodes, most critical first, and the skips decided since."""
        start: list[str] = []
        while self._ready and (limit is None or len(start) < limit):
            _, _, nid = heapq.heappop(self._ready)
            self.states[nid] = NodeState.RUNNING
            start.append(nid)
        index = self.graph.nodes
        skips = tuple(sorted(self._skips, key=lambda skip: index[skip.node].index))
        self._skips = []
        return Decision(tuple(start), skips, self.done)

    def finish(self, nid: str, state: NodeState, outputs: Mapping[str, str] | None = None) -> None:
        if state not in _TERMINAL:
            raise ValueError(f"finish() needs a final state, got {state}")
        if self.states.get(nid) is not NodeState.RUNNING:
            raise ValueError(f"{nid} is not running")
        if outputs:
            self.outputs[nid] = outputs
        self._settle(nid, state)

    def cancel(self) -> None:
        """Cancel the run: ready nodes not yet started are decided again with cancelled()."""
        if self.cancelled:
            return
        self.cancelled = True
        pending = sorted(self._ready, key=lambda item: self.graph.nodes[item[2]].index)
        self._ready = []
        for _, _, nid in pending:
            self._consider(nid)

    def _close(self, nid: str, state: NodeState) -> None:
        self.states[nid] = state
        self._open -= 1

    def _settle(self, nid: str, state: NodeState) -> None:
        self._close(nid, state)
        self._propagate(nid)

    def _propagate(self, nid: str) -> None:
        """Tell the dependents of a node that just ended; cascade skips iteratively."""
        nodes = self.graph.nodes
        stack = [nid]
        while stack:
            current = stack.pop()
            failed = self._upstream[current] or _is_failed(nodes[current], self.states[current])
            for dependent in self.graph.dependents[current]:
                self._upstream[dependent] = self._upstream[dependent] or failed
                self._waiting[dependent] -= 1
                if self._waiting[dependent] == 0 and dependent not in self.states:
                    skip = self._decide(dependent)
                    if skip is not None:
                        self._skips.append(skip)
                        self._close(dependent, skip.state)
                        stack.append(dependent)

    def _decide(self, nid: str) -> Skip | None:
        """Decide a node whose needs have ended: queue it as ready, or return its skip."""
        node = self.graph.nodes[nid]
        skip = _resolve(
            self.graph,
            node,
            self.states,
            self._upstream[nid],
            self.outputs,
            self.env,
            self.cancelled,
        )
        if skip is None:
            heapq.heappush(self._ready, (-self._remaining[nid], node.index, nid))
        return skip

    def _consider(self, nid: str) -> None:
        skip = self._decide(nid)
        if skip is not None:
            self._skips.append(skip)
            self._settle(nid, skip.state)


# --- retries ---------------------------------------------------------------------------------


def retry_delay(
    attempt: int,
    *,
    base: float = 1.0,
    factor: float = 2.0,
    cap: float = 60.0,
    jitter: float | None = None,
) -> float:
    """Seconds to wait before retry number ``attempt`` (1 for the first retry).

    ``base * factor ** (attempt - 1)``, at most ``cap``. The caller may pass ``jitter`` in
    [0, 1) from its own random source to spread retries of many steps: the delay then falls
    between half and all of the computed value.
    """
    if attempt < 1:
        raise ValueError("attempt counts from 1")
    if jitter is not None and not 0 <= jitter < 1:
        raise ValueError("jitter must be in [0, 1)")
    # Bound the exponent: beyond it the cap applies anyway, and floats would overflow.
    exponent = min(attempt - 1, 1024)
    try:
        delay = min(cap, base * factor**exponent)
    except OverflowError:
        delay = cap
    if jitter is not None:
        delay *= 0.5 + jitter / 2
    return delay
