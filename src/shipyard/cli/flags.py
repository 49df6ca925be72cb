"""`shipyard flags`: feature flags per environment, Unleash import/export, client tokens, stale.

Embedded, commands run the services against the local store for the project of shipyard.yaml;
with SHIPYARD_SERVER set they call the same routes on the server.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import typer

from shipyard.cli.common import JSON, console, emit, open_store, settings

app = typer.Typer(
    help="Feature flags per environment, Unleash-compatible.",
    add_completion=False,
    no_args_is_help=True,
)
token_app = typer.Typer(help="Client tokens for SDKs, one environment each.", no_args_is_help=True)
app.add_typer(token_app, name="token")
segment_app = typer.Typer(
    help="Segments: shared sets of constraints per environment.", no_args_is_help=True
)
app.add_typer(segment_app, name="segment")
strategy_app = typer.Typer(help="A flag's strategies in one environment.", no_args_is_help=True)
app.add_typer(strategy_app, name="strategy")

ENV = typer.Option(..., "--env", "-e", help="The environment.")


def _actor() -> str:
    from shipyard.identity import actor

    return actor()


def _project() -> tuple[str, list[str], Path]:
    """The project's name, declared environments and root, from shipyard.yaml."""
    from shipyard.spec.load import find_spec, load_spec

    path = find_spec()
    spec = load_spec(path)
    return spec.project, list(spec.environments), path.parent


def _remote(method: str, path: str, **kw: Any) -> Any | None:
    s = settings()
    if not s.server_url:
        return None
    from shipyard.cli.client import call

    return call(s.server_url, s.token, method, "/api/v1/flags" + path, **kw)


def _env(env: str) -> tuple[str, str]:
    from shipyard.services.flags.flags import check_environment

    project, envs, _ = _project()
    return project, check_environment(env, envs)


def _print_flags(rows: list[dict[str, Any]]) -> None:
    from rich.table import Table

    t = Table("environment", "name", "type", "on", "rollout", "strategies", box=None)
    for r in rows:
        pct = "-" if r["rollout"] is None else f"{r['rollout']}%"
        t.add_row(
            r["environment"],
            r["name"],
            r["type"],
            "yes" if r["enabled"] else "no",
            pct,
            ", ".join(r["strategies"]) or "(everyone)",
        )
    console().print(t)


def _changed(data: Mapping[str, Any], verb: str) -> None:
    pct = "" if data.get("rollout") is None else f", rollout {data['rollout']}%"
    state = "on" if data["enabled"] else "off"
    note = "" if data.get("changed", True) else " (no change)"
    console().print(f"flag {data['name']} {verb} in {data['environment']}: {state}{pct}{note}")


@app.command("list")
def list_(
    env: str | None = typer.Option(None, "--env", "-e", help="Only this environment."),
    json_: bool = JSON,
) -> None:
    """List flags with their state per environment."""
    from shipyard.services.flags import flags

    data = _remote("GET", "", params={"env": env} if env else {})
    if data is None:
        project, _ = _env(env) if env else (_project()[0], None)
        data = {"flags": flags.list_flags(open_store(), project, env)}
    emit(data, json_, lambda: _print_flags(data["flags"]))


@app.command()
def show(
    name: str = typer.Argument(..., help="The flag."),
    env: str | None = typer.Option(None, "--env", "-e", help="Only this environment."),
    json_: bool = JSON,
) -> None:
    """Show a flag's full definition in each environment."""
    from shipyard.services.flags import flags

    data = _remote("GET", f"/{name}", params={"env": env} if env else {})
    if data is None:
        data = flags.show(open_store(), _project()[0], name, env)

    def human() -> None:
        c = console()
        c.print(f"[bold]{data['name']}[/] ({data['type']})")
        for e, item in data["environments"].items():
            c.print(f"  {e}: {'on' if item['enabled'] else 'off'}")
            print(json.dumps(item["definition"], indent=2))
        if data.get("exposures"):
            from rich.table import Table

            c.print("exposures (variant counts SDKs reported, per day, UTC):")
            t = Table("environment", "day", "variant", "exposures", box=None)
            for x in data["exposures"]:
                t.add_row(x["environment"], x["day"], x["variant"], f"{x['count']:,}")
            c.print(t)

    emit(data, json_, human)


