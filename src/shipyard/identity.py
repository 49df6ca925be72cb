"""Who is acting: one answer for every command, event and check of separation of duties.

Embedded (the CLI on its own store): ``SHIPYARD_ACTOR``, else git's ``user.email`` in the
folder the command runs in, else the login name. Against a server: the name of the API token's
principal, which the server resolves (``of_principal``); the client's own variables are not
trusted there. Separation of duties compares these names with commit authors' emails, so they
should be people's emails.

Kept free of heavy imports: `shipyard run` answered by the up-to-date check calls it too.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

ENV = "SHIPYARD_ACTOR"


def actor(cwd: Path | None = None) -> str:
    """The embedded actor: SHIPYARD_ACTOR, else git's user.email, else the login name."""
    named = os.environ.get(ENV, "").strip()
    if named:
        return named
    return _git_email(cwd) or _login()


def of_principal(principal: Any) -> str:
    """The actor of an API request: its token's principal (the token's name)."""
    return str(principal.name)


def _git_email(cwd: Path | None) -> str:
    """git's ``user.email``: read from git's config files as git would, or by asking git
    when they hold anything this reader does not follow (includes, quoting, GIT_DIR)."""
    found = _email_from_files(cwd or Path.cwd())
    return _ask_git(cwd) if found is None else found


def _ask_git(cwd: Path | None) -> str:
    import subprocess

    try:
        proc = subprocess.run(
            ["git", "config", "user.email"],
            cwd=cwd,
            capture_output=True,
            text=True,
            timeout=5,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired):
        return ""
    return proc.stdout.strip() if proc.returncode == 0 else ""


def _config_files(cwd: Path) -> list[Path] | None:
    """git's config files from lowest to highest precedence; None when git must be asked."""
    env = os.environ
    asked = ("GIT_DIR", "GIT_CONFIG", "GIT_CONFIG_COUNT", "GIT_CONFIG_PARAMETERS")
    if any(k in env for k in asked):
        return None
    files: list[Path] = []
    if not env.get("GIT_CONFIG_NOSYSTEM"):
        files.append(Path(env.get("GIT_CONFIG_SYSTEM") or "/etc/gitconfig"))
    if env.get("GIT_CONFIG_GLOBAL"):
        files.append(Path(env["GIT_CONFIG_GLOBAL"]))
    else:
        home = Path(env.get("HOME") or "~").expanduser()
        xdg = Path(env.get("XDG_CONFIG_HOME") or home / ".config")
        files += [xdg / "git" / "config", home / ".gitconfig"]
    here = cwd.resolve()
    for folder in (here, *here.parents):
        dot = folder / ".git"
        if dot.is_dir():
            files.append(dot / "config")
            break
        if dot.is_file():
            return None  # a worktree or submodule: its config is found through gitdir files
    return files


def _email_from_files(cwd: Path) -> str | None:
    """The last ``email`` of a ``[user]`` section across the files; None: ask git."""
    files = _config_files(cwd)
    if files is None:
        return None
    email = ""
    for path in files:
        try:
            text = path.read_text()
        except FileNotFoundError:
            continue
        except (OSError, UnicodeDecodeError):
            return None
        section = ""
        for raw in text.splitlines():
            line = raw.strip()
            if not line or line[0] in "#;":
                continue
            if line.startswith("["):
                if "]" not in line:
                    return None
                section = line[1 : line.index("]")].strip().lower()
                if section.startswith("include"):
                    return None  # includes and includeIf: git resolves them
                line = line[line.index("]") + 1 :].strip()
                if not line:
                    continue
            if section != "user":
                continue
            key, eq, value = line.partition("=")
            if key.strip().lower() != "email":
                continue
            value = value.strip()
            if not eq or any(c in value for c in '"\\#;'):
                return None  # quoting, escapes or comments: git reads them exactly
            email = value
    return email


def _login() -> str:
    import getpass

    try:
        return getpass.getuser()
    except (KeyError, OSError):  # no passwd entry and no LOGNAME/USER (some containers)
        return f"uid:{os.getuid()}"
