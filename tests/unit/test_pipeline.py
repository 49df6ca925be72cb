"""Pipeline decisions: matrix expansion, the job graph, conditions, scheduling and retries."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import pytest

from shipyard.domain.expressions import ExpressionError
from shipyard.domain.pipeline import (
    DEFAULT_MAX_COMBINATIONS,
    Decision,
    Graph,
    JobDef,
    NodeState,
    PipelineError,
    Scheduler,
    Skip,
    build_graph,
    critical_path,
    decide,
    expand_matrix,
    jobs_from_dict,
    needs_context,
    node_id,
    parse_duration,
    remaining_lengths,
    retry_delay,
)
from shipyard.errors import InputError

S, F = NodeState.SUCCESS, NodeState.FAILURE
SKIP, CANCEL, RUN = NodeState.SKIPPED, NodeState.CANCELLED, NodeState.RUNNING


def graph(jobs: Mapping[str, Mapping[str, Any]]) -> Graph:
    return build_graph(jobs_from_dict(jobs))


def pipeline_error(jobs: Mapping[str, Mapping[str, Any]]) -> PipelineError:
    with pytest.raises(PipelineError) as info:
        graph(jobs)
    return info.value


# --- matrix ----------------------------------------------------------------------------------

# The worked examples of GitHub's "Using a matrix for your jobs" page.
FRUIT = {"fruit": ["apple", "pear"], "animal": ["cat", "dog"]}
FRUIT_INCLUDE = [
    {"color": "green"},
    {"color": "pink", "animal": "cat"},
    {"fruit": "apple", "shape": "circle"},
    {"fruit": "banana"},
    {"fruit": "banana", "animal": "cat"},
]
FRUIT_EXPANDED = [
    {"fruit": "apple", "animal": "cat", "color": "pink", "shape": "circle"},
    {"fruit": "apple", "animal": "dog", "color": "green", "shape": "circle"},
    {"fruit": "pear", "animal": "cat", "color": "pink"},
    {"fruit": "pear", "animal": "dog", "color": "green"},
    {"fruit": "banana"},
    {"fruit": "banana", "animal": "cat"},
]


@pytest.mark.parametrize(
    ("matrix", "include", "exclude", "expected"),
    [
        (
            {"version": [10, 12], "os": ["ubuntu", "windows"]},
            [],
            [],
            [
                {"version": 10, "os": "ubuntu"},
                {"version": 10, "os": "windows"},
                {"version": 12, "os": "ubuntu"},
                {"version": 12, "os": "windows"},
            ],
        ),
        (FRUIT, FRUIT_INCLUDE, [], FRUIT_EXPANDED),
        (
            {"os": ["windows", "linux"], "node": [14, 16]},
            [{"os": "windows", "node": 16, "npm": 6}],
            [],
            [
                {"os": "windows", "node": 14},
                {"os": "windows", "node": 16, "npm": 6},
                {"os": "linux", "node": 14},
                {"os": "linux", "node": 16},
            ],
        ),
        (
            {"os": ["macos", "windows"], "version": [12, 14, 16], "env": ["stg", "prod"]},
            [],
            [{"os": "macos", "version": 12, "env": "prod"}, {"os": "windows", "version": 16}],
            [
                {"os": "macos", "version": 12, "env": "stg"},
                {"os": "macos", "version": 14, "env": "stg"},
                {"os": "macos", "version": 14, "env": "prod"},
                {"os": "macos", "version": 16, "env": "stg"},
                {"os": "macos", "version": 16, "env": "prod"},
                {"os": "windows", "version": 12, "env": "stg"},
                {"os": "windows", "version": 12, "env": "prod"},
                {"os": "windows", "version": 14, "env": "stg"},
                {"os": "windows", "version": 14, "env": "prod"},
            ],
        ),
        (
            None,
            [{"site": "prod", "datacenter": "a"}, {"site": "dev", "datacenter": "b"}],
            [],
            [{"site": "prod", "datacenter": "a"}, {"site": "dev", "datacenter": "b"}],
        ),
        (
            {"python": ["3.12"]},
            [{"python": "3.13", "experimental": True}],
            [{"python": "3.12"}],
            [{"python": "3.13", "experimental": True}],
        ),
        ({"x": [1, True, "1", 1.0]}, [], [{"x": True}], [{"x": 1}, {"x": "1"}, {"x": 1.0}]),
        ({"a": [1, 1]}, [{"b": 2}, {"b": 2}], [], [{"a": 1, "b": 2}]),
        ({"a": [1]}, [{"a": 2}, {"a": 2}], [], [{"a": 1}, {"a": 2}]),
    ],
    ids=["product", "include-docs", "include-extends", "exclude-docs", "include-only",
         "exclude-then-include", "types-distinct", "repeats-collapse", "repeated-includes"],
)  # fmt: skip
def test_expand_matrix_follows_github(
    matrix: dict[str, list[Any]] | None,
    include: list[dict[str, Any]],
    exclude: list[dict[str, Any]],
    expected: list[dict[str, Any]],
) -> None:
    """The product, exclude and include behave as GitHub Actions documents, in its order."""
    assert expand_matrix(matrix, include, exclude) == expected


@pytest.mark.parametrize(
    ("matrix", "include", "exclude", "limit", "code", "fragment", "hint"),
    [
        ({"a": list(range(16)), "b": list(range(17))}, [], [], None, "matrix-too-large",
         "272 combinations, over the limit of 256", "max-combinations"),
        ({"a": list(range(16)), "b": list(range(17))}, [], [{"a": 0}], None, None, "", ""),
        ({"a": list(range(16)), "b": list(range(17))}, [], [], 300, None, "", ""),
        ({"a": [1, 2, 3]}, [{"a": 9}], [], 3, "matrix-too-large", "4 combinations", "exclude"),
        ({"a": list(range(100)), "b": list(range(100))}, [], [{"a": 1}], None,
         "matrix-too-large", "10000 combinations before exclude", "max-combinations"),
        ({"a": []}, [], [], None, "matrix-invalid", "'a' has no values", "at least one value"),
        ({"os": ["linux"]}, [], [{"oss": "linux"}], None, "matrix-invalid",
         "'oss', which is not a matrix key", "did you mean 'os'?"),
        ({"os": ["linux"]}, [], [{"os": "linux"}], None, "matrix-empty",
         "no combinations left", "relax them"),
    ],
)  # fmt: skip
def test_expand_matrix_refuses_bad_matrices(
    matrix: dict[str, list[Any]],
    include: list[dict[str, Any]],
    exclude: list[dict[str, Any]],
    limit: int | None,
    code: str | None,
    fragment: str,
    hint: str,
) -> None:
    """Too many combinations (256 unless max-combinations says more), empty vectors, unknown
    exclude keys and a matrix excluded to nothing are errors with a code and a hint."""
    if code is None:
        assert expand_matrix(matrix, include, exclude, max_combinations=limit)
        return
    with pytest.raises(PipelineError) as info:
        expand_matrix(matrix, include, exclude, max_combinations=limit, job="test")
    assert info.value.code == code
    assert fragment in info.value.message
    assert "job 'test'" in info.value.message
    assert hint in info.value.hint


def test_default_limit_is_githubs() -> None:
    """The default combination limit is GitHub Actions' 256."""
    assert DEFAULT_MAX_COMBINATIONS == 256
    assert len(expand_matrix({"a": list(range(16)), "b": list(range(16))})) == 256


