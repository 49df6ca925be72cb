"""From shipyard.yaml to a rollout: the target an environment inherits, its strategy as the
domain's state machine, its configuration layered over the base with secrets resolved; and the
plan recorded with each deployment (``DeploymentPlan``), all its controller needs of them.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, NotRequired, TypedDict

from shipyard.domain import rollout as r
from shipyard.errors import InputError

if TYPE_CHECKING:
    from shipyard.spec import models as m
    from shipyard.spec.models import Spec


class TargetMissing(InputError):
    code = "target-missing"
    default_hint = "give the environment (or one it promotes from) a `target:`"


class AnalysisUnknown(InputError):
    code = "analysis-unknown"


class SecretMissing(InputError):
    code = "secret-missing"


def target_of(spec: Spec, env: str) -> m.Target:
    """The environment's target, or the nearest one up its ``promote_from`` chain."""
    seen: list[str] = []
    name: str | None = env
    while name is not None and name not in seen:
        seen.append(name)
        e = spec.environments.get(name)
        if e is None:
            break
        if e.target is not None:
            return e.target
        name = e.promote_from
    raise TargetMissing(f"environment '{env}' has no target, nor does any it promotes from")


def _template(spec: Spec, name: str, where: str) -> m.AnalysisTemplate:
    t = spec.analysis.get(name)
    if t is None:
        known = ", ".join(spec.analysis) or "none"
        raise AnalysisUnknown(
            f"{where} names analysis '{name}', which is not defined",
            f"define it under `analysis:` in shipyard.yaml (known: {known})",
        )
    return t


def _analysis(spec: Spec, name: str, duration: float | None, where: str) -> r.AnalysisStep:
    t = _template(spec, name, where)
    # duration: 0 reaches the step, which refuses it; only a missing one means one interval.
    return r.AnalysisStep(name, duration if duration is not None else max(t.interval, 1.0))


def _bg_analysis(spec: Spec, name: str, duration: float | None, where: str) -> r.AnalysisStep:
    """A blue-green analysis: ``duration`` if set, else three intervals, so a preview with
    little traffic has time to be measured (one interval could only say "too few")."""
    t = _template(spec, name, where)
    return _analysis(spec, name, duration if duration is not None else 3 * t.interval, where)


Key = tuple[str | int, ...]  # a path under environments.ENV
Report = Callable[[Key, InputError], None]


def strategy_of(
    spec: Spec, env: str, target: m.Target | None = None, report: Report | None = None
) -> r.Strategy:
    """The environment's strategy as ``domain.rollout`` takes it (for ``target``, by default
    the one the environment inherits). With ``report``, a step or wave that cannot be built is
    reported and stood in for, so that the rest is still checked."""
    e = spec.environments[env]
    target = target or target_of(spec, env)
    n = target.instances
    s = e.strategy

    def part(key: Key, stand_in: Any, build: Callable[..., Any], *args: Any) -> Any:
        if report is None:
            return build(*args)
        try:
            return build(*args)
        except InputError as exc:
            report(("strategy", *key), exc)
            return stand_in

    # Canary states its own deadline; elsewhere a pool gets as long as readiness allows.
    readiness = target.readiness.timeout if target.type == "process" else 600.0
    common: dict[str, Any] = {
        "instances": n,
        "progress_deadline": max(readiness, 1.0),
        "on_failure": r.OnFailure(e.on_failure),
    }
    # One of these is set at most (Strategy._exactly_one); none set is recreate.
    if s.rolling is not None:
        return r.Rolling(
            **common, max_surge=s.rolling.max_surge, max_unavailable=s.rolling.max_unavailable
        )
    if s.blue_green is not None:
        bg = s.blue_green
        where = f"environments.{env}.strategy.blue-green"
        pre, post = (
            part(("blue-green", key), None, _bg_analysis, spec, name, bg.analysis_duration, where)
            if name
            else None
            for key, name in (
                ("pre_promotion_analysis", bg.pre_promotion_analysis),
                ("post_promotion_analysis", bg.post_promotion_analysis),
            )
        )
        header = (
            part(("blue-green", "preview_header"), None, r.HeaderMatch.parse, bg.preview_header)
            if bg.preview_header
            else None
        )
        return r.BlueGreen(
            **common,
            auto_promote=bg.auto_promote,
            promotion_delay=bg.promotion_delay,
            pre_promotion_analysis=pre,
            post_promotion_analysis=post,
            scale_down_delay=bg.scale_down_delay,
            preview_header=header,
            preview_port=bg.preview_port,
            mirror=bg.mirror,
        )
    if s.canary is not None:
        steps = [
            part(("canary", "steps", i), r.PauseStep(None), _canary_step, spec, env, st)
            for i, st in enumerate(s.canary.steps)
        ]
        common["progress_deadline"] = s.canary.progress_deadline
        return r.Canary(**common, steps=tuple(steps))
    if s.rings is not None:
        waves = [
            part(("rings", "waves", i), r.Wave(w.name, None, 0), _wave, spec, env, w)
            for i, w in enumerate(s.rings.waves)
        ]
        return r.Rings(**common, waves=tuple(waves))
    return r.Recreate(**common)


