"""An OpenFeature provider over a FlagsClient (needs the ``openfeature-sdk`` package).

Booleans are ``is_enabled``; strings, numbers and objects are the payload of the variant the
flag picks, as Unleash's own OpenFeature providers map them. The targeting key is the user id;
attributes named as Unleash's context fields (``sessionId``, ``remoteAddress``, ``appName``,
``environment``, ``currentTime``) are those fields, and the others (or those of a
``properties`` structure) are properties.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence
from typing import Any, TypeVar

from openfeature.evaluation_context import EvaluationContext
from openfeature.exception import FlagNotFoundError, ParseError, TypeMismatchError
from openfeature.flag_evaluation import FlagResolutionDetails, Reason
from openfeature.provider import AbstractProvider
from openfeature.provider.metadata import Metadata

from shipyard_sdk.client import _Evaluator
from shipyard_sdk.flags import CONTEXT_FIELDS

T = TypeVar("T")


class ShipyardProvider(AbstractProvider):
    """``api.set_provider(ShipyardProvider(FlagsClient(url, token, env)))``."""

    def __init__(self, client: _Evaluator, *, close_on_shutdown: bool = True) -> None:
        super().__init__()
        self.client = client
        self._close_on_shutdown = close_on_shutdown

    def get_metadata(self) -> Metadata:
        return Metadata(name="shipyard")

    def initialize(self, evaluation_context: EvaluationContext) -> None:
        self.client._ready.wait(10)

    def shutdown(self) -> None:
        close = getattr(self.client, "close", None)
        if self._close_on_shutdown and close is not None:
            close()

    def _context(self, ctx: EvaluationContext | None) -> dict[str, Any]:
        if ctx is None:
            return {}
        out: dict[str, Any] = {}
        props: dict[str, Any] = {}
        for key, value in (ctx.attributes or {}).items():
            if key in CONTEXT_FIELDS:
                out[key] = value
            elif key == "properties" and isinstance(value, Mapping):
                props.update(value)  # Unleash's nested shape, as a structure attribute
            else:
                props[key] = value
        if ctx.targeting_key:
            out["userId"] = ctx.targeting_key
        if props:
            out["properties"] = props
        return out

    def _known(self, key: str) -> None:
        if key not in self.client.state:
            raise FlagNotFoundError(f"flag '{key}' not found")

    def resolve_boolean_details(
        self,
        flag_key: str,
        default_value: bool,
        evaluation_context: EvaluationContext | None = None,
    ) -> FlagResolutionDetails[bool]:
        self._known(flag_key)
        on = self.client.is_enabled(flag_key, self._context(evaluation_context))
        return FlagResolutionDetails(on, reason=Reason.TARGETING_MATCH if on else Reason.DISABLED)

    def _payload(
        self,
        flag_key: str,
        default: T,
        ctx: EvaluationContext | None,
        types: Sequence[str],
        convert: Callable[[str], T],
    ) -> FlagResolutionDetails[T]:
        self._known(flag_key)
        variant = self.client.get_variant(flag_key, self._context(ctx))
        if not variant.enabled or variant.payload is None:
            reason = Reason.DEFAULT if variant.feature_enabled else Reason.DISABLED
            return FlagResolutionDetails(default, reason=reason, variant=variant.name)
        if variant.payload.type not in types:
            raise TypeMismatchError(
                f"flag '{flag_key}' has a {variant.payload.type} payload, not {'/'.join(types)}"
            )
        try:
            value = convert(variant.payload.value)
        except (ValueError, TypeError) as exc:
            raise ParseError(f"flag '{flag_key}': payload is not {types[0]}: {exc}") from exc
        return FlagResolutionDetails(value, reason=Reason.TARGETING_MATCH, variant=variant.name)

    def resolve_string_details(
        self, flag_key: str, default_value: str, evaluation_context: EvaluationContext | None = None
    ) -> FlagResolutionDetails[str]:
        return self._payload(flag_key, default_value, evaluation_context, ("string", "csv"), str)

    def resolve_integer_details(
        self, flag_key: str, default_value: int, evaluation_context: EvaluationContext | None = None
    ) -> FlagResolutionDetails[int]:
        return self._payload(flag_key, default_value, evaluation_context, ("number",), int)

    def resolve_float_details(
        self,
        flag_key: str,
        default_value: float,
        evaluation_context: EvaluationContext | None = None,
    ) -> FlagResolutionDetails[float]:
        return self._payload(flag_key, default_value, evaluation_context, ("number",), float)

    def resolve_object_details(
        self,
        flag_key: str,
        default_value: Mapping[str, Any] | Sequence[Any],
        evaluation_context: EvaluationContext | None = None,
    ) -> FlagResolutionDetails[Any]:
        return self._payload(flag_key, default_value, evaluation_context, ("json",), json.loads)