@pytest.mark.parametrize(
    ("job", "combination", "expected"),
    [
        ("lint", None, "lint"),
        ("test", {"python": "3.11"}, "test[python=3.11]"),
        ("test", {"python": "3.11", "os": "linux"}, "test[os=linux,python=3.11]"),
        ("test", {"os": "linux", "python": "3.11"}, "test[os=linux,python=3.11]"),
        ("test", {"python": 3.11}, "test[python=3.11]"),
        ("test", {"n": 3, "on": True, "x": None}, "test[n=3,on=true,x=null]"),
        ("test", {"os": "ubuntu 22.04"}, 'test[os="ubuntu 22.04"]'),
        ("test", {"os": "a,b"}, 'test[os="a,b"]'),
        ("test", {"img": "ghcr.io/x/y:1.2@sha"}, "test[img=ghcr.io/x/y:1.2@sha]"),
        ("test", {"cfg": {"b": 1, "a": [1, 2]}}, 'test[cfg={"a":[1,2],"b":1}]'),
    ],
)
def test_node_ids(job: str, combination: dict[str, Any] | None, expected: str) -> None:
    """Node ids are the job name plus sorted key=value pairs, quoting values that need it."""
    assert node_id(job, combination) == expected


# --- job definitions -------------------------------------------------------------------------


