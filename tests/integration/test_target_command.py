"""The command target running real shell hooks: templating, failures, timeouts, masking."""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest

from shipyard.adapters.targets.base import Target, TargetConfigInvalid
from shipyard.adapters.targets.command import (
    CommandTarget,
    HookFailed,
    HookMissing,
    HookTimeout,
    mask,
)

SECRET = "s3cr3t-token-value"


def make(tmp_path: Path, **hooks: str) -> CommandTarget:
    return CommandTarget(
        {"deploy": "true", **hooks},
        environment="production",
        cwd=tmp_path,
        secrets={"DEPLOY_TOKEN": SECRET},
        timeout=5,
    )


def test_hooks_get_templated_and_quoted_variables(tmp_path: Path) -> None:
    """Variables fill the hook line shell-quoted, and also arrive as SHIPYARD_* variables."""
    target = make(
        tmp_path,
        deploy="printf '%s|' {version} {env} {pool} {instances} > out; echo $SHIPYARD_POOL >> out",
        set_weight="echo {pool}={weight} > weight",
    )
    assert isinstance(target, Target)
    instances = target.deploy("canary", "1.2.0 rc; rm -rf x", 3)
    assert (tmp_path / "out").read_text() == "1.2.0 rc; rm -rf x|production|canary|3|canary\n"
    assert [i.index for i in instances] == [0, 1, 2]
    result = target.set_weight("canary", 25)
    assert result.status == 0 and (tmp_path / "weight").read_text() == "canary=25\n"


def test_failing_hook_raises_with_status_and_output(tmp_path: Path) -> None:
    """A hook exiting non-zero raises hook-failed naming the hook, status and last stderr."""
    target = make(tmp_path, promote="echo 'quota exceeded' >&2; exit 4")
    with pytest.raises(HookFailed) as info:
        target.promote("canary")
    err = info.value
    assert err.code == "hook-failed" and err.hint
    assert "'promote'" in err.message and "status 4" in err.message
    assert "quota exceeded" in err.message and err.details["status"] == 4


def test_secrets_are_masked_in_output_and_errors(tmp_path: Path) -> None:
    """A secret echoed by a hook appears as *** in its output and in the error raised."""
    target = make(
        tmp_path,
        health="echo token=$DEPLOY_TOKEN; echo $DEPLOY_TOKEN >&2; exit 1",
        rollback="echo using $DEPLOY_TOKEN",
    )
    assert target.rollback("stable").stdout == "using ***\n"
    with pytest.raises(HookFailed) as info:
        target.wait_ready("stable")
    text = str(info.value.to_dict())
    assert SECRET not in text and "***" in text


def test_hook_timeout_kills_the_hook_and_its_children(tmp_path: Path) -> None:
    """A hook running past its timeout raises hook-timeout and its process group is killed."""
    target = CommandTarget(
        {"deploy": "sleep 600 & echo $! > child; wait"},
        environment="dev",
        cwd=tmp_path,
        timeout=0.5,
    )
    with pytest.raises(HookTimeout) as info:
        target.deploy("stable", "v1", 1)
    assert info.value.code == "hook-timeout"
    child = int((tmp_path / "child").read_text())
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        try:
            os.kill(child, 0)
        except ProcessLookupError:
            break
        if Path(f"/proc/{child}/stat").read_text().rsplit(")", 1)[1].split()[0] == "Z":
            break
        time.sleep(0.02)
    else:
        pytest.fail("the hook's child survived")


def test_health_hook_decides_readiness(tmp_path: Path) -> None:
    """ready() counts the deployed instances when health exits 0, and none when it fails."""
    flag = tmp_path / "healthy"
    target = make(tmp_path, health=f"test -e {flag}")
    target.deploy("stable", "v1", 2)
    assert target.ready("stable") == 0
    flag.touch()
    assert target.ready("stable") == 2 and len(target.wait_ready("stable")) == 2
    target.stop("stable", keep=1)
    assert len(target.instances("stable")) == 1


@pytest.mark.parametrize(
    ("hooks", "code", "words"),
    [
        ({"deploy": "true", "launch": "x"}, "target-config-invalid", "unknown hook 'launch'"),
        ({"deploy": "kubectl set image {image}"}, "target-config-invalid", "{image}"),
        ({"deploy": "echo {version"}, "target-config-invalid", "not a valid template"),
        ({"health": "true"}, "hook-missing", "'deploy' hook"),
    ],
)
def test_bad_hook_config_is_refused(hooks: dict[str, str], code: str, words: str) -> None:
    """Unknown hooks or variables, bad templates and a missing deploy hook are config errors."""
    with pytest.raises(TargetConfigInvalid) as info:
        CommandTarget(hooks, environment="dev")
    assert info.value.code == code and words in info.value.message and info.value.hint


def test_calling_an_absent_hook_names_it(tmp_path: Path) -> None:
    """Asking for a hook the target does not define raises hook-missing naming it."""
    with pytest.raises(HookMissing) as info:
        make(tmp_path).set_weight("canary", 10)
    assert "set_weight" in info.value.message
    with pytest.raises(TargetConfigInvalid):
        make(tmp_path, set_weight="true").set_weight("canary", 101)


def test_mask_hides_overlapping_secrets() -> None:
    """Masking replaces longer secrets first so no fragment of one survives."""
    assert mask("abc abcdef", ["abc", "abcdef"]) == "*** ***"
    assert mask("nothing", [""]) == "nothing"
