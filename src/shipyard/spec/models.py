"""The schema of shipyard.yaml: one model per section, unknown keys refused everywhere."""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING, Annotated, Any, Literal

from pydantic import BeforeValidator, Field, field_validator, model_validator

from shipyard.spec import notifications as _notifications
from shipyard.spec.base import (
    NAME_RE,
    Duration,
    Model,
    Name,
    Scalar,
    SecretRef,
    StrList,
    _as_list,
)

if TYPE_CHECKING:
    from shipyard.domain.calendar import TrainSchedule

# -- pipeline ---------------------------------------------------------------------------------


class Retries(Model):
    max: int = Field(default=0, ge=0, le=20)
    backoff: Duration = 1.0
    max_backoff: Duration = 60.0


def _retries(value: Any) -> Any:
    return {"max": value} if isinstance(value, int) and not isinstance(value, bool) else value


def _secrets(value: Any) -> Any:
    if isinstance(value, list):  # [TOKEN] is shorthand for {TOKEN: {env: TOKEN}}
        return {str(v): {"env": str(v)} for v in value}
    return value


class Job(Model):
    run: str = Field(min_length=1)
    needs: StrList = []
    matrix: dict[str, Any] | None = None
    max_combinations: int | None = Field(None, alias="max-combinations", ge=1, le=10_000)
    if_: str | None = Field(None, alias="if")
    env: dict[str, Scalar] = {}
    working_directory: str | None = Field(None, alias="working-directory")
    timeout: Duration | None = None
    retries: Annotated[Retries, BeforeValidator(_retries)] = Retries()
    continue_on_error: bool = Field(False, alias="continue-on-error")
    inputs: StrList = []
    outputs: StrList = []
    tools: StrList = []
    secrets: Annotated[dict[str, SecretRef], BeforeValidator(_secrets)] = {}
    cache: bool = True
    sandbox: bool = False
    runs_on: StrList = Field([], alias="runs-on")  # labels: Dask worker resources
    artifact: Name | None = None

    @field_validator("timeout")
    @classmethod
    def _some_time(cls, value: float | None) -> float | None:
        if value is not None and value <= 0:  # the step would be killed as it starts
            raise ValueError("a timeout must be longer than 0s; leave it out for none")
        return value

    @field_validator("matrix")
    @classmethod
    def _matrix_shape(cls, value: dict[str, Any] | None) -> dict[str, Any] | None:
        if value is None:
            return None
        for axis, values in value.items():
            if axis in ("include", "exclude"):
                if not isinstance(values, list) or not all(isinstance(v, dict) for v in values):
                    raise ValueError(f"matrix.{axis} must be a list of mappings")
            elif not isinstance(values, list) or not values:
                raise ValueError(f"matrix axis '{axis}' must be a non-empty list of values")
        return value


class Pipeline(Model):
    jobs: dict[Name, Job] = {}


# -- environments and deployments ---------------------------------------------------------------


class Readiness(Model):
    path: str = "/healthz"
    timeout: Duration = 30.0


class ProcessTarget(Model):
    type: Literal["process"]
    command: str
    instances: int = Field(1, ge=1, le=64)
    readiness: Readiness = Readiness()
    grace: Duration = 10.0


class CommandTarget(Model):
    type: Literal["command"]
    deploy: str
    set_weight: str | None = None
    health: str | None = None
    promote: str | None = None
    rollback: str | None = None
    stop: str | None = None
    instances: int = Field(1, ge=1, le=1000)
    timeout: Duration = 300.0  # per hook run


Target = Annotated[ProcessTarget | CommandTarget, Field(discriminator="type")]


class CanaryStep(Model):
    weight: int | None = Field(None, ge=0, le=100)
    pause: Duration | Literal["until-promoted"] | None = None
    analysis: str | None = None
    duration: Duration | None = None

    @model_validator(mode="after")
    def _one_kind(self) -> CanaryStep:
        kinds = [k for k in ("weight", "pause", "analysis") if getattr(self, k) is not None]
        if len(kinds) != 1:
            raise ValueError("a canary step is exactly one of weight, pause or analysis")
        if self.duration is not None and self.analysis is None:
            raise ValueError("duration belongs to an analysis step")
        return self