def test_job_from_dict_reads_every_key() -> None:
    """A job mapping as written in shipyard.yaml becomes a JobDef with typed fields."""
    job = JobDef.from_dict(
        "test",
        {
            "run": "pytest -q",
            "needs": "lint",
            "matrix": {"python": ["3.11", "3.12"], "os": "linux", "include": [{"python": "3.13"}],
                       "exclude": [{"python": "3.12"}]},
            "if": "matrix.python != '3.13'",
            "env": {"CI": True, "N": 2, "EMPTY": None},
            "timeout": "10m",
            "retries": 1,
            "continue-on-error": True,
            "inputs": ["src/**", "tests/**", "src/**"],
            "outputs": "dist/*.whl",
            "tools": ["python"],
            "secrets": ["TOKEN"],
            "cache": False,
            "sandbox": True,
            "artifact": "wheel",
            "working_directory": "pkg",
            "max-combinations": 500,
        },
    )  # fmt: skip
    assert job == JobDef(
        name="test",
        run="pytest -q",
        needs=("lint",),
        matrix={"python": ("3.11", "3.12"), "os": ("linux",)},
        include=({"python": "3.13"},),
        exclude=({"python": "3.12"},),
        if_="matrix.python != '3.13'",
        env={"CI": "true", "N": "2", "EMPTY": ""},
        timeout_s=600.0,
        retries=1,
        continue_on_error=True,
        inputs=("src/**", "tests/**"),
        outputs=("dist/*.whl",),
        tools=("python",),
        secrets=("TOKEN",),
        cache=False,
        sandbox=True,
        artifact="wheel",
        working_directory="pkg",
        max_combinations=500,
    )
    assert job.is_matrix


@pytest.mark.parametrize(
    ("body", "fragment", "hint"),
    [
        ({"run": "x", "neds": ["a"]}, "unknown key 'neds'", "did you mean 'needs'?"),
        ({"run": "x", "zzz": 1}, "unknown key 'zzz'", "known keys"),
        ({"run": ["a", "b"]}, "run must be a string", "write run as a string"),
        ({"needs": [1]}, "needs must be a string or a list of strings", "write needs"),
        ({"retries": -1}, "retries must be a whole number >= 0", "retries"),
        ({"retries": True}, "retries must be a whole number >= 0", "retries"),
        ({"cache": "no"}, "cache must be true or false", "cache"),
        ({"env": ["A=1"]}, "env must be a mapping", "mapping"),
        ({"timeout": "soon"}, "timeout: 'soon' is not a duration", "10m"),
        ({"matrix": {"include": {"a": 1}}}, "matrix.include must be a list of mappings", "list"),
    ],
)
def test_job_from_dict_refuses_bad_values(body: dict[str, Any], fragment: str, hint: str) -> None:
    """A wrong key or value names the job and the key, and hints at the right form."""
    with pytest.raises(PipelineError) as info:
        JobDef.from_dict("build", body)
    assert info.value.code == "pipeline-invalid"
    assert "job 'build'" in info.value.message
    assert fragment in info.value.message
    assert hint in info.value.hint


def test_yaml_boolean_condition_is_kept_as_a_condition() -> None:
    """`if: false` read by YAML as a boolean still becomes the condition `false`."""
    assert JobDef.from_dict("a", {"if": False}).if_ == "false"


@pytest.mark.parametrize(
    ("value", "seconds"),
    [
        (30, 30.0),
        (1.5, 1.5),
        ("45", 45.0),
        ("90s", 90.0),
        ("10m", 600.0),
        ("1h30m", 5400.0),
        ("1h 30m", 5400.0),
        ("2d", 172800.0),
        ("250ms", 0.25),
        ("1.5h", 5400.0),
    ],
)
def test_parse_duration(value: object, seconds: float) -> None:
    """Durations are seconds, or numbers with units ms, s, m, h, d, combinable."""
    assert parse_duration(value) == seconds


@pytest.mark.parametrize("value", ["", "10x", "m10", "-5", "1h-2m", True, -1, None])
def test_parse_duration_refuses_nonsense(value: object) -> None:
    """Text that is not a duration is a pipeline-invalid error with the accepted forms."""
    with pytest.raises(PipelineError, match="is not a duration") as info:
        parse_duration(value)
    assert "1h30m" in info.value.hint


# --- graph -----------------------------------------------------------------------------------

SAMPLE = {
    "lint": {"run": "ruff check src"},
    "test": {"needs": ["lint"], "matrix": {"python": ["3.11", "3.12"]}, "run": "pytest -q"},
    "docs": {"run": "mkdocs build"},
    "build": {"needs": ["test"], "run": "python -m build"},
}


def test_needs_on_a_matrix_job_means_every_combination() -> None:
    """A job that needs a matrix job waits for each of its combinations."""
    g = graph(SAMPLE)
    assert g.job_nodes["test"] == ("test[python=3.11]", "test[python=3.12]")
    assert g.nodes["build"].needs == ("test[python=3.11]", "test[python=3.12]")
    assert g.nodes["test[python=3.12]"].needs == ("lint",)
    assert g.nodes["test[python=3.12]"].matrix == {"python": "3.12"}
    assert g.nodes["test[python=3.12]"].label == "python=3.12"
    assert g.dependents["lint"] == ("test[python=3.11]", "test[python=3.12]")