@app.command()
def create(
    name: str = typer.Argument(..., help="The flag's name."),
    env: str = ENV,
    kind: str = typer.Option(
        "release", "--type", help="release, experiment, operational, kill-switch or permission."
    ),
    description: str | None = typer.Option(None, help="What the flag is for."),
    rollout: int = typer.Option(100, help="Percentage of users once enabled."),
    enabled: bool = typer.Option(False, "--enabled", help="Turn it on at once."),
    json_: bool = JSON,
) -> None:
    """Create a flag in an environment, off unless --enabled, with a sticky gradual rollout."""
    from shipyard.services.flags import flags

    body = {
        "name": name,
        "type": kind,
        "description": description,
        "rollout": rollout,
        "enabled": enabled,
    }
    data = _remote("POST", "", params={"env": env}, json=body)
    if data is None:
        project, env = _env(env)
        data = flags.create(
            open_store(),
            project,
            env,
            name,
            _actor(),
            kind=kind,
            description=description,
            enabled=enabled,
            rollout=rollout,
        )
    emit(data, json_, lambda: _changed(data, "created"))


def _toggle(name: str, env: str, on: bool, json_: bool) -> None:
    from shipyard.services.flags import flags

    data = _remote("POST", f"/{name}/{'enable' if on else 'disable'}", params={"env": env})
    if data is None:
        project, env = _env(env)
        data = flags.set_enabled(open_store(), project, env, name, on, _actor())
    emit(data, json_, lambda: _changed(data, "enabled" if on else "disabled"))


@app.command()
def enable(
    name: str = typer.Argument(..., help="The flag."), env: str = ENV, json_: bool = JSON
) -> None:
    """Turn a flag on in an environment (for the share its rollout allows)."""
    _toggle(name, env, True, json_)


@app.command()
def disable(
    name: str = typer.Argument(..., help="The flag."), env: str = ENV, json_: bool = JSON
) -> None:
    """Turn a flag off in an environment."""
    _toggle(name, env, False, json_)


@app.command()
def rollout(
    name: str = typer.Argument(..., help="The flag."),
    percentage: int = typer.Argument(..., help="0 to 100."),
    env: str = ENV,
    json_: bool = JSON,
) -> None:
    """Set the share of users (sticky by user id) who get the flag."""
    from shipyard.services.flags import flags

    flags.check_percentage(percentage)
    data = _remote("POST", f"/{name}/rollout", params={"env": env}, json={"percentage": percentage})
    if data is None:
        project, env = _env(env)
        data = flags.set_rollout(open_store(), project, env, name, percentage, _actor())
    emit(data, json_, lambda: _changed(data, "rolled out"))


@app.command()
def delete(
    name: str = typer.Argument(..., help="The flag."), env: str = ENV, json_: bool = JSON
) -> None:
    """Delete a flag from an environment."""
    from shipyard.services.flags import flags

    data = _remote("DELETE", f"/{name}", params={"env": env})
    if data is None:
        project, env = _env(env)
        data = flags.delete(open_store(), project, env, name, _actor())
    emit(data, json_, lambda: console().print(f"flag {name} deleted from {env}"))


def _read_payload(file: Path) -> dict[str, Any]:
    from shipyard import jsonlimits
    from shipyard.errors import InputError

    try:
        jsonlimits.check_size(file.stat().st_size, str(file))  # before reading it
        raw = file.read_bytes()
        jsonlimits.check(raw, str(file))
        data = json.loads(raw.decode("utf-8"))
    except FileNotFoundError as exc:
        raise InputError(
            f"{file}: no such file", "give the path of a JSON file", code="flag-file-not-found"
        ) from exc
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise InputError(
            f"{file}: not a JSON file: {exc}",
            "export it from Unleash's /api/client/features",
            code="flag-file-invalid",
        ) from exc
    if not isinstance(data, dict):
        raise InputError(
            f"{file}: expected a JSON object",
            code="flag-file-invalid",
            hint='the shape is {"version": 2, "features": [...]}',
        )
    return data


