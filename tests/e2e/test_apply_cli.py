"""`shipyard apply` and `shipyard worker` answer bad input with a code, a place and a hint."""

from __future__ import annotations

from pathlib import Path

from tests.e2e.helpers import as_json, shipyard


def test_apply_refuses_a_bad_file_before_sending_it(tmp_path: Path) -> None:
    """A shipyard.yaml with a mistake is refused with file:line:column (exit 2), against an
    unreachable server too: it is checked before anything is sent; a good one is applied to
    the local store, and again is unchanged."""
    spec = tmp_path / "shipyard.yaml"
    spec.write_text("project: shop\nenvironments:\n  dev:\n    strategy: sideways\n")
    away = {"SHIPYARD_SERVER": "http://127.0.0.1:1", "SHIPYARD_TOKEN": "shp_x"}
    bad = shipyard("apply", cwd=tmp_path, env=away)
    assert bad.returncode == 2
    assert "shipyard.yaml:4:" in bad.stderr and "hint:" in bad.stderr
    spec.write_text("project: shop\nenvironments:\n  dev: {strategy: recreate}\n")
    first = as_json(shipyard("apply", "--json", cwd=tmp_path))
    again = as_json(shipyard("apply", "--json", cwd=tmp_path))
    assert (first["revision"], first["changed"]) == (1, True)
    assert (again["revision"], again["changed"]) == (1, False)


def test_worker_refuses_unknown_kinds(tmp_path: Path) -> None:
    """`shipyard worker --kinds` naming no kind of work is a usage error listing the kinds."""
    out = shipyard("worker", "--kinds", "rollout,laundry", cwd=tmp_path)
    assert out.returncode == 2
    assert "error[usage]" in out.stderr and "laundry" in out.stderr
    assert "rollout, supervise, schedules, notify" in out.stderr
