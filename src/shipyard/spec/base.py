"""What every section of shipyard.yaml's schema builds on: the strict base model, names,
durations, lists written as one string, and references to secrets."""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, model_validator

NAME_RE = r"^[A-Za-z0-9][A-Za-z0-9_.-]*$"


def _duration_seconds(value: Any) -> float:
    from shipyard.domain.durations import DurationInvalid, parse_seconds

    try:
        return parse_seconds(value)
    except DurationInvalid as exc:  # re-raised as ValueError so the error keeps its position
        raise ValueError(f"{exc.message}; expected a duration like 90s, 10m or 1h30m") from exc


Duration = Annotated[float, BeforeValidator(_duration_seconds)]
Name = Annotated[str, Field(pattern=NAME_RE)]
Scalar = str | int | float | bool


def _as_list(value: Any) -> Any:
    return [value] if isinstance(value, str) else value


StrList = Annotated[list[str], BeforeValidator(_as_list)]


class Model(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True, frozen=True)


class SecretRef(Model):
    env: str | None = None
    file: str | None = None

    @model_validator(mode="after")
    def _one_source(self) -> SecretRef:
        if (self.env is None) == (self.file is None):
            raise ValueError("a secret names exactly one source: env or file")
        return self