@app.command("import")
def import_(
    file: Path = typer.Argument(
        ..., help="Unleash's /api/client/features JSON, or its delta events JSON."
    ),
    env: str = ENV,
    strict: bool = typer.Option(
        False, "--strict", help="Refuse the whole file if any flag has a problem."
    ),
    json_: bool = JSON,
) -> None:
    """Import flags and segments from Unleash, in one transaction.

    What Unleash serves is imported and evaluated as Unleash evaluates it; each oddity (an
    invalid address, a custom strategy ...) is reported as a warning. --strict refuses instead.
    """
    import sys

    from shipyard.services.flags import flags

    payload = _read_payload(file)
    params: dict[str, Any] = {"env": env, **({"strict": "true"} if strict else {})}
    data = _remote("POST", "/import", params=params, json=payload)
    if data is None:
        project, env = _env(env)
        data = flags.import_payload(open_store(), project, env, payload, _actor(), strict=strict)

    def human() -> None:
        for w in data["warnings"]:
            where = f"flag '{w['flag']}' {w['field']}" if w["flag"] else w["field"]
            print(f"warning: {where}: {w['message']} ({w['code']}); {w['effect']}", file=sys.stderr)
        removed = f", {len(data['deleted'])} removed" if data["deleted"] else ""
        console().print(
            f"imported into {env}: {len(data['created'])} created, {len(data['updated'])} updated, "
            f"{data['unchanged']} unchanged{removed}, {data['segments']} segment(s), "
            f"{len(data['warnings'])} warning(s)"
        )

    emit(data, json_, human)


@app.command()
def export(
    env: str = ENV,
    output: Path | None = typer.Option(None, "--output", "-o", help="Write to this file."),
    json_: bool = JSON,
) -> None:
    """Print an environment's flags in Unleash's /api/client/features format (JSON always)."""
    from shipyard.services.flags import flags

    data = _remote("GET", "/export", params={"env": env})
    if data is None:
        project, env = _env(env)
        data = flags.export(open_store(), project, env)
    text = json.dumps(data, indent=2, ensure_ascii=False) + "\n"
    if output is None:
        print(text, end="")
    else:
        output.write_text(text, encoding="utf-8")


@app.command("eval")
def eval_(
    name: str = typer.Argument(..., help="The flag."),
    env: str = ENV,
    context: list[str] = typer.Option([], "--context", "-c", help="k=v, e.g. userId=42."),
    json_: bool = JSON,
) -> None:
    """Evaluate a flag for a context exactly as SDKs do."""
    from shipyard.services.flags import flags

    ctx = flags.parse_context(context)
    data = _remote("POST", f"/{name}/eval", params={"env": env}, json={"context": ctx})
    if data is None:
        project, env = _env(env)
        data = flags.evaluate(open_store(), project, env, name, ctx)
    emit(
        data,
        json_,
        lambda: console().print(
            f"{name} in {env}: {'enabled' if data['enabled'] else 'disabled'}, "
            f"variant {data['variant']['name']}"
        ),
    )


@app.command()
def sync(json_: bool = JSON) -> None:
    """Write the flags declared in shipyard.yaml `flags:` to the store."""
    from shipyard.services.flags import flags
    from shipyard.spec.load import find_spec, load_spec

    spec = load_spec(find_spec())
    data = flags.sync_spec(open_store(), spec, _actor(), list(spec.environments))
    emit(
        data,
        json_,
        lambda: console().print(
            f"synced: {len(data['changed'])} changed, {data['unchanged']} unchanged"
        ),
    )


@app.command()
def stale(
    days: int = typer.Option(7, min=1, help="How long settled or unevaluated counts as stale."),
    json_: bool = JSON,
) -> None:
    """Flags due for removal, why, and the file:line of code that names them."""
    from shipyard.services.flags import flags_lifecycle

    project, _, root = _project()
    data = flags_lifecycle.stale(open_store(), project, root, days)

    def human() -> None:
        c = console()
        if not data["stale"]:
            c.print(f"no stale flags among {data['checked']}")
        for s in data["stale"]:
            c.print(f"[bold]{s['name']}[/] ({s['type']}): remove it")
            for r in s["reasons"]:
                c.print(f"  - {r}")
            for ref in s["references"]:
                c.print(f"    {ref}")

    emit(data, json_, human)


def _chosen_changes(on: bool, off: bool, pct: int | None) -> list[str]:
    """The actions --enable, --disable and --rollout ask for (the callers want exactly one)."""
    return [
        a for a, given in (("enable", on), ("disable", off), ("rollout", pct is not None)) if given
    ]


def _change_text(row: Mapping[str, Any]) -> str:
    """How a scheduled or requested change reads in a table."""
    return f"rollout {row['percentage']}%" if row["action"] == "rollout" else str(row["action"])


def _print_schedules(rows: list[dict[str, Any]]) -> None:
    from rich.table import Table

    t = Table("id", "environment", "flag", "change", "at (UTC)", "status", "by", box=None)
    for r in rows:
        change = _change_text(r)
        t.add_row(
            str(r["id"]), r["environment"], r["flag"], change, r["at"], r["status"], r["created_by"]
        )
    console().print(t)