def test_graph_order_is_topological_and_follows_the_file() -> None:
    """Nodes come in an order where needs come first, otherwise in the order written."""
    g = graph(
        {"deploy": {"needs": ["build"]}, "build": {}, "docs": {}, "check": {"needs": ["docs"]}}
    )
    assert g.order == ("build", "deploy", "docs", "check")
    assert [g.nodes[n].index for n in g.order] == [0, 1, 2, 3]


def test_ancestors() -> None:
    """Ancestors of a node are the node and everything it needs, directly or not."""
    g = graph(SAMPLE)
    assert g.ancestors(["build"]) == {"build", "test[python=3.11]", "test[python=3.12]", "lint"}
    assert g.ancestors(["docs"]) == {"docs"}


@pytest.mark.parametrize(
    ("jobs", "cycle"),
    [
        ({"a": {"needs": ["a"]}}, "a -> a"),
        ({"a": {"needs": ["b"]}, "b": {"needs": ["a"]}}, "a -> b -> a"),
        ({"a": {"needs": ["b"]}, "b": {"needs": ["c"]}, "c": {"needs": ["a"]}}, "a -> b -> c -> a"),
        (
            {"x": {}, "a": {"needs": ["x", "b"]}, "b": {"needs": ["c"]}, "c": {"needs": ["b"]}},
            "b -> c -> b",
        ),
        (
            {"d": {"needs": ["a"]}, "a": {"needs": ["b"]}, "b": {"needs": ["c"]},
             "c": {"needs": ["a"]}},
            "a -> b -> c -> a",
        ),
    ],
)  # fmt: skip
def test_cycles_are_named(jobs: dict[str, Any], cycle: str) -> None:
    """A cycle in needs is a pipeline-cycle error that spells the cycle out."""
    error = pipeline_error(jobs)
    assert isinstance(error, InputError)
    assert error.code == "pipeline-cycle"
    assert f"cycle: {cycle}" in error.message
    assert error.details["cycle"] == cycle.split(" -> ")
    assert "a needs b" in error.hint


def test_long_chains_do_not_hit_the_recursion_limit() -> None:
    """Cycle detection and ordering work on chains far deeper than Python's recursion limit."""
    n = 5000
    jobs = {f"j{i}": {"needs": [f"j{i + 1}"]} for i in range(n)}
    jobs[f"j{n}"] = {}
    assert graph(jobs).order[0] == f"j{n}"
    jobs[f"j{n}"] = {"needs": ["j0"]}
    assert pipeline_error(jobs).code == "pipeline-cycle"


@pytest.mark.parametrize(
    ("jobs", "fragment", "hint"),
    [
        ({"test": {}, "build": {"needs": ["tset"]}}, "job 'build' needs 'tset'",
         "did you mean 'test'?"),
        ({"test": {}, "build": {"needs": ["zzz"]}}, "needs 'zzz', which is not a job",
         "known jobs: test"),
        ({"build": {"needs": ["build-x"]}}, "needs 'build-x'", "no other jobs"),
    ],
)  # fmt: skip
def test_unknown_needs_suggest_a_job(jobs: dict[str, Any], fragment: str, hint: str) -> None:
    """An unknown need is a pipeline-unknown-need error with a did-you-mean hint."""
    error = pipeline_error(jobs)
    assert error.code == "pipeline-unknown-need"
    assert fragment in error.message
    assert hint in error.hint


def test_duplicate_job_names_are_refused() -> None:
    """Two jobs with one name are a pipeline-duplicate-job error."""
    with pytest.raises(PipelineError) as info:
        build_graph([JobDef("a"), JobDef("a")])
    assert info.value.code == "pipeline-duplicate-job"


def test_bad_condition_names_job_and_column() -> None:
    """A condition that does not parse is expression-invalid, naming the job and the column."""
    with pytest.raises(ExpressionError) as info:
        graph({"a": {"if": "matrix.os = 'x'"}})
    assert info.value.code == "expression-invalid"
    assert info.value.message.startswith("job 'a': invalid expression at column 11")
    assert info.value.column == 11
    assert info.value.details["job"] == "a"