def _canary_step(spec: Spec, env: str, st: m.CanaryStep) -> r.CanaryStep:
    if st.weight is not None:
        return r.WeightStep(st.weight)
    if st.pause is not None:
        return r.PauseStep(None if st.pause == "until-promoted" else st.pause)
    assert st.analysis is not None  # a step is one of weight, pause or analysis (the schema)
    return _analysis(spec, st.analysis, st.duration, f"environments.{env}.strategy.canary")


def _wave(spec: Spec, env: str, w: m.Ring) -> r.Wave:
    extra: tuple[r.CanaryStep, ...] = (
        (_analysis(spec, w.analysis, w.duration, f"environments.{env}.rings"),)
        if w.analysis
        else ()
    )
    if w.pause is not None:
        extra += (r.PauseStep(None if w.pause == "until-promoted" else w.pause),)
    header = r.HeaderMatch.parse(w.header) if w.header else None
    return r.Wave(w.name, header, w.weight, extra)


HOOK_FIELDS = ("deploy", "set_weight", "health", "promote", "rollback", "stop")


def hooks_of(target: m.CommandTarget) -> dict[str, str]:
    """The hooks a command target defines."""
    return {h: getattr(target, h) for h in HOOK_FIELDS if getattr(target, h)}


def check(spec: Spec, env: str) -> tuple[m.Target, r.Strategy]:
    """The environment's target and strategy, or the first reason a deploy cannot use them."""
    found = problems(spec, env, templates=True)
    if found:
        raise found[0][1]
    return target_of(spec, env), strategy_of(spec, env)


Problem = tuple[Key, InputError]