@app.command("schedule")
def schedule_(
    name: str = typer.Argument(..., help="The flag."),
    env: str = ENV,
    on: bool = typer.Option(False, "--enable", help="Turn the flag on at --at."),
    off: bool = typer.Option(False, "--disable", help="Turn the flag off at --at."),
    pct: int | None = typer.Option(None, "--rollout", help="Set the rollout to PCT at --at."),
    at: str | None = typer.Option(None, "--at", help="+2h, 10:30 (UTC) or 2026-12-01T09:00Z."),
    steps: str | None = typer.Option(None, "--steps", help="Stepped rollout: 10@+1h,50@+2h."),
    json_: bool = JSON,
) -> None:
    """Schedule a flag change: on, off or a rollout percentage at a time, or rollout steps."""
    from datetime import UTC, datetime

    from shipyard.domain import flag_schedules as rules
    from shipyard.errors import InputError
    from shipyard.services.flags import flag_schedules

    chosen = _chosen_changes(on, off, pct)
    now = datetime.now(UTC)
    if steps is not None:
        if chosen or at is not None:
            raise InputError(
                "--steps goes alone",
                "drop --enable, --disable, --rollout and --at",
                code="schedule-options-invalid",
            )
        plan = rules.parse_steps(steps, now)
        body: dict[str, Any] = {
            "flag": name,
            "steps": [{"percentage": p, "at": rules.fmt(t)} for p, t in plan],
        }
        remote = _remote("POST", "/schedules", params={"env": env}, json=body)
        if remote is not None:
            rows = remote["schedules"]
        else:
            project, env = _env(env)
            rows = flag_schedules.schedule_steps(
                open_store(), project, env, name, plan, actor=_actor()
            )
    else:
        if len(chosen) != 1 or at is None:
            raise InputError(
                "give one of --enable, --disable, --rollout PCT, and --at WHEN",
                "or --steps 10@+1h,50@+2h,100@+4h",
                code="schedule-options-invalid",
            )
        when = rules.parse_when(at, now)
        body = {
            "flag": name,
            "action": chosen[0],
            "percentage": pct,
            "at": rules.fmt(when),
        }
        remote = _remote("POST", "/schedules", params={"env": env}, json=body)
        if remote is not None:
            rows = remote["schedules"]
        else:
            project, env = _env(env)
            rows = [
                flag_schedules.schedule(
                    open_store(), project, env, name, chosen[0], when, pct, actor=_actor()
                )
            ]
    data = {"schedules": rows}
    emit(data, json_, lambda: _print_schedules(rows))


@app.command("schedules")
def schedules(
    env: str | None = typer.Option(None, "--env", "-e", help="Only this environment."),
    pending: bool = typer.Option(False, "--pending", help="Only those not yet applied."),
    json_: bool = JSON,
) -> None:
    """List scheduled flag changes and whether each is pending, applied, cancelled or failed."""
    from shipyard.services.flags import flag_schedules

    params: dict[str, Any] = {"pending": pending}
    if env:
        params["env"] = env
    remote = _remote("GET", "/schedules", params=params)
    if remote is not None:
        rows = remote["schedules"]
    else:
        project, _ = _env(env) if env else (_project()[0], None)
        rows = flag_schedules.list_schedules(open_store(), project, env, pending=pending)
    emit({"schedules": rows}, json_, lambda: _print_schedules(rows))


@app.command("schedule-cancel")
def schedule_cancel(
    schedule_id: int = typer.Argument(..., help="The schedule's id (see `flags schedules`)."),
    json_: bool = JSON,
) -> None:
    """Cancel a pending scheduled change."""
    from shipyard.services.flags import flag_schedules

    data = _remote("POST", f"/schedules/{schedule_id}/cancel")
    if data is None:
        data = flag_schedules.cancel(open_store(), _project()[0], schedule_id, actor=_actor())
    emit(data, json_, lambda: console().print(f"schedule {schedule_id} cancelled"))


@app.command("apply-schedules")
def apply_schedules(json_: bool = JSON) -> None:
    """Apply every scheduled change and approved change request that is due (run it from cron
    or CI)."""
    from datetime import UTC, datetime

    from shipyard.services.flags import flag_requests, flag_schedules

    remote = _remote("POST", "/schedules/apply")
    if remote is not None:
        rows, requests = remote["applied"], remote["requests"]
    else:
        store, project, now = open_store(), _project()[0], datetime.now(UTC)
        rows = flag_schedules.apply_due(store, now, project=project)
        requests = flag_requests.apply_due(store, now, project=project)

    def human() -> None:
        console().print(
            f"applied {len(rows)} scheduled change(s) and {len(requests)} change request(s)"
        )
        if rows:
            _print_schedules(rows)
        if requests:
            _print_requests(requests)

    emit({"applied": rows, "requests": requests}, json_, human)


