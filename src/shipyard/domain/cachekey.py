"""Action keys: what a step's result depends on, hashed, and why a key changed.

A step's *manifest* is plain JSON-ready data listing everything that can change its result:

    {"version": 2, "command": ..., "working_directory": ..., "platform": ...,
     "sandbox": bool, "env": {NAME: value}, "inputs": {path: digest},
     "tools": {tool: version}, "needs": {node id: {output: value}},
     "needed_files": {node id: {path: digest}}, "matrix": {key: value},
     "secrets": {NAME: ...}}

The *action key* is the SHA-256 (hex) of the manifest's canonical encoding: JSON with keys
sorted, no insignificant whitespace, UTF-8, no NaN. Input files enter by content digest, never
by mtime, so touching a file changes nothing. A needed step enters by what it hands on: its
``$SHIPYARD_OUTPUT`` values and the content digest of each output file it declared and
produced (``needed_files``). A step that reads what the step it needs wrote is re-run when
those bytes change, and is not re-run when the upstream step ran again but wrote the same
bytes (early cutoff). Only direct needs enter: a step reading the files of a job further up
names that job in ``needs`` too, or the files in ``inputs`` (a sandbox holds only those).
Storing the manifest next to the key lets ``explain_miss`` say what differs from the last run.

Secrets never enter the manifest in clear. By default only a secret's *name* enters (value
``None``): rotating a credential must not invalidate every cache entry, and a credential should
not change what a build produces. When a secret's value does shape the output (a signing key,
say), the caller passes ``secret_digest(value, salt)``, an HMAC-SHA256 under a per-project
random salt kept with the project's secrets and never in the cache. The salt is what stops a
reader of a shared cache from confirming guesses of a short secret against the manifest;
machines that share a remote cache share the salt so their keys agree. ``manifest`` refuses any
secret value that is not such a digest, so a clear value cannot slip in by mistake.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Final

__all__ = [
    "CACHE_FORMAT_VERSION",
    "KeyInputs",
    "action_key",
    "canonical_json",
    "content_digest",
    "explain_miss",
    "key_of",
    "keyed",
    "manifest",
    "secret_digest",
]

# Bump when the manifest's shape or meaning changes, so old entries stop matching. 2: the
# output files of needed steps and the sandbox entered the key (entries made without them
# could be stale).
CACHE_FORMAT_VERSION: Final = 2

_SECRET_DIGEST = re.compile(r"hmac-sha256:[0-9a-f]{64}")
# Output values longer than this are reported as changed without quoting them.
_SHOW_MAX: Final = 40


@dataclass(frozen=True)
class KeyInputs:
    """Everything a step's result depends on, as the shell measured it.

    ``inputs`` maps relative POSIX paths to content digests (see ``content_digest``);
    ``needs`` maps each needed node id to the ``$SHIPYARD_OUTPUT`` values it produced, and
    ``needed_files`` to the digests of the output files it produced, by relative path;
    ``secrets`` maps each declared secret name to ``None`` or to
    ``secret_digest(value, salt)``; ``sandbox`` says whether the step runs in a sandbox.
    """

    command: str
    env: Mapping[str, str] = field(default_factory=dict)
    inputs: Mapping[str, str] = field(default_factory=dict)
    tools: Mapping[str, str] = field(default_factory=dict)
    needs: Mapping[str, Mapping[str, str]] = field(default_factory=dict)
    needed_files: Mapping[str, Mapping[str, str]] = field(default_factory=dict)
    matrix: Mapping[str, Any] = field(default_factory=dict)
    platform: str = ""
    working_directory: str = "."
    secrets: Mapping[str, str | None] = field(default_factory=dict)
    sandbox: bool = False


def content_digest(data: bytes) -> str:
    """The digest an input file enters the key by: ``sha256:<hex>`` of its bytes."""
    return "sha256:" + hashlib.sha256(data).hexdigest()


def secret_digest(value: str, salt: bytes) -> str:
    """A keyed digest of a secret's value that is safe to store; see the module notes."""
    if len(salt) < 16:
        raise ValueError("the secret salt must be at least 16 random bytes")
    return "hmac-sha256:" + hmac.new(salt, value.encode("utf-8"), hashlib.sha256).hexdigest()