def problems(spec: Spec, env: str, *, templates: bool = False) -> list[Problem]:
    """Every reason a deploy of ``env`` would be refused by its settings alone, each with the
    key under ``environments.ENV`` it is about. ``templates`` adds the analysis templates the
    strategy uses (`shipyard validate` checks every template where it is defined instead).
    """
    from shipyard.services.deployments import rollout_analysis

    found: list[Problem] = []

    def attempt(key: Key, check: Any, *args: Any, **kwargs: Any) -> Any:
        try:
            return check(*args, **kwargs)
        except InputError as exc:
            found.append((key, exc))
            return None

    target = attempt((), target_of, spec, env)
    if target is None:
        return found
    if target.type == "process":
        from shipyard.adapters.targets import process

        attempt(("target", "command"), process.check, target.command, target.readiness.path)
    else:
        from shipyard.adapters.targets.command import CommandTarget

        # Unknown {variables} and bad templates fail here.
        attempt(("target",), CommandTarget, hooks_of(target), environment=env)
    try:
        strategy = strategy_of(spec, env, target, lambda key, exc: found.append((key, exc)))
    except InputError as exc:  # the strategy as a whole; a step or wave it names, if any
        if "step" in exc.details:
            found.append((("strategy", "canary", "steps", exc.details["step"]), exc))
        elif "wave" in exc.details:
            found.append((("strategy", "rings", "waves", exc.details["wave"]), exc))
        else:
            found.append((("strategy",), exc))
        return found
    for name in spec.environments[env].watch.analysis:
        if name not in spec.analysis:
            known = ", ".join(spec.analysis) or "none"
            found.append(
                (
                    ("watch", "analysis"),
                    AnalysisUnknown(
                        f"environments.{env}.watch names analysis '{name}', which is not defined",
                        f"define it under `analysis:` in shipyard.yaml (known: {known})",
                    ),
                )
            )
    watched = [n for n in spec.environments[env].watch.analysis if n in spec.analysis]
    used = list(dict.fromkeys([*_analyses(strategy), *watched]))
    builtin = sorted(n for n in used if spec.analysis[n].provider == "builtin")
    where = f"environments.{env}.strategy"
    if target.type == "command":
        if isinstance(strategy, r.Rings) and any(w.header for w in strategy.waves):
            found.append(
                (
                    ("strategy",),
                    InputError(
                        f"{where}: a command target cannot route by header "
                        "(rings wave with a header)",
                        "give each wave a weight, or use a process target behind Shipyard's router",
                        code="target-unsupported",
                    ),
                )
            )
        if isinstance(strategy, r.Canary | r.Rings) and not target.set_weight:
            found.append(
                (
                    ("strategy",),
                    InputError(
                        f"{where}: a {strategy.type} rollout on a command target needs a "
                        "set_weight hook",
                        "add set_weight to the target, e.g. set_weight: ./route.sh {weight}",
                        code="hook-missing",
                    ),
                )
            )
        if builtin:
            found.append(
                (
                    ("strategy",),
                    InputError(
                        f"{where}: analysis {', '.join(builtin)} reads Shipyard's router, "
                        "which a command target does not use",
                        "use provider: prometheus with a query over the platform's metrics",
                        code="analysis-unsupported",
                    ),
                )
            )
    elif spec.environments[env].router == "nginx" and builtin:
        found.append(
            (
                ("router",),
                InputError(
                    f"environments.{env}: analysis {', '.join(builtin)} reads the built-in "
                    "router's metrics, and this environment uses nginx",
                    "use provider: prometheus, or router: builtin",
                    code="analysis-unsupported",
                ),
            )
        )
    if isinstance(strategy, r.BlueGreen) and strategy.preview:
        behind = "a command target" if target.type == "command" else None
        if spec.environments[env].router == "nginx":
            behind = "router: nginx"
        if behind:
            found.append(
                (
                    ("strategy", "blue-green"),
                    InputError(
                        f"{where}: preview_port and mirror need Shipyard's built-in router, "
                        f"and this environment uses {behind}",
                        "use preview_header for the preview, or router: builtin",
                        code="router-unsupported",
                    ),
                )
            )
    if templates:
        for name in used:
            template = spec.analysis[name].model_dump()
            attempt(("strategy",), rollout_analysis.check_template, template)
    return found


def _analyses(strategy: r.Strategy) -> list[str]:
    """The analysis templates ``strategy`` runs, in the order it first runs them."""
    steps: list[Any] = []
    if isinstance(strategy, r.Canary):
        steps = list(strategy.steps)
    elif isinstance(strategy, r.Rings):
        steps = [s for w in strategy.waves for s in w.steps]
    elif isinstance(strategy, r.BlueGreen):
        steps = [strategy.pre_promotion_analysis, strategy.post_promotion_analysis]
    names = (s.template for s in steps if isinstance(s, r.AnalysisStep))
    return list(dict.fromkeys(names))


def analysis_templates(spec: Spec) -> dict[str, dict[str, Any]]:
    """Every analysis template as plain data, stored with the deployment for its controller."""
    return {name: t.model_dump() for name, t in spec.analysis.items()}