@pytest.mark.parametrize(
    ("jobs", "code", "fragment", "hint"),
    [
        ({"build": {}, "deploy": {"if": "needs.build.result == 'success'"}},
         "pipeline-unknown-need", "reads needs.build, but 'deploy' does not need 'build'",
         "add `needs: [build]`"),
        ({"build": {}, "deploy": {"needs": ["build"], "if": "needs.biuld.result == 'x'"}},
         "pipeline-unknown-need", "needs.biuld", "did you mean 'build'?"),
        ({"build": {}, "deploy": {"needs": ["build"], "if": "needs.build.output.v == 'x'"}},
         "expression-invalid", "needs.build.output", "needs.build.outputs.NAME"),
        ({"t": {"matrix": {"os": ["a"]}, "if": "matrix.oss == 'a'"}},
         "pipeline-unknown-matrix-key", "matrix.oss", "did you mean matrix.os?"),
        ({"t": {"if": "matrix.os == 'a'"}},
         "pipeline-unknown-matrix-key", "matrix.os", "the job has no matrix"),
    ],
)  # fmt: skip
def test_conditions_are_checked_against_needs_and_matrix(
    jobs: dict[str, Any], code: str, fragment: str, hint: str
) -> None:
    """A condition that reads a job it does not need, or a matrix key it lacks, is refused."""
    error = pipeline_error(jobs)
    assert error.code == code
    assert fragment in error.message
    assert hint in error.hint


@pytest.mark.parametrize(
    "condition",
    [
        "matrix.extra == true",
        "matrix.OS == 'linux'",
        "needs.build.outputs.v == '1' && needs.build.result == 'success'",
        "needs['build'].outcome == 'failure'",
        "needs.build.outputs",
    ],
)
def test_valid_references_are_accepted(condition: str) -> None:
    """Reads of needed jobs and of matrix keys, including ones added by include, are accepted."""
    graph(
        {
            "build": {},
            "t": {
                "needs": ["build"],
                "matrix": {"os": ["linux"], "include": [{"os": "linux", "extra": True}]},
                "if": condition,
            },
        }
    )


def test_matrix_values_that_print_alike_are_refused() -> None:
    """Combinations whose ids would collide are refused with a hint to quote values alike."""
    with pytest.raises(PipelineError) as info:
        graph({"t": {"matrix": {"python": ["3.1", 3.1]}}})
    assert info.value.code == "matrix-ambiguous"
    assert "quote" in info.value.hint


# --- critical path ---------------------------------------------------------------------------

DIAMOND = {
    "a": {},
    "b": {"needs": ["a"]},
    "c": {"needs": ["a"]},
    "d": {"needs": ["b", "c"]},
    "e": {},
}


@pytest.mark.parametrize(
    ("durations", "remaining", "path", "total"),
    [
        ({}, {"a": 3, "b": 2, "c": 2, "d": 1, "e": 1}, ("a", "b", "d"), 3),
        ({"c": 10}, {"a": 12, "b": 2, "c": 11, "d": 1, "e": 1}, ("a", "c", "d"), 12),
        ({"e": 20, "a": 0.5}, {"a": 2.5, "b": 2, "c": 2, "d": 1, "e": 20}, ("e",), 20),
    ],
)
def test_critical_path(
    durations: dict[str, float], remaining: dict[str, float], path: tuple[str, ...], total: float
) -> None:
    """Remaining length is a node's duration plus the longest chain after it; default 1 each."""
    g = graph(DIAMOND)
    assert remaining_lengths(g, durations) == remaining
    assert critical_path(g, durations) == (path, total)


def test_durations_by_job_name_cover_every_combination() -> None:
    """A duration keyed by job name applies to each combination unless one is given by id."""
    g = graph(SAMPLE)
    lengths = remaining_lengths(g, {"test": 5, "test[python=3.12]": 7})
    assert lengths["test[python=3.11]"] == 6
    assert lengths["test[python=3.12]"] == 8
    assert lengths["lint"] == 9


def test_empty_graph() -> None:
    """An empty pipeline has no critical path and is done at once."""
    g = build_graph([])
    assert critical_path(g) == ((), 0.0)
    assert decide(g, {}) == Decision((), (), True)


def test_ready_nodes_come_critical_path_first() -> None:
    """Ready nodes are ordered by longest remaining path, ties in graph order."""
    g = graph(
        {
            "quick": {},
            "long": {},
            "after-long": {"needs": ["long"]},
            "also": {},
        }
    )
    assert decide(g, {}).start == ("long", "quick", "also")
    assert decide(g, {}, durations={"quick": 5}).start == ("quick", "long", "also")
    assert Scheduler(g, durations={"also": 9}).poll(2).start == ("also", "long")


# --- conditions and scheduling ---------------------------------------------------------------


def run(
    jobs: Mapping[str, Mapping[str, Any]],
    outcomes: Mapping[str, NodeState] | None = None,
    outputs: Mapping[str, Mapping[str, str]] | None = None,
    env: Mapping[str, str] | None = None,
) -> dict[str, NodeState]:
    """Drive ``decide`` to the end; nodes end as ``outcomes`` says, else in success."""
    g = graph(jobs)
    outcomes, outputs = outcomes or {}, outputs or {}
    states: dict[str, NodeState] = {}
    while True:
        decision = decide(g, states, outputs=outputs, env=env)
        for skip in decision.skip:
            states[skip.node] = skip.state
        for nid in decision.start:
            states[nid] = outcomes.get(nid, S)
        if decision.done:
            return states