def canonical_json(value: Any) -> bytes:
    """The one byte encoding of a manifest that its key is computed over."""
    return json.dumps(
        value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False
    ).encode("utf-8")


def _plain(value: Any) -> Any:
    """Matrix values as JSON data; anything else YAML may produce (dates) becomes text."""
    if value is None or isinstance(value, bool | int | float | str):
        return value
    if isinstance(value, Mapping):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    return str(value)


def _strings(what: str, mapping: Mapping[str, Any]) -> dict[str, str]:
    # A number where text belongs would encode differently from its text and split the cache.
    for key, value in mapping.items():
        if not isinstance(key, str) or not isinstance(value, str):
            raise TypeError(f"{what} must map text to text, got {key!r}: {value!r}")
    return dict(sorted(mapping.items()))


def manifest(inputs: KeyInputs) -> dict[str, Any]:
    """The JSON-ready manifest of a step; store it beside the key for ``explain_miss``."""
    for name, value in inputs.secrets.items():
        if value is not None and not _SECRET_DIGEST.fullmatch(value):
            raise ValueError(
                f"secret {name} must enter the key as secret_digest(value, salt) or None, "
                "never in clear"
            )
    return {
        "version": CACHE_FORMAT_VERSION,
        "command": inputs.command,
        "working_directory": inputs.working_directory,
        "platform": inputs.platform,
        "sandbox": inputs.sandbox,
        "env": _strings("env", inputs.env),
        "inputs": _strings("inputs", inputs.inputs),
        "tools": _strings("tools", inputs.tools),
        "needs": {
            node: _strings(f"outputs of {node}", outputs)
            for node, outputs in sorted(inputs.needs.items())
        },
        "needed_files": {
            node: _strings(f"output files of {node}", files)
            for node, files in sorted(inputs.needed_files.items())
        },
        "matrix": {str(k): _plain(v) for k, v in sorted(inputs.matrix.items())},
        "secrets": dict(sorted(inputs.secrets.items())),
    }


def key_of(manifest: Mapping[str, Any]) -> str:
    """The action key of a manifest: SHA-256 hex of its canonical encoding."""
    return keyed(manifest)[0]


def keyed(manifest: Mapping[str, Any]) -> tuple[str, str]:
    """The action key and the canonical text it hashes, which is how a manifest is stored."""
    encoded = canonical_json(manifest)
    return hashlib.sha256(encoded).hexdigest(), encoded.decode()


def action_key(inputs: KeyInputs) -> str:
    return key_of(manifest(inputs))


# --- explaining a miss -----------------------------------------------------------------------


def _show(value: Any) -> str:
    """A value short enough to quote in a reason, else ""; a missing value reads "none"."""
    if value is None:
        return "none"
    text = value if isinstance(value, str) else json.dumps(value, sort_keys=True)
    if len(text) > _SHOW_MAX or "\n" in text:
        return ""
    return text


def _arrow(old: Any, new: Any) -> str:
    before, after = _show(old), _show(new)
    return f": {before} -> {after}" if before and after else ""


def _mapping(manifest: Mapping[str, Any], key: str) -> Mapping[str, Any]:
    value = manifest.get(key)
    return value if isinstance(value, Mapping) else {}