def config_of(spec: Spec, env: str) -> tuple[dict[str, str], dict[str, dict[str, Any]]]:
    """The environment's configuration over the base, and its secret references (not values)."""
    e = spec.environments[env]
    config = {k: _text(v) for k, v in {**spec.config, **e.config}.items()}
    refs = {k: v.model_dump(exclude_none=True) for k, v in {**spec.secrets, **e.secrets}.items()}
    return config, refs


def _text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def resolve_secrets(refs: dict[str, dict[str, Any]], root: Path) -> dict[str, str]:
    """Each secret's value from its environment variable or file; never logged or stored."""
    out: dict[str, str] = {}
    for name, ref in refs.items():
        if "env" in ref:
            value = os.environ.get(ref["env"])
            if value is None:
                raise SecretMissing(
                    f"secret {name} reads environment variable {ref['env']}, which is not set",
                    f"export {ref['env']} where `shipyard deploy` runs",
                )
        else:
            path = (root / ref["file"]).expanduser()
            try:
                value = path.read_text(encoding="utf-8").rstrip("\n")
            except OSError as exc:
                raise SecretMissing(
                    f"secret {name} reads file {ref['file']}, which cannot be read: {exc.strerror}",
                    "create the file, or point the secret at another source",
                ) from exc
        out[name] = value
    return out


def config_revision(config: dict[str, str], secrets: dict[str, str], key: bytes) -> str:
    """A short digest of the rendered configuration: a rotated secret makes a new revision too.

    Secret values enter only through HMACs under ``key`` (the server's, see
    ``deploy.revision_key``): a plain hash would let anyone who reads the revision test
    guesses of a secret offline.
    """
    hashed = {k: hmac.new(key, v.encode(), hashlib.sha256).hexdigest() for k, v in secrets.items()}
    body = json.dumps({"config": config, "secrets": hashed}, sort_keys=True)
    return hashlib.sha256(body.encode()).hexdigest()[:12]


# -- the plan recorded with a deployment -----------------------------------------------------------


class Pools(TypedDict):
    """The physical pools (``adapters/targets/local.PHYSICAL``) the two sides run in."""

    stable: str
    canary: str


class ArtifactRef(TypedDict):
    """The registry artifact a side runs, unpacked where it runs (``deploy_sides.workdir``)."""

    digest: str
    filename: str


class TargetSide(TypedDict):
    """What a side's controller needs of its target (``deploy._target_side``)."""

    # Absent from sides recorded before command targets, which are all process ones.
    target: NotRequired[Literal["process", "command"]]
    hooks: NotRequired[dict[str, str]]  # a command target's hooks (``hooks_of``)
    timeout: NotRequired[float]  # a command target's limit per hook run
    command: str | None  # a process target's command; None for a command target
    readiness_path: str | None  # None for a command target
    grace: float


class Side(TargetSide):
    """One side of a deployment, the version going out (``stable``) or coming in (``canary``):
    what runs, configured how, from where."""

    version: str
    config_revision: str
    config: dict[str, str]
    secret_refs: dict[str, dict[str, Any]]  # by name: {"env": VAR} or {"file": PATH}
    root: str
    workdir: str
    artifact: NotRequired[ArtifactRef | None]  # absent from sides recorded before the registry


class Watch(TypedDict):
    """The environment's watch (``spec.models.Watch``), and what the old version served
    through the rollout once it succeeded: the baselines of the watch after it."""

    analysis: list[str]
    window: float
    # by analysis, then by metrics source (``rollout_analysis.source_key``): Window.to_dict()
    baselines: NotRequired[dict[str, dict[str, dict[str, Any]]]]


def watch_of(spec: Spec, env: str) -> Watch:
    """The environment's watch as the plan records it."""
    watch = spec.environments[env].watch
    return {"analysis": list(watch.analysis), "window": watch.window}


def _unwatched() -> Watch:
    return {"analysis": [], "window": 0.0}


