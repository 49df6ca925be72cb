"""The two errors of a rollout: a strategy spec that cannot be run, and a user action the
rollout cannot take where it is.

Kept apart because most modules of the package raise them: the specs, commands and
observations read back from storage, and the machine.
"""

from __future__ import annotations

from shipyard.errors import Conflict, InputError


class RolloutSpecInvalid(InputError):
    code = "rollout-spec-invalid"
    default_hint = "see the strategies in docs/shipyard-yaml.md#environments"


class RolloutActionRefused(Conflict):
    code = "rollout-action-refused"
    default_hint = "see `shipyard rollout status` for what the rollout is waiting for"


def _invalid(message: str, hint: str | None = None) -> RolloutSpecInvalid:
    return RolloutSpecInvalid(message, hint)