@token_app.command("create")
def token_create(
    env: str = ENV,
    name: str = typer.Option("sdk", help="What the token is for."),
    expires: str | None = typer.Option(None, "--expires", help="Lifetime, e.g. 90d or 12h."),
    frontend: bool = typer.Option(
        False, "--frontend", help="A frontend token: browsers get evaluated answers only."
    ),
    origin: list[str] = typer.Option(
        [], "--origin", help="A web origin allowed to use a frontend token (repeat it)."
    ),
    json_: bool = JSON,
) -> None:
    """A client token for SDKs (or --frontend, for browsers), one environment; shown once,
    stored hashed."""
    from shipyard.domain.calendar import parse_duration
    from shipyard.errors import InputError
    from shipyard.services.flags import flags_client

    if origin and not frontend:
        raise InputError(
            "--origin is for frontend tokens", "add --frontend", code="flag-token-origin-invalid"
        )
    life = parse_duration(expires) if expires else None
    kind = "frontend" if frontend else "client"
    body: dict[str, Any] = {"environment": env, "name": name, "kind": kind, "origins": origin}
    if life is not None:
        body["expires_in_seconds"] = int(life.total_seconds())
    data = _remote("POST", "/tokens", json=body)
    if data is None:
        project, env = _env(env)
        data = flags_client.create_token(
            open_store(), project, env, name, _actor(), expires_in=life, kind=kind, origins=origin
        )

    def human() -> None:
        until = f", expires {data['expires_at']}" if data.get("expires_at") else ""
        console().print(
            f"{data.get('kind', 'client')} token {data['id']} for "
            f"{data['project']}/{data['environment']}{until}"
            "; copy it now, it is not shown again:"
        )
        print(data["token"])

    emit(data, json_, human)


@token_app.command("list")
def token_list(
    env: str | None = typer.Option(None, "--env", "-e", help="Only this environment."),
    json_: bool = JSON,
) -> None:
    """Client and frontend tokens of the project (never their secrets)."""
    from shipyard.services.flags import flags_client

    data = _remote("GET", "/tokens", params={"env": env} if env else {})
    if data is None:
        project, _, _ = _project()
        data = {"tokens": flags_client.list_client_tokens(open_store(), project, env)}

    def human() -> None:
        from rich.table import Table

        t = Table("id", "name", "kind", "environment", "expires", "revoked", box=None)
        for r in data["tokens"]:
            t.add_row(
                r["id"],
                r["name"],
                r["kind"],
                r["environment"],
                r["expires_at"] or "-",
                r["revoked_at"] or "-",
            )
        console().print(t)

    emit(data, json_, human)


@token_app.command("revoke")
def token_revoke(
    token_id: str = typer.Argument(..., help="The token's id."), json_: bool = JSON
) -> None:
    """Revoke a client or frontend token at once; its open streams end within a second."""
    from shipyard.services.flags import flags_client

    data = _remote("DELETE", f"/tokens/{token_id}")
    if data is None:
        project, _, _ = _project()
        data = flags_client.revoke_in_project(open_store(), project, token_id, _actor())
    emit(data, json_, lambda: console().print(f"client token {token_id} revoked"))


CONSTRAINTS = typer.Option(
    None, "--constraints", help='Unleash constraint JSON: [{"contextName": ..., "operator": ...}].'
)
CONSTRAINTS_FILE = typer.Option(
    None, "--constraints-file", help="A file holding the constraint JSON."
)


def _constraints(text: str | None, file: Path | None) -> Any:
    """The constraint JSON given inline or in a file, parsed; ``None`` if neither is given."""
    from shipyard.errors import InputError
    from shipyard_sdk.flags import FlagPayloadInvalid

    if text is not None and file is not None:
        raise InputError(
            "give --constraints or --constraints-file, not both",
            code="flag-constraints-options-invalid",
        )
    if file is not None:
        try:
            text = file.read_text(encoding="utf-8")
        except FileNotFoundError as exc:
            raise InputError(
                f"{file}: no such file", "give the path of a JSON file", code="flag-file-not-found"
            ) from exc
        except (OSError, UnicodeDecodeError) as exc:
            raise InputError(f"{file}: {exc}", code="flag-file-invalid") from exc
    if text is None:
        return None
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise FlagPayloadInvalid(
            f"constraints: not JSON: {exc}",
            hint='e.g. [{"contextName": "userId", "operator": "IN", "values": ["42"]}]',
        ) from exc