def run_incrementally(
    jobs: Mapping[str, Mapping[str, Any]],
    outcomes: Mapping[str, NodeState] | None = None,
    outputs: Mapping[str, Mapping[str, str]] | None = None,
    env: Mapping[str, str] | None = None,
) -> dict[str, NodeState]:
    """Drive ``Scheduler`` to the end, one node at a time."""
    scheduler = Scheduler(graph(jobs), env=env)
    outcomes, outputs = outcomes or {}, outputs or {}
    while True:
        decision = scheduler.poll(1)
        if decision.done:
            return dict(scheduler.states)
        for nid in decision.start:
            scheduler.finish(nid, outcomes.get(nid, S), outputs.get(nid))


CHAIN = {"a": {}, "b": {"needs": ["a"]}, "c": {"needs": ["b"]}}
MATRIX_OUT = {
    "t": {"matrix": {"py": ["3.11", "3.12"]}},
    "d": {"needs": ["t"], "if": "needs.t.outputs.ok['py=3.12'] == 'yes'"},
}

CASES: list[tuple[str, dict[str, Any], dict[str, NodeState], dict[str, Any], dict[str, NodeState]]]
CASES = [
    ("all succeed", CHAIN, {}, {}, {"a": S, "b": S, "c": S}),
    ("failure skips what needs it", CHAIN, {"a": F}, {}, {"a": F, "b": SKIP, "c": SKIP}),
    ("always runs after a failure",
     {**CHAIN, "b": {"needs": ["a"], "if": "always()"}}, {"a": F}, {}, {"a": F, "b": S, "c": S}),
    ("failure() runs downstream of a skip",
     {**CHAIN, "c": {"needs": ["b"], "if": "failure()"}}, {"a": F}, {},
     {"a": F, "b": SKIP, "c": S}),
    ("failure() stays quiet on success",
     {**CHAIN, "c": {"needs": ["b"], "if": "failure()"}}, {}, {}, {"a": S, "b": S, "c": SKIP}),
    ("continue-on-error counts as success",
     {**CHAIN, "a": {"continue-on-error": True}}, {"a": F}, {}, {"a": F, "b": S, "c": S}),
    ("continue-on-error is not a failure()",
     {"a": {"continue-on-error": True}, "n": {"needs": ["a"], "if": "failure()"}}, {"a": F}, {},
     {"a": F, "n": SKIP}),
    ("false condition skips the job and its dependents",
     {**CHAIN, "b": {"needs": ["a"], "if": "env.DEPLOY == 'yes'"}}, {}, {},
     {"a": S, "b": SKIP, "c": SKIP}),
    ("condition sees env",
     {**CHAIN, "b": {"needs": ["a"], "if": "env.DEPLOY == 'yes'"}}, {}, {"env": {"DEPLOY": "yes"}},
     {"a": S, "b": S, "c": S}),
    ("job env overrides caller env",
     {"a": {"env": {"DEPLOY": "no"}, "if": "env.DEPLOY == 'yes'"}}, {}, {"env": {"DEPLOY": "yes"}},
     {"a": SKIP}),
    ("implicit success() guards a plain condition",
     {**CHAIN, "b": {"needs": ["a"], "if": "true"}}, {"a": F}, {}, {"a": F, "b": SKIP, "c": SKIP}),
    ("needs result and outcome",
     {"a": {"continue-on-error": True},
      "b": {"needs": ["a"], "if": "needs.a.result == 'success' && needs.a.outcome == 'failure'"}},
     {"a": F}, {}, {"a": F, "b": S}),
    ("needs outputs",
     {"a": {}, "b": {"needs": ["a"], "if": "needs.a.outputs.changed == 'true'"},
      "c": {"needs": ["a"], "if": "needs.a.outputs.changed != 'true'"}},
     {}, {"outputs": {"a": {"changed": "true"}}}, {"a": S, "b": S, "c": SKIP}),
    ("matrix outputs are kept per combination", MATRIX_OUT, {},
     {"outputs": {"t[py=3.11]": {"ok": "no"}, "t[py=3.12]": {"ok": "yes"}}},
     {"t[py=3.11]": S, "t[py=3.12]": S, "d": S}),
    ("a matrix condition skips some combinations, and the job still succeeds",
     {"t": {"matrix": {"os": ["linux", "mac"]}, "if": "matrix.os == 'linux'"},
      "d": {"needs": ["t"]}}, {}, {}, {"t[os=linux]": S, "t[os=mac]": SKIP, "d": S}),
    ("a fully skipped need skips its dependents",
     {"t": {"matrix": {"os": ["mac"]}, "if": "matrix.os == 'linux'"}, "d": {"needs": ["t"]}},
     {}, {}, {"t[os=mac]": SKIP, "d": SKIP}),
    ("one failed combination fails the matrix job",
     {"t": {"matrix": {"os": ["linux", "mac"]}}, "d": {"needs": ["t"]}}, {"t[os=mac]": F}, {},
     {"t[os=linux]": S, "t[os=mac]": F, "d": SKIP}),
    ("success() looks at direct needs only",
     {**CHAIN, "b": {"needs": ["a"], "if": "always()"}, "c": {"needs": ["b"], "if": "success()"}},
     {"a": F}, {}, {"a": F, "b": S, "c": S}),
    ("a failed always() job fails its dependents' success()",
     {**CHAIN, "b": {"needs": ["a"], "if": "always()"}}, {"a": F, "b": F}, {},
     {"a": F, "b": F, "c": SKIP}),
    ("independent branches carry on",
     {"a": {}, "b": {"needs": ["a"]}, "x": {}, "y": {"needs": ["x"]}}, {"a": F}, {},
     {"a": F, "b": SKIP, "x": S, "y": S}),
]  # fmt: skip


