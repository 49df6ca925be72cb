"""The pipeline shell's small parts: masking, outputs, the stat cache, globs, sizes."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from shipyard.adapters.executors.commands import (
    Launch,
    launch_for,
    run_foreground,
    shell,
    wants_bash,
)
from shipyard.adapters.executors.local import (
    LocalExecutor,
    OutputsError,
    Result,
    Task,
    check_secret,
    mask,
    parse_outputs,
)
from shipyard.adapters.files import StatCache, Workspace, glob_regex
from shipyard.adapters.racy import racy
from shipyard.errors import InputError
from shipyard.services.pipelines.pipeline import command_of, job_def
from shipyard.services.pipelines.pipeline_history import parse_size
from shipyard.spec.load import parse_spec
from tests.procs import alive

OLD_NS = 1_600_000_000 * 10**9  # 2020: long before any cache entry is written


def test_mask_replaces_every_occurrence() -> None:
    """A secret is replaced wherever it appears in the log."""
    assert mask(b"token=hunter22 again hunter22", ["hunter22"]) == b"token=*** again ***"


def test_mask_multiline_secret_whole_and_by_line() -> None:
    """A multi-line secret is masked whole, and each of its lines when printed alone."""
    key = "-----BEGIN KEY-----\nabcdefgh\n-----END KEY-----"
    log = f"full:\n{key}\nline only: abcdefgh\n".encode()
    out = mask(log, [key])
    assert b"abcdefgh" not in out and b"BEGIN KEY" not in out
    assert out.startswith(b"full:\n***\n")


def test_mask_prefers_the_longest_secret() -> None:
    """When one secret contains another, the longer is masked first and nothing leaks."""
    assert mask(b"abcd-efgh", ["abcd", "abcd-efgh"]) == b"***"


def test_short_secret_is_refused_with_a_hint() -> None:
    """A secret under 4 characters is refused rather than masking every matching word."""
    with pytest.raises(InputError) as err:
        check_secret("PIN", "123")
    assert err.value.code == "secret-too-short" and err.value.hint
    check_secret("OK", "1234")


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("a=1\nb=two words\n", {"a": "1", "b": "two words"}),
        ("x=a=b\n\n", {"x": "a=b"}),
        ("notes<<EOF\nline 1\nline 2\nEOF\nk=v\n", {"notes": "line 1\nline 2", "k": "v"}),
        ("a=1\na=2\n", {"a": "2"}),
        ("", {}),
    ],
)
def test_parse_outputs(text: str, expected: dict[str, str]) -> None:
    """$SHIPYARD_OUTPUT holds key=value lines and key<<DELIMITER blocks."""
    assert parse_outputs(text) == expected


@pytest.mark.parametrize("text", ["just words\n", "=value\n", "k<<EOF\nno end\n", "a b=1\n"])
def test_parse_outputs_rejects_bad_lines(text: str) -> None:
    """A line that is not key=value, or a block with no closing line, is an error."""
    with pytest.raises(OutputsError):
        parse_outputs(text)


def _old_file(path: Path, data: bytes) -> None:
    path.write_bytes(data)
    os.utime(path, ns=(OLD_NS, OLD_NS))


def test_stat_cache_does_not_reread_an_unchanged_file(tmp_path: Path) -> None:
    """With size, mtime and inode unchanged, the remembered digest is used without reading."""
    f = tmp_path / "a.txt"
    _old_file(f, b"one")
    cache = StatCache(tmp_path / "stat.json")
    first = cache.digest(f)
    # Same size and mtime, other bytes: only a re-read could notice.
    f.write_bytes(b"two")
    os.utime(f, ns=(OLD_NS, OLD_NS))
    assert cache.digest(f) == first


def test_stat_cache_rereads_when_mtime_changes(tmp_path: Path) -> None:
    """A new mtime makes the cache read the file again, so a changed file gets a new digest."""
    f = tmp_path / "a.txt"
    _old_file(f, b"one")
    cache = StatCache(tmp_path / "stat.json")
    first = cache.digest(f)
    f.write_bytes(b"two")
    os.utime(f, ns=(OLD_NS + 10**9, OLD_NS + 10**9))
    assert cache.digest(f) != first


def test_stat_cache_survives_a_save_and_load(tmp_path: Path) -> None:
    """Entries are written to disk and read back by the next run."""
    f = tmp_path / "a.txt"
    _old_file(f, b"one")
    cache = StatCache(tmp_path / "stat.json")
    digest = cache.digest(f)
    cache.save()
    assert StatCache(tmp_path / "stat.json").entries[str(f)][3] == digest


def test_stat_cache_does_not_remember_a_file_written_just_now(tmp_path: Path) -> None:
    """A file modified within the last second is hashed but not remembered (racy stat)."""
    f = tmp_path / "fresh.txt"
    f.write_bytes(b"new")
    soon = time.time_ns() + 10**9  # a clock tick away at most, however slow this machine is
    os.utime(f, ns=(soon, soon))
    cache = StatCache(tmp_path / "stat.json")
    cache.digest(f)
    assert str(f) not in cache.entries


def test_damaged_stat_cache_starts_empty(tmp_path: Path) -> None:
    """A stat cache file that is not JSON is ignored, not an error."""
    (tmp_path / "stat.json").write_text("{not json")
    assert StatCache(tmp_path / "stat.json").entries == {}


@pytest.mark.parametrize(
    ("pattern", "path", "matches"),
    [
        ("*.py", "app.py", True),
        ("*.py", "src/app.py", False),
        ("src/**/*.py", "src/app.py", True),
        ("src/**/*.py", "src/a/b/app.py", True),
        ("src/**", "src/a/b.txt", True),
        ("src/**", "srcx/b.txt", False),
        ("dist/*.whl", "dist/x-1.0.whl", True),
        ("file?.txt", "file1.txt", True),
        ("file[!1].txt", "file1.txt", False),
        ("a+b.txt", "a+b.txt", True),
    ],
)
def test_glob_regex(pattern: str, path: str, matches: bool) -> None:
    """`**` spans folders, `*` and `?` stay within one, special characters are literal."""
    assert bool(glob_regex(pattern).match(path)) is matches


def test_workspace_expand_names_the_pattern_that_matches_nothing(tmp_path: Path) -> None:
    """An input pattern that matches no file is an error naming the pattern."""
    (tmp_path / "a.py").write_text("")
    ws = Workspace(tmp_path)
    assert ws.expand(["*.py"], "input", "lint") == ["a.py"]
    with pytest.raises(InputError) as err:
        ws.expand(["*.py", "docs/*.md"], "input", "lint")
    assert err.value.code == "glob-matches-nothing" and "docs/*.md" in err.value.message


def test_workspace_skips_the_state_folder(tmp_path: Path) -> None:
    """Files under .shipyard and .git never count as inputs."""
    (tmp_path / ".shipyard").mkdir()
    (tmp_path / ".shipyard" / "x.py").write_text("")
    (tmp_path / "y.py").write_text("")
    assert Workspace(tmp_path).match("**/*.py") == ["y.py"]


@pytest.mark.parametrize(
    ("text", "size"),
    [("1000", 1000), ("10k", 10_000), ("500MB", 500_000_000), ("2GiB", 2 * 1024**3)],
)
def test_parse_size(text: str, size: int) -> None:
    """Sizes take decimal and binary units."""
    assert parse_size(text) == size


def test_parse_size_rejects_nonsense() -> None:
    """A size that is not a number and unit is an input error with a hint."""
    with pytest.raises(InputError) as err:
        parse_size("lots")
    assert err.value.code == "size-invalid" and err.value.hint


def test_command_of_fills_matrix_values() -> None:
    """`${{ matrix.KEY }}` in a command becomes the combination's value."""
    assert command_of("py${{ matrix.v }} ${{matrix.x}}", {"v": "3.11"}) == "py3.11 ${{matrix.x}}"


