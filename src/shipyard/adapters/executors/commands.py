"""How a step's command starts: under bash, under /bin/sh, or as the program itself.

``run`` is documented as ``bash -c RUN``. A command list of plain words, ``&&``, ``||``, ``;``,
``|``, newlines and ``<``, ``>``, ``>>`` runs the same under any POSIX shell when every command
in it is a program rather than a builtin, and dash starts in about a third of bash's time. One
such command alone (a program, its words, at most one ``<`` and one ``>`` or ``>>``) needs no
shell at all: it is started directly with the shell's redirects opened for it, which halves what
a small step such as ``tr a-z A-Z < in > out`` costs. Anything else keeps bash, and so does
every step when ``SHIPYARD_SHELL=bash`` (``wants_bash``).
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import signal
import subprocess
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

_TOKEN = re.compile(r"[A-Za-z0-9_./,:=+@%-]+|&&|\|\||>>|[;|\n<>]|[ \t]+")
_SEPARATORS = frozenset({"&&", "||", ";", "|", "\n"})
_OPEN_FLAGS = {
    "<": os.O_RDONLY,
    ">": os.O_WRONLY | os.O_CREAT | os.O_TRUNC,
    ">>": os.O_WRONLY | os.O_CREAT | os.O_APPEND,
}
# bash's builtins and keywords (`compgen -b -k`) spelt with the characters above, and dash's.
_BUILTIN_WORDS = (
    "alias bg bind break builtin caller case cd chdir command compgen complete compopt continue "
    "coproc declare dirs disown do done echo elif else enable esac eval exec exit export false "
    "fc fg fi for function getopts hash help history if in jobs kill let local logout mapfile "
    "popd printf pushd pwd read readarray readonly return select set shift shopt source "
    "suspend test then time times trap true type typeset ulimit umask unalias unset until wait "
    "while"
)
_BUILTINS = frozenset(_BUILTIN_WORDS.split())
SH = "/bin/sh"

# (program as written, PATH) -> the file a shell would run; filled as steps start.
Found = dict[tuple[str, str], str]


@dataclass(frozen=True)
class Launch:
    """What to start: ``argv`` (``executable`` when no shell is involved) and, for a program
    started directly, its redirects in command order as (fd, path, ``os.open`` flags)."""

    argv: list[str]
    executable: str | None = None
    redirects: tuple[tuple[int, str, int], ...] = ()

    @property
    def direct(self) -> bool:
        return self.executable is not None


def wants_bash(env: Mapping[str, str]) -> bool:
    """Whether a step with environment ``env`` must run under bash whatever its command:
    ``SHIPYARD_SHELL=bash`` asks for it (for a whole run, or a job's ``env``), and a ``BASH*``
    or ``SHELLOPTS`` variable holds settings only bash reads."""
    if env.get("SHIPYARD_SHELL") == "bash":
        return True
    names = "\n" + "\n".join(env) + "\n"  # searched at C speed: steps have many variables
    return "\nBASH" in names or "\nSHELLOPTS\n" in names


def shell(command: str) -> Launch:
    return Launch([SH, "-c", command])


def launch_for(command: str, cwd: Path, path: str | None, found: Found | None = None) -> Launch:
    """The cheapest way to start ``command`` that runs it as bash would (see above)."""
    bash = Launch(["bash", "-c", command])
    raw = _TOKEN.findall(command)
    tokens = [t for t in raw if not t.isspace() or t == "\n"]
    if "".join(raw) != command or not tokens:
        return bash  # quotes, expansions, globs, anything not plainly literal
    first = True
    previous = ""
    program = ""
    for token in tokens:
        if token in _SEPARATORS:
            if first or previous in _OPEN_FLAGS:
                return bash  # an empty command or a redirect without a target
            first = True
        elif token in _OPEN_FLAGS:
            if previous in _OPEN_FLAGS:
                return bash
        elif previous not in _OPEN_FLAGS and first:
            first = False
            if "=" in token or token in _BUILTINS:
                return bash
            program = _runnable(token, cwd, path, found) or ""
            if not program:
                return bash
        previous = token
    if previous in _OPEN_FLAGS or previous in {"&&", "||", "|"}:
        return bash
    return _direct(raw, tokens, program) or shell(command)


def _direct(raw: list[str], tokens: list[str], program: str) -> Launch | None:
    """One program with at most one redirect per stream, started without a shell."""
    while tokens and tokens[-1] == "\n":
        tokens = tokens[:-1]
    if any(t in _SEPARATORS for t in tokens):
        return None
    if any(t in _OPEN_FLAGS and raw[i - 1].isdigit() for i, t in enumerate(raw) if i):
        return None  # `2>x` names a file descriptor
    words: list[str] = []
    redirects: list[tuple[int, str, int]] = []
    it = iter(tokens)
    for token in it:
        if token in _OPEN_FLAGS:
            redirects.append((0 if token == "<" else 1, next(it), _OPEN_FLAGS[token]))
        else:
            words.append(token)
    if len({fd for fd, _, _ in redirects}) < len(redirects):
        return None
    return Launch(words, program, tuple(redirects))


def _runnable(word: str, cwd: Path, path: str | None, found: Found | None) -> str | None:
    """The binary or ``#!`` script either shell would find and exec the same way.

    Anything else keeps bash: its own "not found" message, and a script without ``#!``, which
    each shell would run as a script of its own.
    """
    if "/" in word:
        where: str | None = str(cwd / word)
    elif path is not None and found is not None and (word, path) in found:
        return found[(word, path)]  # seen by an earlier step: the search is not repeated
    elif path is None or not all(os.path.isabs(d) for d in path.split(os.pathsep)):
        return None  # the shells' default PATH, or folders relative to the step's own cwd
    else:
        where = shutil.which(word, path=path)
    if where is None or not os.access(where, os.X_OK):
        return None
    try:
        with open(where, "rb") as fh:
            head = fh.read(4)
    except OSError:  # a folder, or unreadable
        return None
    if head != b"\x7fELF" and head[:2] != b"#!":
        return None
    if found is not None and "/" not in word and path is not None:
        found[(word, path)] = where
    return where


def run_foreground(
    launch: Launch, command: str, *, cwd: Path, env: Mapping[str, str], timeout: float | None
) -> tuple[int | None, bytes, str]:
    """Run one step in this process's foreground, for the incremental path (which runs its few
    steps one after another): its own redirects opened, the rest of its output to its log, no
    input. It ends when its process does, as a step of the full path does: past ``timeout`` its
    process group is killed, and at its end what it left running in the background. Returns its
    exit code (None when it never started), its log, and why it failed ("" when it did not)."""
    import tempfile

    # The log is a file, not a pipe: a background process that keeps the step's output open
    # must not keep the step from ending.
    with tempfile.TemporaryFile() as log_file:
        log = log_file.fileno()
        streams = _streams(launch, cwd, log)
        if streams is None:  # a redirect the shell should report in its own words
            launch, streams = shell(command), _to_log(log)
        try:
            proc = subprocess.Popen(
                launch.argv,
                executable=launch.executable,
                cwd=cwd,
                env=env,
                start_new_session=True,
                stdin=streams["stdin"],
                stdout=streams["stdout"],
                stderr=streams["stderr"],
            )
        except OSError as exc:
            return (
                None,
                f"shipyard: cannot start the step: {exc}\n".encode(),
                f"cannot start the step: {exc.strerror}",
            )
        finally:
            for stream in streams.values():
                if stream not in (log, subprocess.DEVNULL):  # the redirects' files
                    os.close(stream)
        reason = ""
        try:
            proc.wait(timeout)
        except subprocess.TimeoutExpired:
            _kill_group(proc.pid)
            proc.wait()
            reason = f"timed out after {timeout:g}s; its process group was killed"
        _kill_group(proc.pid)  # what it left running in the background does not outlive it
        written = os.pread(log, os.fstat(log).st_size, 0)
    code = proc.returncode
    if reason:
        written += f"shipyard: {reason}\n".encode()
    elif code != 0:
        reason = f"killed by signal {-code}" if code < 0 else f"exited with status {code}"
    return code, written, reason


def _kill_group(pid: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pid, signal.SIGKILL)


def _to_log(log: int) -> dict[str, int]:
    """No input, and everything written to ``log``."""
    return {"stdin": subprocess.DEVNULL, "stdout": log, "stderr": log}


def _streams(launch: Launch, cwd: Path, log: int) -> dict[str, int] | None:
    """Standard input, output and error for a step's process: its own redirects opened (for a
    program started without a shell), no input otherwise, the rest of its output to ``log``.
    None when a redirect cannot be opened."""
    streams = _to_log(log)
    try:
        for fd, target, flags in launch.redirects:
            opened = os.open(os.path.join(cwd, target), flags | os.O_CLOEXEC, 0o666)
            streams["stdin" if fd == 0 else "stdout"] = opened
    except OSError:
        for stream in streams.values():
            if stream not in (log, subprocess.DEVNULL):
                os.close(stream)
        return None
    return streams