@pytest.mark.parametrize(
    ("jobs", "outcomes", "extra", "expected"),
    [case[1:] for case in CASES],
    ids=[case[0] for case in CASES],
)
def test_conditions_decide_what_runs(
    jobs: dict[str, Any],
    outcomes: dict[str, NodeState],
    extra: dict[str, Any],
    expected: dict[str, NodeState],
) -> None:
    """Skips, failures, continue-on-error and conditions give each node its final state."""
    assert run(jobs, outcomes, **extra) == expected


@pytest.mark.parametrize(
    ("jobs", "outcomes", "extra", "expected"),
    [case[1:] for case in CASES],
    ids=[case[0] for case in CASES],
)
def test_scheduler_agrees_with_decide(
    jobs: dict[str, Any],
    outcomes: dict[str, NodeState],
    extra: dict[str, Any],
    expected: dict[str, NodeState],
) -> None:
    """The incremental scheduler reaches the same final states as the plain function."""
    assert run_incrementally(jobs, outcomes, **extra) == expected


def test_skip_reasons() -> None:
    """Each skip says why: a failed or skipped need, or the condition that was false."""
    g = graph(
        {
            "a": {},
            "b": {"needs": ["a"]},
            "c": {"needs": ["b"]},
            "d": {"if": "env.X == 'y'"},
        }
    )
    decision = decide(g, {"a": F})
    assert decision.skip == (
        Skip("b", SKIP, "needed job 'a' failed"),
        Skip("c", SKIP, "needed job 'b' was skipped"),
        Skip("d", SKIP, "condition is false: env.X == 'y'"),
    )
    assert decision.start == ()
    assert decision.done


def test_running_nodes_hold_back_their_dependents() -> None:
    """A node waits while any of its needs is running, and the run is not done."""
    g = graph(SAMPLE)
    decision = decide(g, {"lint": S, "test[python=3.11]": S, "test[python=3.12]": RUN, "docs": S})
    assert decision == Decision((), (), False)
    assert decide(g, {n: S for n in g.order if n != "build"}) == Decision(("build",), (), False)


def test_cancelled_run_only_starts_what_asks_for_it() -> None:
    """Once cancelled, nodes run only if their condition calls always() or cancelled()."""
    jobs = {
        "a": {},
        "b": {"needs": ["a"]},
        "cleanup": {"needs": ["a"], "if": "always()"},
        "report": {"needs": ["a"], "if": "cancelled()"},
        "deploy": {"needs": ["a"], "if": "success()"},
    }
    decision = decide(graph(jobs), {"a": CANCEL}, cancelled=True)
    assert decision.start == ("cleanup", "report")
    assert decision.skip == (
        Skip("b", CANCEL, "run cancelled"),
        Skip("deploy", CANCEL, "condition is false: success()"),
    )


def test_scheduler_cancel_redecides_ready_nodes() -> None:
    """Cancelling turns ready-but-unstarted nodes into cancelled ones unless they ask to run."""
    g = graph({"a": {}, "b": {}, "c": {"if": "always()"}, "d": {"needs": ["b"]}})
    scheduler = Scheduler(g)
    assert scheduler.poll(1).start == ("b",)
    scheduler.cancel()
    decision = scheduler.poll()
    assert decision.start == ("c",)
    assert decision.skip == (Skip("a", CANCEL, "run cancelled"),)
    scheduler.finish("b", CANCEL)
    assert scheduler.poll().skip == (Skip("d", CANCEL, "run cancelled"),)
    scheduler.finish("c", S)
    assert scheduler.poll().done
    assert scheduler.states == {"a": CANCEL, "b": CANCEL, "c": S, "d": CANCEL}