# The keys of each shape of plan, in the order they are stored: a deploy's, and a rollback's
# (``direct``: straight back to an earlier version's recorded side). Deploys recorded before
# them lack ``router``, ``migration_files``, ``migrate`` or ``watch``.
DEPLOY_KEYS = (
    "pools",
    "strategy",
    "analysis",
    "readiness_path",
    "router",
    "stable",
    "canary",
    "migration_files",
    "migrate",
    "watch",
)
ROLLBACK_KEYS = (
    "pools",
    "strategy",
    "analysis",
    "readiness_path",
    "router",
    "direct",
    "rollback_of",
    "stable",
    "canary",
)


@dataclass(frozen=True)
class DeploymentPlan:
    """What the controller of a deployment needs, recorded with it (the ``plan`` column as
    JSON: ``to_json``, read back with ``from_json``), so that any controller, a worker without
    shipyard.yaml included, can drive it, and the next deployment can build on it."""

    pools: Pools
    strategy: dict[str, Any]  # ``r.Strategy.to_dict()``
    analysis: dict[str, dict[str, Any]]  # the analysis templates by name; none for a rollback
    readiness_path: str | None  # the canary side's
    stable: Side | None  # what runs now; None for an environment's first deployment
    canary: Side  # what the deployment brings
    router: str | None = None  # the environment's router; None: the built-in one
    direct: bool = False  # a rollback: no steps, no analysis, no migration
    rollback_of: str | None = None  # a rollback: the deployment it goes back from
    migration_files: dict[str, str] = field(default_factory=dict)  # path -> sha256
    # The migration to run first, recorded so that a worker needs no shipyard.yaml; for a plan
    # recorded before it was (``not recorded("migrate")``), the spec says, when there is one.
    migrate: str | None = None
    watch: Watch = field(default_factory=_unwatched)
    missing: frozenset[str] = frozenset()  # keys of its shape the stored plan lacks
    extra: dict[str, Any] = field(default_factory=dict)  # keys of no shape, kept as read

    @property
    def keys(self) -> tuple[str, ...]:
        """The keys of this plan's shape, in their stored order."""
        return ROLLBACK_KEYS if self.direct else DEPLOY_KEYS

    def recorded(self, key: str) -> bool:
        """Whether the stored plan holds ``key`` (older plans lack the newer keys)."""
        return key in self.keys and key not in self.missing

    def side(self, pool: r.Pool) -> Side | None:
        """The side that runs in ``pool``."""
        return self.stable if pool is r.Pool.STABLE else self.canary

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> DeploymentPlan:
        """A plan as stored, in any shape stored so far: a deploy's (with or without the keys
        added over time, read with the defaults above) or a rollback's."""
        direct = bool(data.get("direct"))
        keys = ROLLBACK_KEYS if direct else DEPLOY_KEYS
        return cls(
            pools=data["pools"],
            strategy=data["strategy"],
            analysis=data["analysis"],
            readiness_path=data["readiness_path"],
            stable=data["stable"],
            canary=data["canary"],
            router=data.get("router"),
            direct=direct,
            rollback_of=data.get("rollback_of"),
            migration_files=data.get("migration_files", {}),
            migrate=data.get("migrate"),
            watch=data["watch"] if "watch" in data else _unwatched(),
            missing=frozenset(k for k in keys if k not in data),
            extra={k: v for k, v in data.items() if k not in keys},
        )

    def to_json(self) -> dict[str, Any]:
        """The plan as stored: its shape's keys in their order, less those it was read
        without, then any of no shape it was read with."""
        values = {
            "pools": self.pools,
            "strategy": self.strategy,
            "analysis": self.analysis,
            "readiness_path": self.readiness_path,
            "router": self.router,
            "direct": self.direct,
            "rollback_of": self.rollback_of,
            "stable": self.stable,
            "canary": self.canary,
            "migration_files": self.migration_files,
            "migrate": self.migrate,
            "watch": self.watch,
        }
        return {k: values[k] for k in self.keys if k not in self.missing} | self.extra
