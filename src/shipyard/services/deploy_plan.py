"""From shipyard.yaml to a rollout: the target an environment inherits, its strategy as the
domain's state machine, its configuration layered over the base with secrets resolved.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from typing import Any

from shipyard.domain import rollout as r
from shipyard.errors import InputError


class TargetMissing(InputError):
    code = "target-missing"
    default_hint = "give the environment (or one it promotes from) a `target:`"


class AnalysisUnknown(InputError):
    code = "analysis-unknown"


class SecretMissing(InputError):
    code = "secret-missing"


def target_of(spec: Any, env: str) -> Any:
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


def _template(spec: Any, name: str, where: str) -> Any:
    t = spec.analysis.get(name)
    if t is None:
        known = ", ".join(spec.analysis) or "none"
        raise AnalysisUnknown(
            f"{where} names analysis '{name}', which is not defined",
            f"define it under `analysis:` in shipyard.yaml (known: {known})",
        )
    return t


def _analysis(spec: Any, name: str, duration: float | None, where: str) -> r.AnalysisStep:
    t = _template(spec, name, where)
    return r.AnalysisStep(name, duration if duration else max(t.interval, 1.0))


def strategy_of(spec: Any, env: str) -> r.Strategy:
    """The environment's strategy as ``domain.rollout`` takes it."""
    e = spec.environments[env]
    target = target_of(spec, env)
    n = target.instances
    s = e.strategy
    kind = s.kind
    # Canary states its own deadline; elsewhere a pool gets as long as readiness allows.
    readiness = target.readiness.timeout if target.type == "process" else 600.0
    common: dict[str, Any] = {
        "instances": n,
        "progress_deadline": max(readiness, 1.0),
        "on_failure": r.OnFailure(e.on_failure),
    }
    if kind == "rolling":
        return r.Rolling(
            **common, max_surge=s.rolling.max_surge, max_unavailable=s.rolling.max_unavailable
        )
    if kind == "blue-green":
        bg = s.blue_green
        where = f"environments.{env}.strategy.blue-green"
        return r.BlueGreen(
            **common,
            auto_promote=bg.auto_promote,
            promotion_delay=bg.promotion_delay,
            pre_promotion_analysis=_analysis(spec, bg.pre_promotion_analysis, None, where)
            if bg.pre_promotion_analysis
            else None,
            post_promotion_analysis=_analysis(spec, bg.post_promotion_analysis, None, where)
            if bg.post_promotion_analysis
            else None,
            scale_down_delay=bg.scale_down_delay,
        )
    if kind == "canary":
        steps: list[r.CanaryStep] = []
        for st in s.canary.steps:
            if st.weight is not None:
                steps.append(r.WeightStep(st.weight))
            elif st.pause is not None:
                steps.append(r.PauseStep(None if st.pause == "until-promoted" else st.pause))
            else:
                where = f"environments.{env}.strategy.canary"
                steps.append(_analysis(spec, st.analysis, st.duration, where))
        common["progress_deadline"] = s.canary.progress_deadline
        return r.Canary(**common, steps=tuple(steps))
    if kind == "rings":
        waves = []
        for w in s.rings.waves:
            extra: tuple[r.CanaryStep, ...] = (
                (_analysis(spec, w.analysis, w.duration, f"environments.{env}.rings"),)
                if w.analysis
                else ()
            )
            if w.pause is not None:
                extra += (r.PauseStep(None if w.pause == "until-promoted" else w.pause),)
            header = r.HeaderMatch.parse(w.header) if w.header else None
            waves.append(r.Wave(w.name, header, w.weight, extra))
        return r.Rings(**common, waves=tuple(waves))
    return r.Recreate(**common)


def analysis_templates(spec: Any) -> dict[str, Any]:
    """Every analysis template as plain data, stored with the deployment for its controller."""
    return {name: t.model_dump() for name, t in spec.analysis.items()}


def config_of(spec: Any, env: str) -> tuple[dict[str, str], dict[str, dict[str, Any]]]:
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


def config_revision(config: dict[str, str], secrets: dict[str, str]) -> str:
    """A short digest of the rendered configuration: a rotated secret makes a new revision too.

    Secret values enter only through their own digests, so the revision reveals nothing.
    """
    hashed = {k: hashlib.sha256(v.encode()).hexdigest() for k, v in secrets.items()}
    body = json.dumps({"config": config, "secrets": hashed}, sort_keys=True)
    return hashlib.sha256(body.encode()).hexdigest()[:12]
