"""Flag lifecycle: expected lifetimes by type, and which flags are due for removal.

Pure: the shell hands in each flag's facts (definitions per environment, when each last
changed, when the flag was last evaluated, where code names it) and the current time.
Lifetimes are Unleash's: a release or experiment flag is expected to be gone after 40 days,
an operational one after 7; kill switches and permission flags are meant to stay.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Final

LIFETIME_DAYS: Final[Mapping[str, int | None]] = {
    "release": 40,
    "experiment": 40,
    "operational": 7,
    "kill-switch": None,
    "permission": None,
}
FLAG_TYPES: Final = tuple(LIFETIME_DAYS)

_FULL_STRATEGIES: Final = {"default"}
_PERCENT_PARAMETER: Final = {
    "flexibleRollout": "rollout",
    "gradualRolloutUserId": "percentage",
    "gradualRolloutSessionId": "percentage",
    "gradualRolloutRandom": "percentage",
}


def rollout_level(feature: Mapping[str, Any]) -> int | None:
    """0 when nobody gets the feature, 100 when everybody does, None when it is in between.

    Only unconditional strategies count as everybody: a constraint or segment narrows them.
    """
    if not feature.get("enabled"):
        return 0
    strategies = feature.get("strategies") or []
    if not strategies:
        return 100  # Unleash: an enabled feature without strategies is on for everyone
    levels: list[int | None] = []
    for strategy in strategies:
        name = strategy.get("name")
        narrowed = bool(strategy.get("constraints") or strategy.get("segments"))
        if name in _FULL_STRATEGIES:
            levels.append(None if narrowed else 100)
        elif name in _PERCENT_PARAMETER:
            raw = (strategy.get("parameters") or {}).get(_PERCENT_PARAMETER[name], "100")
            try:
                pct = int(str(raw))
            except ValueError:
                pct = -1
            if pct == 0:
                levels.append(0)
            else:
                levels.append(100 if pct == 100 and not narrowed else None)
        else:
            levels.append(None)
    if 100 in levels:
        return 100
    if all(level == 0 for level in levels):
        return 0
    return None


@dataclass(frozen=True)
class FlagFacts:
    """What the shell knows about one flag across its environments."""

    name: str
    type: str
    created_at: datetime
    # environment -> (the Unleash feature object, when it last changed)
    environments: Mapping[str, tuple[Mapping[str, Any], datetime]]
    last_evaluated: datetime | None = None
    references: Sequence[str] = field(default_factory=tuple)  # file:line


@dataclass(frozen=True)
class StaleFlag:
    name: str
    type: str
    reasons: tuple[str, ...]
    references: tuple[str, ...]

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "type": self.type,
            "reasons": list(self.reasons),
            "references": list(self.references),
        }


def stale_reasons(facts: FlagFacts, now: datetime, days: int) -> list[str]:
    """Why ``facts`` names a flag due for removal; empty when it is still doing its job.

    ``days`` is how long a flag may sit settled (0% or 100% everywhere) or unevaluated.
    """
    reasons: list[str] = []
    lifetime = LIFETIME_DAYS.get(facts.type)
    permanent = facts.type in LIFETIME_DAYS and lifetime is None
    age = now - facts.created_at
    if lifetime is not None and age > timedelta(days=lifetime):
        reasons.append(f"older than its expected lifetime ({lifetime} days for {facts.type} flags)")
    window = timedelta(days=days)
    levels = {rollout_level(f) for f, _ in facts.environments.values()}
    settled_for = min((now - changed for _, changed in facts.environments.values()), default=None)
    if (
        not permanent
        and settled_for is not None
        and settled_for > window
        and len(levels) == 1
        and None not in levels
    ):
        level = levels.pop()
        reasons.append(f"at {level}% in every environment for more than {days} days")
    if age > window and (facts.last_evaluated is None or now - facts.last_evaluated > window):
        reasons.append(f"no evaluations reported in {days} days")
    if age > window and not facts.references:  # a new flag may not be in code yet
        reasons.append("no code references it")
    return reasons


def find_stale(flags: Sequence[FlagFacts], now: datetime, days: int) -> list[StaleFlag]:
    """Flags that are due for removal, by name, each with why and where code names it."""
    out = []
    for facts in sorted(flags, key=lambda f: f.name):
        reasons = stale_reasons(facts, now, days)
        if reasons:
            out.append(StaleFlag(facts.name, facts.type, tuple(reasons), tuple(facts.references)))
    return out