class Canary(Model):
    steps: list[CanaryStep] = Field(min_length=1)
    progress_deadline: Duration = 600.0


class Rolling(Model):
    max_surge: int | str = "25%"
    max_unavailable: int | str = 0


class BlueGreen(Model):
    auto_promote: bool = True
    promotion_delay: Duration = 0.0
    pre_promotion_analysis: str | None = None
    post_promotion_analysis: str | None = None
    analysis_duration: Duration | None = None  # of each; default: three intervals
    scale_down_delay: Duration = 30.0
    # The preview of the new pool before the switch: requests with this header, a router
    # port of its own (0: any), and a share of live requests copied to it (answers dropped).
    preview_header: str | None = None  # e.g. "x-preview: 1"
    preview_port: int | None = Field(None, ge=0, le=65535)
    mirror: int = Field(0, ge=0, le=100)


class Ring(Model):
    name: Name
    header: str | None = None  # e.g. "x-ring: internal"
    weight: int | None = Field(None, ge=0, le=100)
    analysis: str | None = None
    duration: Duration | None = None
    pause: Duration | Literal["until-promoted"] | None = None  # after the wave's analysis


class Rings(Model):
    waves: list[Ring] = Field(min_length=1)


class Strategy(Model):
    recreate: dict[str, Any] | None = None
    rolling: Rolling | None = None
    blue_green: BlueGreen | None = Field(default=None, alias="blue-green")
    canary: Canary | None = None
    rings: Rings | None = None

    @property
    def kind(self) -> str:
        for name in ("recreate", "rolling", "blue_green", "canary", "rings"):
            if getattr(self, name) is not None:
                return name.replace("_", "-")
        return "recreate"

    @model_validator(mode="after")
    def _exactly_one(self) -> Strategy:
        chosen = [n for n in type(self).model_fields if getattr(self, n) is not None]
        if len(chosen) > 1:
            raise ValueError("choose one strategy")
        return self


def _strategy(value: Any) -> Any:
    if isinstance(value, str):  # "canary" alone is not enough: it needs steps
        if value in ("recreate", "rolling", "blue-green"):
            return {value: {}}
        if value in ("canary", "rings"):
            raise ValueError(f"strategy '{value}' needs its settings, e.g. {value}: {{...}}")
        raise ValueError(
            f"unknown strategy '{value}'; one of recreate, rolling, blue-green, canary, rings"
        )
    return value


Gate = str | dict[str, Any]


class Watch(Model):
    """Analysis judged in the background through a rollout, then for ``window`` after it."""

    analysis: StrList = []  # templates; a failing verdict rolls back (or holds)
    window: Duration = 0.0  # after promotion; 0: only during the rollout


class Environment(Model):
    target: Target | None = None
    strategy: Annotated[Strategy, BeforeValidator(_strategy)] = Strategy(recreate={})
    promote_from: Name | None = None
    gates: list[Gate] = []
    config: dict[str, Scalar] = {}
    secrets: Annotated[dict[str, SecretRef], BeforeValidator(_secrets)] = {}
    router: Literal["builtin", "nginx"] = "builtin"
    migrate: str | None = None  # run before traffic moves; a non-zero exit stops the deploy
    migrate_files: str | None = None  # glob of the .sql files `migrate` applies; linted first
    expand_contract: bool = False  # destructive migrations are allowed (two-phase changes)
    # hold: a failed rollout stops where it is instead of rolling back, for when a migration
    # already ran that the old version cannot read; a person resumes, promotes or aborts it.
    on_failure: Literal["rollback", "hold"] = "rollback"
    watch: Watch = Watch()


# -- analysis, flags, release ------------------------------------------------------------------


Judge = Literal["threshold", "mann-whitney", "two-proportion"]
MetricKind = Literal["error_rate", "latency_p95", "latency_p99", "query"]