SEGMENT_ID = typer.Argument(..., help="The segment's id.")


def _print_segments(rows: Sequence[Mapping[str, Any]]) -> None:
    from rich.table import Table

    t = Table("id", "name", "constraints", "used by", box=None)
    for r in rows:
        t.add_row(
            str(r["id"]),
            r.get("name") or "",
            json.dumps(r["constraints"]),
            ", ".join(r["used_by"]) or "-",
        )
    console().print(t)


def _segment_changed(data: Mapping[str, Any], verb: str) -> None:
    note = "" if data.get("changed", True) else " (no change)"
    console().print(
        f"segment {data['id']} {verb} in {data['environment']}: "
        f"{len(data['constraints'])} constraint(s){note}"
    )


@segment_app.command("create")
def segment_create(
    env: str = ENV,
    constraints: str | None = CONSTRAINTS,
    constraints_file: Path | None = CONSTRAINTS_FILE,
    name: str | None = typer.Option(None, "--name", help="What the segment is."),
    segment_id: int | None = typer.Option(None, "--id", help="The id (default: the next free)."),
    json_: bool = JSON,
) -> None:
    """Create a segment in an environment from Unleash constraint JSON."""
    from shipyard.services.flags import flag_segments

    raw = _constraints(constraints, constraints_file)
    body = {"constraints": raw, "name": name, "id": segment_id}
    data = _remote("POST", "/segments", params={"env": env}, json=body)
    if data is None:
        project, env = _env(env)
        data = flag_segments.create_segment(
            open_store(), project, env, raw, _actor(), name=name, segment_id=segment_id
        )
    emit(data, json_, lambda: _segment_changed(data, "created"))


@segment_app.command("update")
def segment_update(
    segment_id: int = SEGMENT_ID,
    env: str = ENV,
    constraints: str | None = CONSTRAINTS,
    constraints_file: Path | None = CONSTRAINTS_FILE,
    name: str | None = typer.Option(None, "--name", help="A new name."),
    json_: bool = JSON,
) -> None:
    """Replace a segment's constraints and/or name; flags using it follow at once."""
    from shipyard.services.flags import flag_segments

    raw = _constraints(constraints, constraints_file)
    body = {"constraints": raw, "name": name}
    data = _remote("PUT", f"/segments/{segment_id}", params={"env": env}, json=body)
    if data is None:
        project, env = _env(env)
        data = flag_segments.update_segment(
            open_store(), project, env, segment_id, _actor(), constraints=raw, name=name
        )
    emit(data, json_, lambda: _segment_changed(data, "updated"))


@segment_app.command("list")
def segment_list(env: str = ENV, json_: bool = JSON) -> None:
    """List an environment's segments and the flags that use each."""
    from shipyard.services.flags import flag_segments

    data = _remote("GET", "/segments", params={"env": env})
    if data is None:
        project, env = _env(env)
        data = {"segments": flag_segments.list_segments(open_store(), project, env)}
    emit(data, json_, lambda: _print_segments(data["segments"]))


@segment_app.command("show")
def segment_show(
    segment_id: int = SEGMENT_ID,
    env: str = ENV,
    json_: bool = JSON,
) -> None:
    """Show a segment's constraints and the flags that use it."""
    from shipyard.services.flags import flag_segments

    data = _remote("GET", f"/segments/{segment_id}", params={"env": env})
    if data is None:
        project, env = _env(env)
        data = flag_segments.show_segment(open_store(), project, env, segment_id)
    emit(data, json_, lambda: _print_segments([data]))


@segment_app.command("delete")
def segment_delete(
    segment_id: int = SEGMENT_ID,
    env: str = ENV,
    json_: bool = JSON,
) -> None:
    """Delete a segment no flag uses."""
    from shipyard.services.flags import flag_segments

    data = _remote("DELETE", f"/segments/{segment_id}", params={"env": env})
    if data is None:
        project, env = _env(env)
        data = flag_segments.delete_segment(open_store(), project, env, segment_id, _actor())
    emit(data, json_, lambda: console().print(f"segment {segment_id} deleted from {env}"))


