"""The steps a canary (and each wave of rings) is written in: a traffic weight, a pause, an
analysis, a header route; and the header match a route or a blue-green preview uses.

The building blocks of the strategies, with their JSON form, apart from the strategies that
validate a sequence of them.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, TypeAlias

from shipyard.domain.rollout.errors import _invalid

_HEADER_NAME = re.compile(r"^[!#$%&'*+.^_`|~0-9A-Za-z-]+$")


@dataclass(frozen=True)
class HeaderMatch:
    """Requests carrying ``header: value`` go to the canary pool (header names are lowercase)."""

    header: str
    value: str

    def __post_init__(self) -> None:
        if not _HEADER_NAME.match(self.header):
            raise _invalid(f"'{self.header}' is not a valid HTTP header name")
        if self.header != self.header.lower():
            object.__setattr__(self, "header", self.header.lower())
        if not self.value:
            raise _invalid(f"header '{self.header}' needs a value to match")

    @classmethod
    def parse(cls, text: str) -> HeaderMatch:
        """``"x-ring: internal"`` -> ``HeaderMatch("x-ring", "internal")``."""
        name, sep, value = text.partition(":")
        if not sep:
            raise _invalid(f"header match '{text}' has no ':'", "write it as 'header-name: value'")
        return cls(name.strip(), value.strip())

    def __str__(self) -> str:
        return f"{self.header}: {self.value}"

    def to_dict(self) -> dict[str, str]:
        return {"header": self.header, "value": self.value}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> HeaderMatch:
        return cls(str(data["header"]), str(data["value"]))


@dataclass(frozen=True)
class WeightStep:
    """Send ``weight`` percent of traffic to the canary (scaling it up first)."""

    weight: int

    def __post_init__(self) -> None:
        if isinstance(self.weight, bool) or not 0 <= self.weight <= 100:
            raise _invalid(f"weight {self.weight} is outside 0..100")


@dataclass(frozen=True)
class PauseStep:
    """Wait ``duration`` seconds, or until promoted when ``duration`` is None."""

    duration: float | None = None

    def __post_init__(self) -> None:
        if self.duration is not None and self.duration <= 0:
            raise _invalid(
                f"pause duration {self.duration:g} must be positive, or omitted",
                "pause for a duration such as 10m, or until-promoted to wait for a person",
            )


@dataclass(frozen=True)
class AnalysisStep:
    """Run analysis template ``template`` for ``duration`` seconds and wait for its verdict."""

    template: str
    duration: float

    def __post_init__(self) -> None:
        if not self.template:
            raise _invalid("an analysis step needs a template name")
        if self.duration <= 0:
            raise _invalid(
                f"analysis duration {self.duration:g} must be positive",
                "measure for a duration such as 2m, or leave it out for one interval",
            )


@dataclass(frozen=True)
class HeaderStep:
    """Route requests matching ``match`` to the canary, whatever the weights say."""

    match: HeaderMatch


CanaryStep: TypeAlias = WeightStep | PauseStep | AnalysisStep | HeaderStep


def _step_to_dict(s: CanaryStep) -> dict[str, Any]:
    if isinstance(s, WeightStep):
        return {"weight": s.weight}
    if isinstance(s, PauseStep):
        return {"pause": s.duration}
    if isinstance(s, AnalysisStep):
        return {"analysis": s.template, "duration": s.duration}
    return {"header": s.match.to_dict()}


def _step_from_dict(data: Mapping[str, Any]) -> CanaryStep:
    if "weight" in data:
        return WeightStep(int(data["weight"]))
    if "pause" in data:
        return PauseStep(None if data["pause"] is None else float(data["pause"]))
    if "analysis" in data:
        return AnalysisStep(str(data["analysis"]), float(data["duration"]))
    if "header" in data:
        return HeaderStep(HeaderMatch.from_dict(data["header"]))
    raise _invalid(f"unknown canary step {dict(data)!r}", "one of weight, pause, analysis, header")
