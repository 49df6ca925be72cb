"""A target driven by the user's shell hooks, for any platform (kubectl, ssh, a cloud CLI).

Hooks are shell command lines named ``deploy``, ``set_weight``, ``health``, ``promote``,
``rollback`` (and optionally ``stop``), with ``{version}``, ``{weight}``, ``{env}``,
``{pool}`` and ``{instances}`` filled in, each value shell-quoted. A hook succeeds when it
exits 0; otherwise ``HookFailed`` carries its status and the end of its output. Secrets reach
hooks only through their environment, and every secret value is masked out of captured output
and error messages. Hooks run through the ``Commands`` port (``ports/commands.py``): the shell
of this host unless another is given.
"""

from __future__ import annotations

import os
import shlex
import string
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from shipyard.adapters.targets.base import (
    Instance,
    TargetConfigInvalid,
    TargetError,
    check_count,
    mask,
)
from shipyard.ports.commands import Commands

HOOKS = ("deploy", "set_weight", "health", "promote", "rollback", "stop")
VARIABLES = ("version", "weight", "env", "pool", "instances")


class HookFailed(TargetError):
    code = "hook-failed"
    default_hint = "run the hook by hand with the same variables to see why it failed"


class HookTimeout(HookFailed):
    code = "hook-timeout"
    default_hint = "the hook ran past its timeout and was killed; raise `timeout` or fix the hook"


class HookMissing(TargetConfigInvalid):
    code = "hook-missing"


@dataclass(frozen=True)
class HookResult:
    """A finished hook: its status and its output with secrets masked."""

    hook: str
    command: str
    status: int
    stdout: str
    stderr: str


def _fields(template: str) -> list[str]:
    try:
        return [f for _, f, _, _ in string.Formatter().parse(template) if f is not None]
    except ValueError as exc:
        raise TargetConfigInvalid(
            f"hook {template!r} is not a valid template: {exc}", "write {{ for a literal brace"
        ) from exc


class CommandTarget:
    """Shell hooks as a target; implements ``targets.base.Target`` plus weight control."""

    def __init__(
        self,
        hooks: Mapping[str, str],
        *,
        environment: str,
        cwd: Path | None = None,
        env: Mapping[str, str] | None = None,
        secrets: Mapping[str, str] | None = None,
        timeout: float = 300.0,
        commands: Commands | None = None,
    ) -> None:
        for name, template in hooks.items():
            if name not in HOOKS:
                raise TargetConfigInvalid(f"unknown hook '{name}'", f"hooks are {', '.join(HOOKS)}")
            for field in _fields(template):
                if field not in VARIABLES:
                    raise TargetConfigInvalid(
                        f"hook '{name}' uses unknown variable {{{field}}}",
                        f"variables are {', '.join('{' + v + '}' for v in VARIABLES)}",
                    )
        if "deploy" not in hooks:
            raise HookMissing("a command target needs a 'deploy' hook", "add hooks.deploy")
        self.hooks = dict(hooks)
        self.environment = environment
        self.cwd = cwd
        self.base_env = dict(os.environ if env is None else env)
        self.secrets = dict(secrets or {})
        self.timeout = timeout
        if commands is None:
            from shipyard.adapters.commands import ShellCommands

            commands = ShellCommands()
        self.commands = commands
        self._pools: dict[str, tuple[str, int]] = {}

    # -- hooks --------------------------------------------------------------------------------

    def run(
        self, hook: str, extra_env: Mapping[str, str] | None = None, **values: object
    ) -> HookResult:
        """Run ``hook`` with ``values`` templated in; raise ``HookFailed`` unless it exits 0."""
        template = self.hooks.get(hook)
        if template is None:
            raise HookMissing(
                f"the command target has no '{hook}' hook", f"add hooks.{hook} to the target"
            )
        filled = {v: "" for v in VARIABLES} | {"env": self.environment}
        filled |= {k: str(v) for k, v in values.items()}
        line = template.format_map({k: shlex.quote(v) for k, v in filled.items()})
        shown = mask(line, list(self.secrets.values()))
        env = {**self.base_env, **(extra_env or {}), **self.secrets}
        env |= {f"SHIPYARD_{k.upper()}": v for k, v in filled.items()}
        try:
            ran = self.commands.run(line, cwd=self.cwd, env=env, timeout=self.timeout)
        except OSError as exc:
            raise HookFailed(f"cannot run hook '{hook}': {exc.strerror}") from exc
        if ran.timed_out:
            raise HookTimeout(
                f"hook '{hook}' ({shown}) ran longer than {self.timeout:g}s",
                details={"stderr": self._clean(ran.stderr)[-2000:]},
            )
        result = HookResult(
            hook, shown, ran.status, self._clean(ran.stdout), self._clean(ran.stderr)
        )
        if result.status != 0:
            last = (result.stderr.strip() or result.stdout.strip()).splitlines()[-3:]
            raise HookFailed(
                f"hook '{hook}' ({shown}) exited with status {result.status}"
                + (f": {' | '.join(last)}" if last else ""),
                details={"status": result.status, "stderr": result.stderr[-2000:]},
            )
        return result

    def _clean(self, data: bytes) -> str:
        return mask(data.decode(errors="replace"), list(self.secrets.values()))

    # -- Target -------------------------------------------------------------------------------

    def deploy(
        self, pool: str, version: str, instances: int, env: Mapping[str, str] | None = None
    ) -> Sequence[Instance]:
        check_count(instances)
        self.run("deploy", env, pool=pool, version=version, instances=instances)
        self._pools[pool] = (version, instances)
        return self.instances(pool)

    def ready(self, pool: str) -> int:
        version, count = self._pools.get(pool, ("", 0))
        if "health" not in self.hooks:
            return count  # without a health hook, a deploy that exited 0 counts as ready
        try:
            self.run("health", pool=pool, version=version, instances=count)
        except HookFailed:
            return 0
        return count

    def wait_ready(self, pool: str, timeout: float | None = None) -> Sequence[Instance]:
        version, count = self._pools.get(pool, ("", 0))
        if "health" in self.hooks:
            self.run("health", pool=pool, version=version, instances=count)
        return self.instances(pool)

    def stop(self, pool: str, keep: int = 0) -> None:
        check_count(keep)
        version, _ = self._pools.get(pool, ("", 0))
        if "stop" in self.hooks:
            self.run("stop", pool=pool, version=version, instances=keep)
        if keep:
            self._pools[pool] = (version, keep)
        else:
            self._pools.pop(pool, None)

    def instances(self, pool: str | None = None) -> Sequence[Instance]:
        pools = [pool] if pool is not None else list(self._pools)
        out: list[Instance] = []
        for p in pools:
            version, count = self._pools.get(p, ("", 0))
            out += [Instance(p, i, version) for i in range(count)]
        return out

    # -- traffic, for platforms that route themselves ------------------------------------------

    def set_weight(self, pool: str, weight: int) -> HookResult:
        """Send ``weight`` percent of traffic to ``pool`` through the set_weight hook."""
        if isinstance(weight, bool) or not 0 <= weight <= 100:
            raise TargetConfigInvalid(f"weight {weight} is outside 0..100")
        version, count = self._pools.get(pool, ("", 0))
        return self.run("set_weight", pool=pool, weight=weight, version=version, instances=count)

    def promote(self, pool: str) -> HookResult:
        version, count = self._pools.get(pool, ("", 0))
        return self.run("promote", pool=pool, version=version, instances=count)

    def rollback(self, pool: str) -> HookResult:
        version, count = self._pools.get(pool, ("", 0))
        return self.run("rollback", pool=pool, version=version, instances=count)
