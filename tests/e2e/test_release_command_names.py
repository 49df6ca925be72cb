"""The release-coordination command names of the issue (`breakglass request`, `vuln update`)
through the real `shipyard` command, and the follow-up review break-glass leaves behind."""

from __future__ import annotations

from pathlib import Path

from shipyard.settings import Settings
from shipyard.store.uow import Store
from tests.e2e.helpers import as_json, shipyard
from tests.integration.release_helpers import SPEC, publish

ALICE = {"SHIPYARD_ACTOR": "alice@example.com"}
CAROL = {"SHIPYARD_ACTOR": "carol@example.com"}
OSV = Path(__file__).resolve().parents[1] / "data" / "osv"


def _repo(path: Path) -> Path:
    path.mkdir(parents=True)
    (path / "shipyard.yaml").write_text(SPEC)
    store = Store.open(Settings(path / ".shipyard", f"sqlite:///{path / '.shipyard/state.db'}"))
    publish(store, "1.2.0", author="alice@example.com")
    store.dispose()
    return path


def test_breakglass_request_approve_and_the_review_train_status_shows(tmp_path: Path) -> None:
    """`breakglass request` defaults to production and the freeze gate; once a second person
    approves it, `train status` lists its review (text and JSON) until `breakglass review`."""
    repo = _repo(tmp_path / "r")
    req = shipyard(
        "breakglass", "request", "--reason", "payments down", "--incident", "INC-9", "--json",
        cwd=repo, env=ALICE,
    )  # fmt: skip
    assert req.returncode == 0, req.stderr
    bg = as_json(req)
    assert bg["environment"] == "production" and bg["gates"] == ["freeze"]
    assert bg["incident"] == "INC-9" and bg["approved_by"] is None
    pending = as_json(shipyard("train", "status", "--json", cwd=repo))
    assert pending["reviews_due"] == []  # nothing was let through yet

    own = shipyard("breakglass", "approve", bg["id"], cwd=repo, env=ALICE)
    assert own.returncode == 5 and "error[self-approval]" in own.stderr
    ok = shipyard("breakglass", "approve", bg["id"], "--json", cwd=repo, env=CAROL)
    assert as_json(ok)["approved_by"] == "carol@example.com"

    status = as_json(shipyard("train", "status", "--json", cwd=repo))
    [due] = status["reviews_due"]
    assert due["id"] == bg["id"] and due["incident"] == "INC-9"
    assert due["approved_by"] == "carol@example.com"
    assert any(bg["id"] in b and "follow-up review" in b for b in status["blocked_by"])
    text = shipyard("train", "status", cwd=repo).stdout
    assert f"break-glass {bg['id']}" in text and "follow-up review" in text

    empty = shipyard("breakglass", "review", bg["id"], "--notes", " ", cwd=repo)
    assert empty.returncode == 2 and "error[notes-missing]" in empty.stderr
    done = shipyard("breakglass", "review", bg["id"], "--notes", "postmortem PM-7", cwd=repo)
    assert done.returncode == 0, done.stderr
    after = as_json(shipyard("train", "status", "--json", cwd=repo))
    assert after["reviews_due"] == []
    assert not any(bg["id"] in b for b in after["blocked_by"])
    twice = shipyard("breakglass", "review", bg["id"], "--notes", "again", cwd=repo)
    assert twice.returncode == 7 and "error[break-glass-reviewed]" in twice.stderr


def test_breakglass_bad_input_is_refused(tmp_path: Path) -> None:
    """Unknown gates and environments, and a missing reason, fail with their codes."""
    repo = _repo(tmp_path / "r")
    gate = shipyard("breakglass", "request", "--reason", "x", "--gates", "freez", cwd=repo)
    assert gate.returncode == 2 and "error[gate-unknown]" in gate.stderr and "hint:" in gate.stderr
    env = shipyard("breakglass", "request", "prod", "--reason", "x", cwd=repo)
    assert env.returncode == 6 and "did you mean 'production'" in env.stderr
    reason = shipyard("breakglass", "request", "--incident", "INC-1", cwd=repo)
    assert reason.returncode == 2 and "--reason" in reason.stderr
    unknown = shipyard("breakglass", "approve", "bg-nope", cwd=repo, env=CAROL)
    assert unknown.returncode == 6 and "error[break-glass-not-found]" in unknown.stderr


def test_vuln_update_from_a_file_or_folder(tmp_path: Path) -> None:
    """`vuln update --from` imports OSV records and lists malformed ones; a missing source or
    no --from at all is an error."""
    repo = _repo(tmp_path / "r")
    out = as_json(shipyard("vuln", "update", "--from", str(OSV), "--json", cwd=repo))
    assert out["imported"] == 2 and [s["id"] for s in out["skipped"]] == ["BROKEN-1"]
    one = next(p for p in sorted(OSV.glob("*.json")) if "BROKEN" not in p.read_text())
    single = as_json(shipyard("vuln", "update", "--from", str(one), "--json", cwd=repo))
    assert single["imported"] == 1 and single["skipped"] == []
    missing = shipyard("vuln", "update", "--from", str(tmp_path / "none.zip"), cwd=repo)
    assert missing.returncode == 6 and "error[osv-source-not-found]" in missing.stderr
    no_from = shipyard("vuln", "update", cwd=repo)
    assert no_from.returncode == 2 and "--from" in no_from.stderr
    listed = shipyard("--help", cwd=repo).stdout
    assert "breakglass" in listed and "vuln " in listed