class AnalysisMetric(Model):
    """One metric of a template; what it leaves out it takes from the template."""

    name: Name | None = None
    metric: MetricKind = "error_rate"
    provider: Literal["builtin", "prometheus"] | None = None
    address: str | None = None
    query: str | None = None
    max: float | None = None
    max_increase: float | None = None
    min_samples: int | None = Field(None, ge=1)
    judge: Judge | None = None
    alpha: float | None = Field(None, gt=0, lt=1)


class AnalysisTemplate(Model):
    provider: Literal["builtin", "prometheus"] = "builtin"
    metric: MetricKind = "error_rate"
    query: str | None = None
    address: str | None = None
    max: float | None = None
    max_increase: float | None = None
    min_samples: int = Field(50, ge=1)
    interval: Duration = 10.0
    failure_limit: int = Field(0, ge=0)
    inconclusive_limit: int | None = Field(None, ge=0)  # None: only the last one counts
    consecutive_error_limit: int = Field(4, ge=0)
    judge: Judge = "threshold"
    alpha: float = Field(0.05, gt=0, lt=1)  # significance of the statistical judges
    metrics: list[AnalysisMetric] = []  # judged together at every interval


class FlagEnvironment(Model):
    enabled: bool = False
    rollout: int | None = Field(None, ge=0, le=100)
    strategies: list[dict[str, Any]] = []
    variants: list[dict[str, Any]] = []


class Flag(Model):
    type: Literal["release", "experiment", "operational", "kill-switch", "permission"] = "release"
    description: str = ""
    owner: str | None = None
    environments: dict[Name, FlagEnvironment] = {}


class Train(Model):
    cut: str
    every_weeks: int = Field(1, ge=1, le=52)
    stabilize: Duration = 0.0
    timezone: str = "UTC"

    def schedule(self) -> TrainSchedule:
        """The train as the calendar reckons it."""
        from shipyard.domain.calendar import TrainSchedule

        return TrainSchedule.from_spec(
            {
                "cut": self.cut,
                "every_weeks": self.every_weeks,
                "stabilize": dt.timedelta(seconds=self.stabilize),
                "timezone": self.timezone,
            }
        )


class Freeze(Model):
    name: Name
    start: dt.date | dt.datetime | None = None
    end: dt.date | dt.datetime | None = None
    start_cron: str | None = None
    end_cron: str | None = None
    timezone: str = "UTC"
    environments: list[Name] = []

    @model_validator(mode="after")
    def _one_shape(self) -> Freeze:
        dates = self.start is not None or self.end is not None
        crons = self.start_cron is not None or self.end_cron is not None
        if dates == crons:
            raise ValueError("a freeze has either start and end, or start_cron and end_cron")
        if dates and (self.start is None or self.end is None):
            raise ValueError("a dated freeze needs both start and end")
        if crons and (self.start_cron is None or self.end_cron is None):
            raise ValueError("a recurring freeze needs both start_cron and end_cron")
        if dates and str(self.start) > str(self.end):
            raise ValueError("a freeze cannot end before it starts")
        return self


def _tag_format(value: Any) -> Any:
    if isinstance(value, str):
        from shipyard.domain.versioning import check_tag_format
        from shipyard.errors import InputError

        try:
            check_tag_format(value)
        except InputError as exc:  # re-raised as ValueError so the error keeps its position
            raise ValueError(f"{exc.message}; {exc.hint}") from exc
    return value


def _commit_types(value: Any) -> Any:
    if isinstance(value, dict):
        from shipyard.domain.versioning import commit_types
        from shipyard.errors import InputError

        try:
            commit_types({str(k): str(b) for k, b in value.items()})
        except InputError as exc:  # re-raised as ValueError so the error keeps its position
            raise ValueError(f"{exc.message}; {exc.hint}") from exc
    return value


Bump = Literal["major", "minor", "patch", "none"]