def _diff(
    old: Mapping[str, Any],
    new: Mapping[str, Any],
    what: str,
    *,
    show: bool = False,
) -> list[str]:
    """Reasons for one section, e.g. what="input": "new input a.py", "input a.py changed"."""
    reasons: list[str] = []
    for name in sorted(set(old) | set(new)):
        if name not in old:
            value = _show(new[name]) if show else ""
            reasons.append(f"new {what} {name} {value}".rstrip())
        elif name not in new:
            reasons.append(f"{what} {name} removed")
        elif old[name] != new[name]:
            arrow = _arrow(old[name], new[name]) if show else ""
            reasons.append(f"{what} {name} changed{arrow}")
    return reasons


_KNOWN: Final = (
    "version",
    "command",
    "working_directory",
    "platform",
    "sandbox",
    "env",
    "inputs",
    "tools",
    "needs",
    "needed_files",
    "matrix",
    "secrets",
)


def explain_miss(
    old: Mapping[str, Any] | None, new: Mapping[str, Any], *, limit: int | None = None
) -> list[str]:
    """Why ``new`` gets a different key than ``old``, one human sentence per difference.

    Environment values, secrets and commands are named but never quoted, since they may hold
    credentials. An empty list means the manifests are equal. ``limit`` caps the list, ending
    it with "... and N more".
    """
    if old is None:
        return ["no earlier run of this step to compare with"]
    reasons: list[str] = []
    if old.get("version") != new.get("version"):
        reasons.append(f"cache format changed: {old.get('version')} -> {new.get('version')}")
    if old.get("platform") != new.get("platform"):
        reasons.append(f"platform changed{_arrow(old.get('platform'), new.get('platform'))}")
    if old.get("command") != new.get("command"):
        reasons.append("command changed")
    if bool(old.get("sandbox")) != bool(new.get("sandbox")):
        reasons.append("sandbox turned " + ("on" if new.get("sandbox") else "off"))
    if old.get("working_directory") != new.get("working_directory"):
        arrow = _arrow(old.get("working_directory"), new.get("working_directory"))
        reasons.append(f"working directory changed{arrow}")
    old_tools, new_tools = _mapping(old, "tools"), _mapping(new, "tools")
    for name in sorted(set(old_tools) | set(new_tools)):
        if name not in old_tools:
            reasons.append(f"new tool {name} {_show(new_tools[name])}".rstrip())
        elif name not in new_tools:
            reasons.append(f"tool {name} removed")
        elif old_tools[name] != new_tools[name]:
            reasons.append(f"tool {name} version changed{_arrow(old_tools[name], new_tools[name])}")
    reasons += _diff(_mapping(old, "env"), _mapping(new, "env"), "env")
    reasons += _diff(_mapping(old, "secrets"), _mapping(new, "secrets"), "secret")
    reasons += _diff(_mapping(old, "inputs"), _mapping(new, "inputs"), "input")
    old_needs, new_needs = _mapping(old, "needs"), _mapping(new, "needs")
    for node in sorted(set(old_needs) | set(new_needs)):
        if node not in old_needs:
            reasons.append(f"new needed job {node}")
        elif node not in new_needs:
            reasons.append(f"needed job {node} removed")
        else:
            before, after = old_needs[node], new_needs[node]
            reasons += _diff(
                before if isinstance(before, Mapping) else {},
                after if isinstance(after, Mapping) else {},
                f"needed job {node} output",
                show=True,
            )
    old_files, new_files = _mapping(old, "needed_files"), _mapping(new, "needed_files")
    for node in sorted(set(old_files) | set(new_files)):
        before, after = old_files.get(node), new_files.get(node)
        reasons += _diff(
            before if isinstance(before, Mapping) else {},
            after if isinstance(after, Mapping) else {},
            f"needed job {node} output file",
        )
    reasons += _diff(_mapping(old, "matrix"), _mapping(new, "matrix"), "matrix", show=True)
    for name in sorted((set(old) | set(new)) - set(_KNOWN)):
        if old.get(name) != new.get(name):
            reasons.append(f"{name} changed")
    if limit is not None and len(reasons) > limit:
        reasons = [*reasons[:limit], f"... and {len(reasons) - limit} more"]
    return reasons