def test_job_def_from_spec() -> None:
    """A spec job becomes a JobDef with its matrix split and durations in seconds."""
    spec = parse_spec(
        "project: p\npipeline:\n  jobs:\n    t:\n      run: x\n      timeout: 2m\n"
        "      retries: 2\n      matrix: {py: ['3.11'], exclude: [{py: '3.12'}]}\n"
    )
    d = job_def("t", spec.pipeline.jobs["t"])
    assert d.timeout_s == 120 and d.retries == 2
    assert d.matrix == {"py": ("3.11",)} and d.exclude == ({"py": "3.12"},)


def shell_for(command: str, cwd: Path, path: str | None = os.environ["PATH"]) -> list[str]:
    return launch_for(command, cwd, path).argv


@pytest.mark.parametrize(
    "command",
    [
        "mkdir -p out && tr a-z A-Z < in.txt > out/x.txt",
        "cat in.txt | tr a b >> log.txt; ls",
        "ls 2>err.txt",  # a file descriptor number: the shell's to handle
        "ls > a.txt > b.txt",  # two redirects of one stream
    ],
)
def test_plain_command_lists_run_under_sh(tmp_path: Path, command: str) -> None:
    """Programs joined by list operators and simple redirects need no bash."""
    assert shell_for(command, tmp_path) == ["/bin/sh", "-c", command]