ENV_NAME_RE = r"^[A-Za-z_][A-Za-z0-9_]*$"
EnvName = Annotated[str, Field(pattern=ENV_NAME_RE)]
# The OCI distribution spec's repository name: lower-case path components.
OCI_REPOSITORY_RE = (
    r"^[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*(?:/[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*)*$"
)


def _registry_url(value: Any) -> Any:
    """An http(s) URL with no credentials in it: those come from environment variables."""
    if isinstance(value, str):
        from urllib.parse import urlsplit

        parts = urlsplit(value)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError(f"{value!r} is not an http:// or https:// URL")
        if parts.username or parts.password:
            raise ValueError(
                "a URL here must not carry credentials; name the environment variables that "
                "hold them with username_env and token_env"
            )
    return value


class PublishTarget(Model):
    """A registry `shipyard release` publishes artifacts to (services/releases/publish.py)."""

    type: Literal["pypi", "npm", "oci"]
    name: Name | None = None  # default: the type; `artifacts push --to NAME`
    url: Annotated[str, BeforeValidator(_registry_url)]
    repository: str | None = Field(None, pattern=OCI_REPOSITORY_RE)  # oci: acme/shop
    index_url: Annotated[str | None, BeforeValidator(_registry_url)] = None  # pypi: what is there
    username: str | None = None
    username_env: EnvName | None = None
    token_env: EnvName | None = None
    artifacts: list[Name] = []  # default: every artifact of the release
    timeout: Duration = 120.0

    @property
    def label(self) -> str:
        return self.name or self.type

    @model_validator(mode="after")
    def _shape(self) -> PublishTarget:
        if self.type == "oci" and not self.repository:
            raise ValueError("an oci target names its repository, e.g. repository: acme/shop")
        if self.type != "oci" and self.repository:
            raise ValueError("repository belongs to an oci target")
        if self.type != "pypi" and self.index_url:
            raise ValueError("index_url belongs to a pypi target")
        if self.username is not None and self.username_env is not None:
            raise ValueError("give username or username_env, not both")
        return self


class ReleaseService(Model):
    """A service of a monorepo: its own version from the commits touching its paths."""

    path: Annotated[list[str], BeforeValidator(_as_list), Field(min_length=1)]
    artifacts: list[Name] = []  # default: an artifact named like the service, if any

    @field_validator("path")
    @classmethod
    def _relative(cls, value: list[str]) -> list[str]:
        for p in value:
            if not p.strip() or p.startswith("/") or ".." in p.split("/"):
                raise ValueError(f"{p!r} is not a path inside the repository")
        return value


class ReleaseHooks(Model):
    after_release: str | None = None  # a shell command; see docs/artifacts.md#hooks
    timeout: Duration = 300.0


class Release(Model):
    versioning: Literal["conventional-commits", "calver"] = "conventional-commits"
    major_on_zero: bool = True
    prerelease_branches: dict[str, str] = {}
    tag_format: Annotated[str, BeforeValidator(_tag_format)] = "v{version}"
    squash_bullets: bool = True  # count each `* feat: ...` line of a squash merge's body
    # type or type(scope-glob) -> the bump it makes, over feat: minor, fix/perf: patch
    commit_types: Annotated[dict[str, Bump], BeforeValidator(_commit_types)] = {}
    version_files: StrList = []  # pyproject.toml, package.json, Cargo.toml, VERSION
    publish: list[PublishTarget] = []
    services: dict[Name, ReleaseService] = {}
    hooks: ReleaseHooks = ReleaseHooks()
    train: Train | None = None
    freezes: list[Freeze] = []


class Spec(Model):
    project: Annotated[str, Field(pattern=NAME_RE)]
    pipeline: Pipeline = Pipeline()
    environments: dict[Name, Environment] = {}
    analysis: dict[Name, AnalysisTemplate] = {}
    config: dict[str, Scalar] = {}  # base configuration every environment layers over
    secrets: Annotated[dict[str, SecretRef], BeforeValidator(_secrets)] = {}
    flags: dict[Name, Flag] = {}
    release: Release = Release()
    notifications: list[_notifications.Subscription] = []
