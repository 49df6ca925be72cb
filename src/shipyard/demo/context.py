"""What every step of `shipyard demo` works in: the sample copied to a folder, its store and
calendar (steps.py runs the steps; deploy.py and coordination.py hold some)."""

from __future__ import annotations

import shutil
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

from shipyard.settings import STATE_DIR, Settings
from shipyard.store.uow import Store

if TYPE_CHECKING:
    from shipyard.services.pipelines.pipeline import RunSummary
    from shipyard.spec.models import Spec

SAMPLE = Path(__file__).resolve().parent / "sample"
ACTOR = "demo"


WEEKDAYS = ("MON", "TUE", "WED", "THU", "FRI", "SAT", "SUN")


@dataclass(frozen=True)
class Calendar:
    """The sample's freeze windows, placed clear of the day the demo runs: the deploys it
    makes now meet only the freeze it declares itself, and the instants it asks about show
    one window each."""

    year_end: tuple[date, date]
    weekly_day: int  # the weekly maintenance night starts at 18:00 UTC on this weekday
    inside: datetime  # in the year-end freeze
    weekly: datetime  # in the next weekly maintenance night
    outside: datetime  # in neither

    @classmethod
    def around(cls, now: datetime) -> Calendar:
        year = now.year if now.date() < date(now.year, 12, 19) else now.year + 1
        night = (now + timedelta(days=2)).replace(hour=19, minute=0, second=0, microsecond=0)
        return cls(
            year_end=(date(year, 12, 20), date(year + 1, 1, 4)),
            weekly_day=night.weekday(),
            inside=datetime(year, 12, 24, 12, 0, tzinfo=UTC),
            weekly=night,
            outside=datetime(year, 11, 25, 12, 0, tzinfo=UTC),  # noon: never a night
        )

    def freezes_yaml(self) -> str:
        start, end = self.year_end
        day, next_day = WEEKDAYS[self.weekly_day], WEEKDAYS[(self.weekly_day + 1) % 7]
        return (
            f"    - {{name: year-end, start: {start}, end: {end}}}\n"
            f'    - {{name: weekly-maintenance, start_cron: "0 18 * * {day}", '
            f'end_cron: "0 8 * * {next_day}", timezone: UTC}}\n'
        )


@dataclass
class DemoContext:
    root: Path
    store: Store
    calendar: Calendar = field(default_factory=lambda: Calendar.around(datetime.now(UTC)))
    spec: Spec | None = None  # step_validate loads it
    facts: dict[str, Any] = field(default_factory=dict)

    def need_spec(self) -> Spec:
        """The spec step_validate loaded, which every later step works from."""
        if self.spec is None:
            raise RuntimeError("the demo's steps run after step_validate, which loads the spec")
        return self.spec


def prepare(root: Path, now: datetime | None = None) -> DemoContext:
    root.mkdir(parents=True, exist_ok=True)
    for item in SAMPLE.iterdir():
        if item.is_file():
            shutil.copy2(item, root / item.name)
    calendar = Calendar.around(now or datetime.now(UTC))
    spec_file = root / "shipyard.yaml"
    head, _, _ = spec_file.read_text().partition("    - {name: year-end")
    spec_file.write_text(head + calendar.freezes_yaml())
    settings = Settings(
        home=root / STATE_DIR, database_url=f"sqlite:///{root / STATE_DIR / 'state.db'}"
    )
    return DemoContext(root=root, store=Store.open(settings), calendar=calendar)


def git(ctx: DemoContext, *args: str) -> None:
    import subprocess

    subprocess.run(["git", *args], cwd=ctx.root, check=True, capture_output=True)


def build(ctx: DemoContext, actor: str) -> tuple[RunSummary, str, Path]:
    """Run the sample's pipeline; the run's summary, and its artifact's name and file."""
    from shipyard.services.pipelines import pipeline

    spec = ctx.need_spec()
    run = pipeline.run(ctx.store, spec, ctx.root, trigger="demo", actor=actor)
    name = next(j.artifact for j in spec.pipeline.jobs.values() if j.artifact)
    return run, name, sorted((ctx.root / "dist").glob("*.zip"))[0]