def test_scheduler_polls_respect_the_limit_and_priority() -> None:
    """poll(n) starts at most n nodes, most critical first, and marks them running."""
    g = graph({"a": {}, "b": {}, "c": {}, "d": {"needs": ["c"]}})
    scheduler = Scheduler(g)
    assert scheduler.poll(1).start == ("c",)
    assert scheduler.states == {"c": RUN}
    assert scheduler.poll(5).start == ("a", "b")
    assert scheduler.poll(5).start == ()
    scheduler.finish("c", S)
    assert scheduler.poll().start == ("d",)


def test_scheduler_carries_results_over() -> None:
    """Given earlier results, the scheduler only runs what is left, e.g. to re-run failures."""
    g = graph({"a": {}, "b": {"needs": ["a"], "if": "needs.a.outputs.v == '1'"}, "c": {}})
    scheduler = Scheduler(g, states={"a": S, "c": S}, outputs={"a": {"v": "1"}})
    assert scheduler.poll() == Decision(("b",), (), False)
    scheduler.finish("b", S)
    assert scheduler.poll().done


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda s: s.finish("a", S), "a is not running"),
        (lambda s: s.finish("b", RUN), "needs a final state"),
    ],
)
def test_scheduler_refuses_impossible_reports(call: Any, message: str) -> None:
    """Reporting a node that is not running, or a non-final state, is a programming error."""
    scheduler = Scheduler(graph({"a": {}, "b": {}}))
    scheduler.poll(1)
    scheduler.poll(1)
    scheduler.finish("a", S)
    with pytest.raises(ValueError, match=message):
        call(scheduler)


def test_decide_refuses_unknown_nodes() -> None:
    """States naming nodes that are not in the graph are a programming error."""
    with pytest.raises(ValueError, match="not in the graph"):
        decide(graph(CHAIN), {"zzz": S})


def test_skips_cascade_through_long_chains() -> None:
    """A failure at the head of a very long chain skips the whole chain in one step."""
    n = 3000
    jobs: dict[str, Any] = {"j0": {}}
    jobs.update({f"j{i}": {"needs": [f"j{i - 1}"]} for i in range(1, n)})
    scheduler = Scheduler(graph(jobs))
    scheduler.poll()
    scheduler.finish("j0", F)
    decision = scheduler.poll()
    assert len(decision.skip) == n - 1
    assert decision.skip[-1].node == f"j{n - 1}"
    assert decision.done


def test_needs_context_shapes() -> None:
    """needs gives result, outcome and outputs per job; matrix outputs are keyed by label."""
    g = graph({"a": {"continue-on-error": True}, **MATRIX_OUT, "z": {"needs": ["a", "t"]}})
    states = {"a": F, "t[py=3.11]": S, "t[py=3.12]": SKIP}
    outputs = {"a": {"v": "1"}, "t[py=3.11]": {"ok": "no", "log": "x"}}
    assert needs_context(g, "z", states, outputs) == {
        "a": {"result": "success", "outcome": "failure", "outputs": {"v": "1"}},
        "t": {"result": "success", "outcome": "success", "outputs": {"ok": {"py=3.11": "no"},
                                                                     "log": {"py=3.11": "x"}}},
    }  # fmt: skip


# --- retries ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("attempt", "kwargs", "seconds"),
    [
        (1, {}, 1.0),
        (2, {}, 2.0),
        (3, {}, 4.0),
        (7, {}, 60.0),
        (10_000, {}, 60.0),
        (1, {"base": 0.5}, 0.5),
        (4, {"base": 0.5, "factor": 3}, 13.5),
        (3, {"cap": 3}, 3.0),
        (3, {"jitter": 0.0}, 2.0),
        (3, {"jitter": 0.5}, 3.0),
        (3, {"factor": 1}, 1.0),
    ],
)
def test_retry_delay(attempt: int, kwargs: dict[str, float], seconds: float) -> None:
    """Retry delays double from the base up to the cap; jitter keeps half to all of the delay."""
    assert retry_delay(attempt, **kwargs) == seconds


@pytest.mark.parametrize(("attempt", "jitter"), [(0, None), (-1, None), (1, 1.0), (1, -0.1)])
def test_retry_delay_refuses_nonsense(attempt: int, jitter: float | None) -> None:
    """Attempts count from 1 and jitter lies in [0, 1)."""
    with pytest.raises(ValueError):
        retry_delay(attempt, jitter=jitter)
