"""Feature flag evaluation, bit-compatible with Unleash.

Pure: the caller hands in the flag state (the ``/api/client/features`` payload or delta events),
the context, the current time (``now``) for date constraints, the host name for
``applicationHostname`` and, for the ``random`` strategy and stickiness, a source of random
numbers. Nothing here reads the clock, the network or the file system.

The behaviour follows the Unleash client specification and, where the specification is silent,
the reference engine (Yggdrasil) that the official SDKs embed, so that a user lands in the same
bucket whichever SDK asks:

* rollout buckets are ``murmur3_x86_32("groupId:stickiness", seed 0) % 100 + 1``;
* variant buckets are the same hash with seed 86028157, modulo the total variant weight;
* what the reference engine cannot compile switches the whole feature off: a number, date or
  semver constraint whose value is not one, a string operator without values, an unknown
  operator, a reference to a missing segment, a rollout above 100. An invalid regular expression
  only makes its constraint false, and unknown (custom) strategies are false;
* ``NUM_*``, ``DATE_*`` and ``SEMVER_*`` compare by the shape of the operand, as the reference
  engine's grammar does: ``NUM_GT`` with ``1.2.3`` compares semantic versions;
* the first strategy that matches picks the variant: from its own variants if it has some,
  otherwise from the feature's.

``REGEX`` takes the Rust ``regex`` crate's syntax and runs it on RE2, in time linear in the
input (see ``shipyard_sdk.flag_regex``); constructs Rust rejects, such as look-around and
back-references, make the constraint false.

The modules, each holding one part: ``vocabulary`` (Unleash's names), ``errors``, ``context``,
``model`` (typed flag values), ``parsing`` (JSON to model), ``literals`` (values as the
reference engine reads them), ``constraints`` and ``strategies`` (compiled to rules),
``variants`` (bucketing and variant picks), ``compiled`` (a feature ready to evaluate),
``state`` (``FeatureState``), ``evaluation`` and ``client_api`` (payloads and deltas). The
server adds what it refuses to store (``shipyard.domain.flag_validation``). Import from the
package: the names below are its interface.
"""

from __future__ import annotations

from shipyard_sdk.flags.client_api import apply_delta, hydrate_delta, load_state, served_feature
from shipyard_sdk.flags.context import UnleashContext
from shipyard_sdk.flags.errors import FlagDefinitionInvalid, FlagPayloadInvalid
from shipyard_sdk.flags.evaluation import get_variant, is_enabled
from shipyard_sdk.flags.model import (
    DISABLED_VARIANT,
    Constraint,
    Dependency,
    Feature,
    Override,
    Payload,
    Segment,
    Strategy,
    Variant,
    VariantDefinition,
)
from shipyard_sdk.flags.state import FeatureState
from shipyard_sdk.flags.variants import VARIANT_SEED, bucket
from shipyard_sdk.flags.vocabulary import (
    CONTEXT_FIELDS,
    KNOWN_OPERATORS,
    KNOWN_STRATEGIES,
    RandomSource,
)

__all__ = [
    "CONTEXT_FIELDS",
    "DISABLED_VARIANT",
    "KNOWN_OPERATORS",
    "KNOWN_STRATEGIES",
    "VARIANT_SEED",
    "Constraint",
    "Dependency",
    "Feature",
    "FeatureState",
    "FlagDefinitionInvalid",
    "FlagPayloadInvalid",
    "Override",
    "Payload",
    "RandomSource",
    "Segment",
    "Strategy",
    "UnleashContext",
    "Variant",
    "VariantDefinition",
    "apply_delta",
    "bucket",
    "get_variant",
    "hydrate_delta",
    "is_enabled",
    "load_state",
    "served_feature",
]