def _print_strategies(data: Mapping[str, Any]) -> None:
    from rich.table import Table

    t = Table("index", "strategy", "parameters", "constraints", "segments", box=None)
    for s in data["strategies"]:
        t.add_row(
            str(s["index"]),
            s["name"],
            ", ".join(f"{k}={v}" for k, v in s.get("parameters", {}).items()) or "-",
            str(len(s.get("constraints", []))),
            ", ".join(map(str, s.get("segments", []))) or "-",
        )
    console().print(f"[bold]{data['name']}[/] in {data['environment']}")
    console().print(t)


@strategy_app.command("add")
def strategy_add(
    name: str = typer.Argument(..., help="The flag."),
    env: str = ENV,
    kind: str = typer.Option(
        ..., "--type", help="flexibleRollout, userWithId, remoteAddress, default, ..."
    ),
    param: list[str] = typer.Option([], "--param", "-p", help="k=v, e.g. rollout=25."),
    constraints: str | None = CONSTRAINTS,
    constraints_file: Path | None = CONSTRAINTS_FILE,
    segment: list[int] = typer.Option([], "--segment", help="A segment id; repeatable."),
    json_: bool = JSON,
) -> None:
    """Add a strategy to a flag in an environment (the flag is on for whoever any matches)."""
    from shipyard.services.flags import flag_strategies

    params = flag_strategies.parse_params(param)
    raw = _constraints(constraints, constraints_file)
    body = {"name": kind, "parameters": params, "constraints": raw, "segments": segment}
    data = _remote("POST", f"/{name}/strategies", params={"env": env}, json=body)
    if data is None:
        project, env = _env(env)
        data = flag_strategies.add_strategy(
            open_store(),
            project,
            env,
            name,
            _actor(),
            kind=kind,
            parameters=params,
            constraints=raw,
            segments=segment,
        )
    emit(data, json_, lambda: _print_strategies(data))


@strategy_app.command("list")
def strategy_list(
    name: str = typer.Argument(..., help="The flag."), env: str = ENV, json_: bool = JSON
) -> None:
    """List a flag's strategies in an environment, numbered for `strategy remove`."""
    from shipyard.services.flags import flag_strategies

    data = _remote("GET", f"/{name}/strategies", params={"env": env})
    if data is None:
        project, env = _env(env)
        data = flag_strategies.list_strategies(open_store(), project, env, name)
    emit(data, json_, lambda: _print_strategies(data))


@strategy_app.command("remove")
def strategy_remove(
    name: str = typer.Argument(..., help="The flag."),
    env: str = ENV,
    index: int = typer.Option(..., "--index", help="The strategy's index in `strategy list`."),
    json_: bool = JSON,
) -> None:
    """Remove one strategy from a flag in an environment."""
    from shipyard.services.flags import flag_strategies

    data = _remote("DELETE", f"/{name}/strategies/{index}", params={"env": env})
    if data is None:
        project, env = _env(env)
        data = flag_strategies.remove_strategy(open_store(), project, env, name, index, _actor())
    emit(data, json_, lambda: _print_strategies(data))


# -- protected environments and change requests ----------------------------------------------

request_app = typer.Typer(
    help="Change requests: flag changes in protected environments, approved by others.",
    no_args_is_help=True,
)
app.add_typer(request_app, name="request")


@app.command("protect")
def protect(
    env: str = ENV,
    approvals: int = typer.Option(..., "--approvals", help="Approvals a change needs (0: none)."),
    json_: bool = JSON,
) -> None:
    """Make flag changes in an environment need approvals (a change request)."""
    from shipyard.services.flags import flag_requests

    data = _remote("PUT", "/protections", params={"env": env}, json={"approvals": approvals})
    if data is None:
        project, env = _env(env)
        data = flag_requests.protect(open_store(), project, env, approvals, _actor())
    emit(
        data,
        json_,
        lambda: console().print(
            f"flag changes in {env} need {approvals} approval(s)"
            if approvals
            else f"flag changes in {env} need no approval"
        ),
    )


def _print_requests(rows: Sequence[Mapping[str, Any]]) -> None:
    from rich.table import Table

    t = Table("id", "environment", "flag", "change", "status", "approvals", "by", "at", box=None)
    for r in rows:
        change = _change_text(r)
        t.add_row(
            str(r["id"]),
            r["environment"],
            r["flag"],
            change,
            r["status"],
            f"{len(r['approved_by'])}/{r['approvals_needed']}",
            r["proposed_by"],
            r["apply_at"] or "on apply",
        )
    console().print(t)


