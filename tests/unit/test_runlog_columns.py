"""The run log (store/runlog.py) writes the pipeline tables through the database driver, apart
from SQLAlchemy; these tests keep its column lists in step with the tables the rest of the store
defines, so a column added to one path and not the other fails here rather than in a run."""

from __future__ import annotations

from shipyard.store import runlog
from shipyard.store.pipelines import action_cache, pipeline_steps


def test_step_rows_carry_every_column_of_pipeline_steps() -> None:
    """A step row written by the driver names every column of the table, and no other."""
    assert sorted(runlog.STEP_COLUMNS) == sorted(c.name for c in pipeline_steps.columns)


def test_cache_entries_carry_every_column_of_action_cache() -> None:
    """A cache entry written by the driver names every column of the table, and no other."""
    assert sorted(runlog.CACHE_COLUMNS) == sorted(c.name for c in action_cache.columns)