@pytest.mark.parametrize(
    "command",
    [
        "echo -e 'a\\tb'",  # a builtin that differs between shells
        "true",
        "ls $HOME",
        "ls {a,b}",
        "ls *.txt",
        "X=1 ls",
        "ls > ",
        "ls && && ls",
        "[[ -f x ]]",
        "no-such-program-xyz arg",
        "./script",  # no #!: each shell would run it as its own script
        "ls\ncd /",
    ],
)
def test_anything_else_runs_under_bash(tmp_path: Path, command: str) -> None:
    (tmp_path / "script").write_text("echo hi\n")
    (tmp_path / "script").chmod(0o755)
    assert shell_for(command, tmp_path) == ["bash", "-c", command]


TR = shutil.which("tr")
READ, WRITE = os.O_RDONLY, os.O_WRONLY | os.O_CREAT | os.O_TRUNC
APPEND = os.O_WRONLY | os.O_CREAT | os.O_APPEND


@pytest.mark.parametrize(
    ("command", "argv", "redirects"),
    [
        ("tr a-z A-Z", ["tr", "a-z", "A-Z"], ()),
        ("tr a-z A-Z\n", ["tr", "a-z", "A-Z"], ()),  # the newline a YAML block leaves
        (
            "tr a-z A-Z < in.txt > out/x.txt",
            ["tr", "a-z", "A-Z"],
            ((0, "in.txt", READ), (1, "out/x.txt", WRITE)),
        ),
        ("tr a b>>log.txt", ["tr", "a", "b"], ((1, "log.txt", APPEND),)),
        ("< in.txt tr x=1 y", ["tr", "x=1", "y"], ((0, "in.txt", READ),)),
    ],
)
def test_one_program_starts_without_a_shell(
    tmp_path: Path, command: str, argv: list[str], redirects: tuple[tuple[int, str, int], ...]
) -> None:
    """A single program with at most one redirect per stream is started directly."""
    assert launch_for(command, tmp_path, os.environ["PATH"]) == Launch(argv, TR, redirects)


def test_a_script_with_a_shebang_starts_without_a_shell(tmp_path: Path) -> None:
    (tmp_path / "tool.sh").write_text("#!/bin/sh\necho hi\n")
    (tmp_path / "tool.sh").chmod(0o755)
    launch = launch_for("./tool.sh --flag=1", tmp_path, os.environ["PATH"])
    assert launch == Launch(["./tool.sh", "--flag=1"], str(tmp_path / "tool.sh"))