@request_app.command("create")
def request_create(
    name: str = typer.Argument(..., help="The flag."),
    env: str = ENV,
    on: bool = typer.Option(False, "--enable", help="Propose turning the flag on."),
    off: bool = typer.Option(False, "--disable", help="Propose turning the flag off."),
    pct: int | None = typer.Option(None, "--rollout", help="Propose this rollout percentage."),
    at: str | None = typer.Option(None, "--at", help="Apply it then once approved: +2h, 10:30."),
    json_: bool = JSON,
) -> None:
    """Propose a flag change in a protected environment."""
    from shipyard.domain import flag_schedules as times
    from shipyard.errors import InputError
    from shipyard.services.flags import flag_requests

    chosen = _chosen_changes(on, off, pct)
    if len(chosen) != 1:
        raise InputError(
            "say one change", "--enable, --disable or --rollout PCT", code="flag-request-invalid"
        )
    when = None
    if at is not None:
        from datetime import UTC, datetime

        when = times.fmt(times.parse_when(at, datetime.now(UTC)))
    body = {"flag": name, "action": chosen[0], "percentage": pct, "at": when}
    data = _remote("POST", "/requests", params={"env": env}, json=body)
    if data is None:
        project, env = _env(env)
        data = flag_requests.propose(
            open_store(), project, env, name, chosen[0], _actor(), percentage=pct, at=when
        )
    emit(
        data,
        json_,
        lambda: console().print(
            f"change request {data['id']} for {name} in {env}: needs "
            f"{data['approvals_needed']} approval(s) by someone other than {data['proposed_by']}"
        ),
    )


@request_app.command("list")
def request_list(
    env: str | None = typer.Option(None, "--env", "-e", help="Only this environment."),
    status: str | None = typer.Option(None, "--status", help="open, approved, applied ..."),
    json_: bool = JSON,
) -> None:
    """Change requests of the project, oldest first."""
    from shipyard.services.flags import flag_requests

    params = {k: v for k, v in (("env", env), ("status", status)) if v}
    data = _remote("GET", "/requests", params=params)
    if data is None:
        project = _project()[0]
        data = {"requests": flag_requests.list_requests(open_store(), project, env, status)}
    emit(data, json_, lambda: _print_requests(data["requests"]))


@request_app.command("show")
def request_show(
    request_id: int = typer.Argument(..., help="The request."), json_: bool = JSON
) -> None:
    """One change request, with who approved it."""
    from shipyard.services.flags import flag_requests

    data = _remote("GET", f"/requests/{request_id}")
    if data is None:
        data = flag_requests.show(open_store(), _project()[0], request_id)
    emit(data, json_, lambda: _print_requests([data]))


def _request_step(request_id: int, step: str, json_: bool, **kw: Any) -> None:
    from shipyard.services.flags import flag_requests

    data = _remote("POST", f"/requests/{request_id}/{step}", json=kw or None)
    if data is None:
        store, project, who = open_store(), _project()[0], _actor()
        if step == "approve":
            data = flag_requests.approve(store, project, request_id, who)
        elif step == "apply":
            data = flag_requests.apply(store, project, request_id, who)
        else:
            data = flag_requests.close(
                store, project, request_id, who, cancel=step == "cancel", reason=kw.get("reason")
            )
    emit(data, json_, lambda: console().print(f"change request {request_id}: {data['status']}"))


@request_app.command("approve")
def request_approve(
    request_id: int = typer.Argument(..., help="The request."), json_: bool = JSON
) -> None:
    """Approve a change request (not your own)."""
    _request_step(request_id, "approve", json_)


@request_app.command("apply")
def request_apply(
    request_id: int = typer.Argument(..., help="The request."), json_: bool = JSON
) -> None:
    """Make an approved change now (a request with --at applies at its time by itself)."""
    _request_step(request_id, "apply", json_)


@request_app.command("reject")
def request_reject(
    request_id: int = typer.Argument(..., help="The request."),
    reason: str | None = typer.Option(None, "--reason", help="Why."),
    json_: bool = JSON,
) -> None:
    """Reject a change request (an approver, not its proposer)."""
    _request_step(request_id, "reject", json_, reason=reason)


@request_app.command("cancel")
def request_cancel(
    request_id: int = typer.Argument(..., help="The request."),
    reason: str | None = typer.Option(None, "--reason", help="Why."),
    json_: bool = JSON,
) -> None:
    """Withdraw your own change request."""
    _request_step(request_id, "cancel", json_, reason=reason)