@pytest.fixture(params=["here", "elsewhere"])
def started(request: pytest.FixtureRequest, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    """Steps in this process's own folder, and in another, which the spawner changes to."""
    if request.param == "here":
        monkeypatch.chdir(tmp_path)
    return str(request.param)


def _result(tmp_path: Path, command: str, env: dict[str, str]) -> Result:
    executor = LocalExecutor(1)
    try:
        executor.start(Task("n", command, tmp_path, env))
        results: list[Result] = []
        while not results:
            results = executor.wait(1.0)
        (result,) = results
    finally:
        executor.shutdown()
    return result


def _log(tmp_path: Path, command: str, env: dict[str, str]) -> bytes:
    result = _result(tmp_path, command, env)
    assert result.status == "success", result.log
    return result.log


def test_a_plain_list_gives_the_same_output_under_sh(tmp_path: Path, started: str) -> None:
    """Redirects, pipes and exit statuses of a plain list behave as they do under bash."""
    (tmp_path / "in.txt").write_text("hello\n")
    command = "mkdir -p out && tr a-z A-Z < in.txt > out/x.txt && cat out/x.txt | wc -l"
    assert shell_for(command, tmp_path)[0] == "/bin/sh"
    env = {"PATH": os.environ["PATH"]}
    assert _log(tmp_path, command, env).strip() == b"1"
    assert (tmp_path / "out/x.txt").read_text() == "HELLO\n"


def test_a_program_started_directly_reads_writes_and_appends_as_under_a_shell(
    tmp_path: Path, started: str
) -> None:
    """`<`, `>` and `>>` are opened for the program; its stderr and PWD are as a shell's."""
    (tmp_path / "in.txt").write_text("hello\n")
    env = {"PATH": os.environ["PATH"]}
    _log(tmp_path, "tr a-z A-Z < in.txt > out.txt", env)
    _log(tmp_path, "tr a-z A-Z < in.txt >> out.txt", env)
    assert (tmp_path / "out.txt").read_text() == "HELLO\nHELLO\n"
    assert _log(tmp_path, "env", env).count(f"PWD={tmp_path}\n".encode()) == 1
    failed = _result(tmp_path, "ls no-such-file-xyz", env)
    assert failed.status == "failure" and b"no-such-file-xyz" in failed.log


def test_a_redirect_that_cannot_be_opened_is_reported_by_the_shell(
    tmp_path: Path, started: str
) -> None:
    """When a redirect of a program started directly fails, the shell runs the command and
    says why in its own words, as it would have without the shortcut."""
    (tmp_path / "in.txt").write_text("hello\n")
    result = _result(
        tmp_path, "tr a-z A-Z < in.txt > no-such-dir/x.txt", {"PATH": os.environ["PATH"]}
    )
    assert result.status == "failure" and result.exit_code == 2
    assert b"no-such-dir/x.txt" in result.log and b"nonexistent" in result.log


def test_bash_settings_in_the_environment_keep_a_step_on_bash(tmp_path: Path, started: str) -> None:
    """BASH_ENV is read by bash alone, so a step with it set is never moved to sh."""
    (tmp_path / "rc").write_text("export FROM_BASH_ENV=yes\n")
    env = {"PATH": os.environ["PATH"], "BASH_ENV": str(tmp_path / "rc")}
    assert b"FROM_BASH_ENV=yes" in _log(tmp_path, "env", env)


def test_stat_cache_uses_what_this_run_wrote(tmp_path: Path) -> None:
    """A fresh file the run stored (and so hashed) is not read again for a later step's key,
    though it is too fresh to be remembered across runs."""
    f = tmp_path / "out.txt"
    f.write_bytes(b"made")
    cache = StatCache(tmp_path / "stat.json")
    cache.observe(f, "sha256:" + "0" * 64)  # the digest the CAS computed when it stored it
    assert cache.digest(f) == "sha256:" + "0" * 64
    assert str(f) not in cache.entries
    f.write_bytes(b"changed!")  # another size: the run's own record no longer applies
    assert cache.digest(f) != "sha256:" + "0" * 64
    assert cache.unstable  # seen twice with different stats: no up-to-date stamp


def test_programs_found_on_path_are_remembered(tmp_path: Path) -> None:
    """Each program is searched for on PATH once per executor, not once per step."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    tool = bin_dir / "mytool"
    tool.write_text("#!/bin/sh\necho hi\n")
    tool.chmod(0o755)
    found: dict[tuple[str, str], str] = {}
    path = str(bin_dir)
    assert launch_for("mytool a", tmp_path, path, found).executable == str(tool)
    assert found == {("mytool", path): str(tool)}
    tool.unlink()
    assert launch_for("mytool a", tmp_path, path, found).executable == str(tool)  # not searched
    assert shell_for("mytool a", tmp_path, path)[0] == "bash"  # without the memory: searched


@pytest.mark.parametrize(
    ("mtime_ns", "seen_ns", "expected"),
    [
        (1_700_000_000_123_456_789, 1_700_000_000_123_456_789, True),  # looked at as written
        (1_700_000_000_123_456_789, 1_700_000_000_140_000_000, True),  # 17 ms later
        (1_700_000_000_123_456_789, 1_700_000_000_150_000_000, False),  # 27 ms later
        (1_700_000_001_000_000_000, 1_700_000_000_900_000_000, True),  # mtime in the future
        (1_700_000_000_000_000_000, 1_700_000_001_500_000_000, True),  # whole seconds: 2 s
        (1_700_000_000_000_000_000, 1_700_000_002_500_000_000, False),
    ],
)
def test_racy(mtime_ns: int, seen_ns: int, expected: bool) -> None:
    assert racy(mtime_ns, seen_ns) is expected


def test_a_step_leads_its_own_group_with_default_signals(tmp_path: Path, started: str) -> None:
    """However it is started, a step leads a new session and process group (so it can be
    killed as a whole) and does not inherit Python's ignored SIGPIPE."""
    env = {"PATH": os.environ["PATH"]}
    stat = _log(tmp_path, "cat /proc/self/stat", env).decode()
    pid, rest = stat.split(" (", 1)
    fields = rest.rsplit(") ", 1)[1].split()
    assert fields[2] == fields[3] == pid  # process group and session
    status = _log(tmp_path, "grep SigIgn /proc/self/status", env).decode()
    ignored = int(status.split()[1], 16)
    assert not ignored & (1 << (signal.SIGPIPE - 1))


def _results(executor: LocalExecutor, n: int) -> dict[str, Result]:
    results: list[Result] = []
    for _ in range(40):
        results += executor.wait(0.5)
        if len(results) == n:
            break
    return {r.node: r for r in results}


def test_steps_beyond_the_workers_wait_for_a_free_slot(tmp_path: Path) -> None:
    """The executor takes twice its workers at once; those beyond wait in the spawner and
    start as others end, never two at a time with one worker, and a timeout still stops one."""
    env = {"PATH": os.environ["PATH"]}
    executor = LocalExecutor(1, grace_s=0.2)
    assert executor.capacity == 2
    try:
        executor.start(Task("slow", "sleep 30", tmp_path, env, timeout_s=0.2))
        for i in range(3):  # mkdir fails if another step holds the folder
            executor.start(Task(f"s{i}", "mkdir held && sleep 0.05 && rmdir held", tmp_path, env))
        by_node = _results(executor, 4)
    finally:
        executor.shutdown()
    assert by_node["slow"].status == "failure" and "timed out" in by_node["slow"].reason
    assert [by_node[f"s{i}"].status for i in range(3)] == ["success"] * 3, by_node


def test_a_run_killed_outright_leaves_no_step_behind(tmp_path: Path) -> None:
    """SIGKILL gives the run no chance to clean up: the spawner sees its requests end and kills
    every step's process group, background processes included."""
    script = (
        "import sys, time\n"
        "from pathlib import Path\n"
        "from shipyard.adapters.executors.local import LocalExecutor, Task\n"
        "e = LocalExecutor(1)\n"
        "env = {'PATH': '/usr/bin:/bin'}\n"
        "e.start(Task('bg', 'sleep 300 & echo $! > pid; wait', Path(sys.argv[1]), env))\n"
        "time.sleep(300)\n"
    )
    run = subprocess.Popen([sys.executable, "-c", script, str(tmp_path)])
    try:
        deadline = time.monotonic() + 20
        while not (tmp_path / "pid").is_file() or not (tmp_path / "pid").read_text().strip():
            assert time.monotonic() < deadline, "the step never started"
            time.sleep(0.02)
        sleeper = int((tmp_path / "pid").read_text())
        assert alive(sleeper)
    finally:
        run.kill()
        run.wait()
    deadline = time.monotonic() + 10
    while alive(sleeper):
        assert time.monotonic() < deadline, "the step's background process outlived the run"
        time.sleep(0.02)


@pytest.mark.parametrize(
    ("env", "expected"),
    [
        ({"PATH": "/usr/bin"}, False),
        ({"SHIPYARD_SHELL": "bash"}, True),
        ({"SHIPYARD_SHELL": "auto"}, False),
        ({"BASH_ENV": "/etc/x"}, True),
        ({"BASHOPTS": "extglob"}, True),
        ({"SHELLOPTS": "errexit"}, True),
        ({"MY_BASH": "1", "SHELLOPTS_X": "1"}, False),
    ],
)
def test_wants_bash(env: dict[str, str], expected: bool) -> None:
    """SHIPYARD_SHELL=bash, or a variable only bash reads, keeps every step on bash."""
    assert wants_bash(env) is expected


def test_a_step_in_the_foreground_opens_its_redirects_and_reports_its_end(tmp_path: Path) -> None:
    """The incremental path's way to run a step: redirects opened for a program started
    directly, a redirect that cannot be opened left to the shell to report, a failure's
    reason, a program that cannot start."""
    (tmp_path / "in.txt").write_text("hello\n")
    env = {"PATH": os.environ["PATH"]}

    def run(command: str, launch: Launch | None = None) -> tuple[int | None, bytes, str]:
        launch = launch or launch_for(command, tmp_path, env["PATH"])
        return run_foreground(launch, command, cwd=tmp_path, env=env, timeout=10)

    assert run("tr a-z A-Z < in.txt > out.txt") == (0, b"", "")
    assert (tmp_path / "out.txt").read_text() == "HELLO\n"
    code, log, reason = run("tr a-z A-Z < in.txt > no-such-dir/x.txt")
    assert (code, reason) == (2, "exited with status 2") and b"no-such-dir/x.txt" in log
    code, log, reason = run("x", Launch(["/no/such/program"], "/no/such/program"))
    assert code is None and reason == "cannot start the step: No such file or directory"
    assert log.startswith(b"shipyard: cannot start the step:")


def test_a_step_in_the_foreground_is_killed_with_its_group(tmp_path: Path) -> None:
    """Past its timeout the step's whole group is killed and the reason says so. A step ends
    when its process does, as on the full path: what it left running in the background, still
    holding its output open, neither holds it up nor outlives it."""
    env = {"PATH": os.environ["PATH"]}
    started = time.monotonic()
    code, log, reason = run_foreground(
        shell("sleep 30"), "sleep 30", cwd=tmp_path, env=env, timeout=0.2
    )
    assert time.monotonic() - started < 10
    assert code == -signal.SIGKILL
    assert reason == "timed out after 0.2s; its process group was killed"
    assert log.endswith(f"shipyard: {reason}\n".encode())
    command = "sleep 300 & echo $! > pid; echo started"
    started = time.monotonic()
    ended = run_foreground(shell(command), command, cwd=tmp_path, env=env, timeout=30)
    assert ended == (0, b"started\n", "") and time.monotonic() - started < 10
    sleeper = int((tmp_path / "pid").read_text())
    deadline = time.monotonic() + 10
    while alive(sleeper):
        assert time.monotonic() < deadline, "the step's background process outlived it"
        time.sleep(0.02)
