"""Flags over a real `shipyard server`: the official UnleashClient SDK, Shipyard's SDK (threads,
asyncio, fork, bootstrap), the OpenFeature provider, the stream and the management routes."""

from __future__ import annotations

import asyncio
import json
import os
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from shipyard_sdk.client import FlagsClient
from shipyard_sdk.flags import FeatureState, UnleashContext
from tests.e2e.helpers import apply, as_json, free_port, running_server, shipyard

Server = dict[str, Any]
USERS = [f"user-{i}" for i in range(2000)]


def _until(check: Callable[[], bool], timeout: float = 15.0) -> bool:
    """Wait for a condition that depends on another process (a deadline, not a measurement)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return True
        time.sleep(0.02)
    return False


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:

    repo = tmp_path_factory.mktemp("flags")
    (repo / "shipyard.yaml").write_text(
        "project: shop\nenvironments:\n  dev: {}\n  production: {}\n"
    )

    def token(*args: str) -> str:
        return str(as_json(shipyard(*args, "--json", cwd=repo))["token"])

    tokens = {
        "viewer": token("token", "create", "--role", "viewer"),
        "developer": token("token", "create", "--role", "developer"),
        "admin": token("token", "create", "--role", "admin"),
        "dev": token("flags", "token", "create", "--env", "dev"),
        "production": token("flags", "token", "create", "--env", "production"),
    }
    with running_server(repo) as url:
        apply(repo, url, tokens["admin"])
        yield {"url": url, "repo": repo, "tokens": tokens}


def _api(s: Server, method: str, path: str, role: str = "developer", **kw: Any) -> httpx.Response:
    headers = {"Authorization": f"Bearer {s['tokens'][role]}"}
    return httpx.request(method, s["url"] + "/api/v1/flags" + path, headers=headers, **kw)


def _put(s: Server, name: str, feature: dict[str, Any], env: str = "dev") -> None:
    resp = _api(s, "PUT", f"/{name}", params={"env": env}, json=feature)
    assert resp.status_code == 200, resp.text


def _gradual(name: str, pct: int, enabled: bool = True) -> dict[str, Any]:
    return {
        "name": name,
        "enabled": enabled,
        "strategies": [
            {
                "name": "flexibleRollout",
                "parameters": {"rollout": str(pct), "stickiness": "default", "groupId": name},
            }
        ],
        "variants": [
            {
                "name": "blue",
                "weight": 500,
                "stickiness": "default",
                "payload": {"type": "string", "value": "b"},
            },
            {
                "name": "green",
                "weight": 500,
                "stickiness": "default",
                "payload": {"type": "string", "value": "g"},
            },
        ],
    }


def _state(s: Server, env: str = "dev") -> FeatureState:
    return FeatureState.from_payload(_api(s, "GET", "/export", params={"env": env}).json())


@pytest.fixture
def unleash(server: Server, tmp_path: Path) -> Iterator[Callable[..., Any]]:
    from UnleashClient import UnleashClient
    from UnleashClient.utils import InstanceAllowType

    made: list[Any] = []

    def make(env: str = "dev", **kw: Any) -> Any:
        client = UnleashClient(
            url=server["url"] + "/api",
            app_name="checkout",
            custom_headers={"Authorization": server["tokens"][env]},
            refresh_interval=1,
            metrics_interval=1,
            disable_metrics=False,
            cache_directory=str(tmp_path / f"cache{len(made)}"),
            multiple_instance_mode=InstanceAllowType.SILENTLY_ALLOW,
            **kw,
        )
        client.initialize_client()
        made.append(client)
        return client

    yield make
    for client in made:
        client.destroy()


def test_unleash_sdk_buckets_users_as_shipyard_does(server: Server, unleash: Any) -> None:
    """The official SDK's is_enabled and get_variant agree with Shipyard's evaluation for
    every one of 2,000 users on a 30% rollout with variants, and a user keeps their bucket."""
    _put(server, "gradual-30", _gradual("gradual-30", 30))
    client = unleash()
    assert _until(lambda: "gradual-30" in client.feature_definitions())
    state = _state(server)
    ours = [state.is_enabled("gradual-30", UnleashContext(user_id=u)) for u in USERS]
    theirs = [client.is_enabled("gradual-30", {"userId": u}) for u in USERS]
    assert theirs == ours and 450 < sum(ours) < 750
    assert [client.get_variant("gradual-30", {"userId": u})["name"] for u in USERS] == [
        state.get_variant("gradual-30", UnleashContext(user_id=u)).name for u in USERS
    ]
    assert theirs == [client.is_enabled("gradual-30", {"userId": u}) for u in USERS]


def test_a_cli_toggle_reaches_the_unleash_sdk(server: Server, unleash: Any) -> None:
    """Disabling a flag with `shipyard flags disable` turns it off in a polling SDK."""
    _put(server, "cli-toggle", _gradual("cli-toggle", 100))
    client = unleash()
    assert _until(lambda: client.is_enabled("cli-toggle", {"userId": "1"}))
    done = shipyard("flags", "disable", "cli-toggle", "--env", "dev", cwd=server["repo"])
    assert done.returncode == 0, done.stderr
    assert _until(lambda: not client.is_enabled("cli-toggle", {"userId": "1"}))


def test_the_unleash_sdk_streams_changes(server: Server, unleash: Any) -> None:
    """The SDK in streaming mode hydrates from /api/client/streaming and sees a later change."""
    _put(server, "streamed", _gradual("streamed", 100))
    client = unleash(experimental_mode={"type": "streaming"})
    assert _until(lambda: client.is_enabled("streamed", {"userId": "1"}))
    _put(server, "streamed", _gradual("streamed", 100, enabled=False))
    assert _until(lambda: not client.is_enabled("streamed", {"userId": "1"}))


def test_unleash_sdk_registers_and_its_metrics_are_stored(server: Server, unleash: Any) -> None:
    """Registration and the SDK's yes/no counts land in the store."""
    from shipyard.services.flags import flags_client
    from shipyard.settings import Settings
    from shipyard.store.uow import Store

    _put(server, "counted", _gradual("counted", 100))
    client = unleash()
    assert _until(lambda: client.is_enabled("counted", {"userId": "1"}))
    for u in USERS[:50]:
        client.is_enabled("counted", {"userId": u})
    store = Store.open(Settings.load(server["repo"]))

    def counted() -> bool:
        return sum(r["yes"] for r in flags_client.usage(store, "shop", "counted")) >= 50

    assert _until(counted)
    with store.read() as uow:
        apps = uow.conn.exec_driver_sql("SELECT app_name FROM flag_clients").scalars().all()
    assert "checkout" in apps
    store.dispose()


def test_features_answers_304_to_its_etag(server: Server) -> None:
    """/api/client/features sends an ETag and answers 304 to If-None-Match until a change."""
    url, tok = server["url"] + "/api/client/features", server["tokens"]["dev"]
    first = httpx.get(url, headers={"Authorization": tok})
    tag = first.headers["etag"]
    same = httpx.get(url, headers={"Authorization": tok, "If-None-Match": tag})
    assert first.status_code == 200 and same.status_code == 304
    _put(server, "etag-bump", _gradual("etag-bump", 5))
    after = httpx.get(url, headers={"Authorization": tok, "If-None-Match": tag})
    assert after.status_code == 200 and after.headers["etag"] != tag


def test_client_api_refuses_missing_wrong_and_other_environment_tokens(server: Server) -> None:
    """No token is 401, an API token is 401, a token for another environment is 403."""
    url = server["url"] + "/api/client/features"
    assert httpx.get(url).json()["code"] == "flag-token-missing"
    bad = httpx.get(url, headers={"Authorization": server["tokens"]["viewer"]})
    assert bad.status_code == 401 and bad.json()["code"] == "flag-token-invalid"
    other = httpx.get(
        url,
        headers={"Authorization": server["tokens"]["production"]},
        params={"environment": "dev"},
    )
    assert other.status_code == 403 and other.json()["code"] == "flag-token-environment"
    assert other.json()["hint"]


def test_management_writes_need_the_flags_permission(server: Server) -> None:
    """A viewer reads flags but cannot change them; a developer can; bad input is 422."""
    assert _api(server, "GET", "", role="viewer", params={"env": "dev"}).status_code == 200
    refused = _api(server, "POST", "", role="viewer", params={"env": "dev"}, json={"name": "v"})
    assert refused.status_code == 403
    made = _api(server, "POST", "", params={"env": "dev"}, json={"name": "by-dev", "rollout": 10})
    assert made.status_code == 200 and made.json()["rollout"] == 10
    pct = _api(server, "POST", "/by-dev/rollout", params={"env": "dev"}, json={"percentage": 101})
    assert pct.status_code == 422 and pct.json()["code"] == "flag-percentage-invalid"
    env = _api(server, "POST", "", params={"env": "qa"}, json={"name": "x"})
    assert env.status_code == 422 and env.json()["code"] == "flag-environment-unknown"
    gone = _api(server, "POST", "/ghost/enable", params={"env": "dev"})
    assert gone.status_code == 404 and gone.json()["code"] == "flag-not-found"


def test_the_management_stream_pushes_a_change(server: Server) -> None:
    """/api/v1/flags/stream sends the flags on connect, then the changed feature."""
    _put(server, "sse-flag", _gradual("sse-flag", 10))
    headers = {"Authorization": f"Bearer {server['tokens']['viewer']}"}
    with httpx.stream(
        "GET",
        server["url"] + "/api/v1/flags/stream",
        params={"env": "dev"},
        headers=headers,
        timeout=20,
    ) as resp:
        lines = resp.iter_lines()
        events: list[tuple[str, Any]] = []
        event = ""
        for line in lines:
            if line.startswith("event:"):
                event = line.split(":", 1)[1].strip()
            elif line.startswith("data:"):
                events.append((event, json.loads(line.split(":", 1)[1])))
                if event == "unleash-connected":
                    _put(server, "sse-flag", _gradual("sse-flag", 20))
                else:
                    break
    assert events[0][0] == "unleash-connected"
    kind, data = events[1]
    assert kind == "unleash-updated"
    [change] = data["events"]
    assert change["type"] == "feature-updated" and change["feature"]["name"] == "sse-flag"
    assert change["feature"]["strategies"][0]["parameters"]["rollout"] == "20"


def test_shipyard_sdk_streams_and_counts(server: Server) -> None:
    """FlagsClient follows the stream, answers as the domain does, and sends its counts."""
    from shipyard.services.flags import flags_client
    from shipyard.settings import Settings
    from shipyard.store.uow import Store

    _put(server, "sdk-flag", _gradual("sdk-flag", 40))
    with FlagsClient(server["url"], server["tokens"]["dev"], "dev", app_name="sdk-app") as client:
        assert client.wait_until_ready(10) and _until(lambda: client.streaming)
        state = _state(server)
        assert [client.is_enabled("sdk-flag", {"userId": u}) for u in USERS] == [
            state.is_enabled("sdk-flag", UnleashContext(user_id=u)) for u in USERS
        ]
        _put(server, "sdk-flag", _gradual("sdk-flag", 40, enabled=False))
        assert _until(lambda: not client.state.features["sdk-flag"].enabled)
    store = Store.open(Settings.load(server["repo"]))
    rows = [r for r in flags_client.usage(store, "shop", "sdk-flag") if r["app_name"] == "sdk-app"]
    assert sum(r["yes"] + r["no"] for r in rows) == len(USERS)
    store.dispose()


def test_shipyard_sdk_polls_when_not_streaming(server: Server) -> None:
    """With streaming off, FlagsClient polls with its ETag and still sees a change."""
    _put(server, "polled", _gradual("polled", 100))
    client = FlagsClient(
        server["url"], server["tokens"]["dev"], "dev", stream=False, refresh_interval=0.1
    )
    try:
        assert client.is_enabled("polled", {"userId": "1"}) and client.etag
        _put(server, "polled", _gradual("polled", 0))
        assert _until(lambda: not client.is_enabled("polled", {"userId": "1"}))
    finally:
        client.close()


def test_shipyard_sdk_starts_from_a_bootstrap_file_without_a_server(
    server: Server, tmp_path: Path
) -> None:
    """A service with a bootstrap file answers with no server, and with an unreachable one."""
    _put(server, "boot", _gradual("boot", 100))
    out = tmp_path / "flags.json"
    done = shipyard("flags", "export", "--env", "dev", "-o", str(out), cwd=server["repo"])
    assert done.returncode == 0, done.stderr
    offline = FlagsClient(None, None, "dev", bootstrap=out)
    assert offline.is_enabled("boot", {"userId": "1"})
    down = FlagsClient(
        f"http://127.0.0.1:{free_port()}",
        "t",
        "dev",
        bootstrap=out,
        refresh_interval=0.1,
        timeout=0.5,
    )
    try:
        assert down.is_enabled("boot", {"userId": "1"})
    finally:
        down.close()


def test_shipyard_sdk_restarts_its_threads_after_fork(server: Server) -> None:
    """A forked child gets fresh updater threads and sees a change made after the fork."""
    _put(server, "forky", _gradual("forky", 100))
    client = FlagsClient(
        server["url"], server["tokens"]["dev"], "dev", stream=False, refresh_interval=0.1
    )
    try:
        parent_threads = list(client._threads)
        read, write = os.pipe()
        pid = os.fork()
        if pid == 0:  # the child: report and leave without running any test machinery
            code = 1
            try:
                os.close(read)
                fresh = not any(t in parent_threads for t in client._threads)
                alive = all(t.is_alive() for t in client._threads)
                seen = _until(lambda: not client.is_enabled("forky", {"userId": "1"}))
                os.write(write, json.dumps([fresh, alive, seen]).encode())
                code = 0
            finally:
                os._exit(code)
        os.close(write)
        _put(server, "forky", _gradual("forky", 100, enabled=False))
        with os.fdopen(read) as fh:
            report = json.loads(fh.read() or "null")
        _, status = os.waitpid(pid, 0)
        assert status == 0 and report == [True, True, True]
    finally:
        client.close()


def test_async_sdk_streams_a_change(server: Server) -> None:
    """AsyncFlagsClient hydrates, streams a change, and evaluates as the domain does."""
    from shipyard_sdk.aio import AsyncFlagsClient

    _put(server, "aio", _gradual("aio", 100))

    async def main() -> list[bool]:
        async with AsyncFlagsClient(server["url"], server["tokens"]["dev"], "dev") as client:
            first = client.is_enabled("aio", {"userId": "1"})
            for _ in range(500):
                if client.streaming:
                    break
                await asyncio.sleep(0.02)
            await asyncio.to_thread(_put, server, "aio", _gradual("aio", 100, enabled=False))
            for _ in range(750):
                if not client.is_enabled("aio", {"userId": "1"}):
                    break
                await asyncio.sleep(0.02)
            return [first, client.streaming, client.is_enabled("aio", {"userId": "1"})]

    assert asyncio.run(main()) == [True, True, False]


def test_openfeature_provider_answers_through_the_openfeature_api(server: Server) -> None:
    """Booleans, variant payloads and a missing flag through OpenFeature's client."""
    from openfeature import api
    from openfeature.evaluation_context import EvaluationContext
    from openfeature.exception import ErrorCode

    from shipyard_sdk.openfeature import ShipyardProvider

    _put(server, "of-flag", _gradual("of-flag", 50))
    client = FlagsClient(server["url"], server["tokens"]["dev"], "dev")
    api.set_provider(ShipyardProvider(client))
    try:
        of = api.get_client()
        state = _state(server)
        for user in USERS[:200]:
            ctx = EvaluationContext(targeting_key=user)
            on = state.is_enabled("of-flag", UnleashContext(user_id=user))
            assert of.get_boolean_value("of-flag", False, ctx) is on
            expected = {"blue": "b", "green": "g"}.get(
                state.get_variant("of-flag", UnleashContext(user_id=user)).name, "none"
            )
            assert of.get_string_value("of-flag", "none", ctx) == expected
        missing = of.get_boolean_details("no-such-flag", True)
        assert missing.value is True and missing.error_code == ErrorCode.FLAG_NOT_FOUND
    finally:
        api.shutdown()


def test_cli_commands_run_against_the_server(server: Server, tmp_path: Path) -> None:
    """With SHIPYARD_SERVER set, `flags create/rollout/list` go through the REST API and a
    viewer token is refused."""
    env = {"SHIPYARD_SERVER": server["url"], "SHIPYARD_TOKEN": server["tokens"]["developer"]}
    made = shipyard("flags", "create", "remote", "--env", "dev", "--json", cwd=tmp_path, env=env)
    assert made.returncode == 0, made.stdout + made.stderr
    shipyard("flags", "rollout", "remote", "15", "--env", "dev", cwd=tmp_path, env=env)
    listed = as_json(shipyard("flags", "list", "--env", "dev", "--json", cwd=tmp_path, env=env))
    assert {f["name"]: f["rollout"] for f in listed["flags"]}["remote"] == 15
    viewer = {**env, "SHIPYARD_TOKEN": server["tokens"]["viewer"]}
    refused = shipyard(
        "flags", "enable", "remote", "--env", "dev", "--json", cwd=tmp_path, env=viewer
    )
    assert refused.returncode == 5 and as_json(refused)["error"]["code"] == "forbidden"


def test_segment_routes(server: Server) -> None:
    """Create, show, update and delete a segment; a viewer reads but cannot write; a bad
    operator is 422 and a segment in use is 409."""
    body = {
        "name": "staff",
        "constraints": [{"contextName": "userId", "operator": "IN", "values": ["1"]}],
    }
    made = _api(server, "POST", "/segments", params={"env": "production"}, json=body)
    assert made.status_code == 200, made.text
    sid = made.json()["id"]
    viewer = _api(server, "GET", f"/segments/{sid}", role="viewer", params={"env": "production"})
    assert viewer.status_code == 200 and viewer.json()["name"] == "staff"
    denied = _api(server, "DELETE", f"/segments/{sid}", role="viewer", params={"env": "production"})
    assert denied.status_code == 403
    bad = {"constraints": [{"contextName": "v", "operator": "SEMVER_GT", "value": "x"}]}
    refused = _api(server, "PUT", f"/segments/{sid}", params={"env": "production"}, json=bad)
    assert refused.status_code == 422 and refused.json()["code"] == "flag-semver-invalid"
    _put(
        server,
        "seg-user",
        {
            "name": "seg-user",
            "enabled": True,
            "strategies": [{"name": "default", "segments": [sid]}],
        },
        env="production",
    )
    busy = _api(server, "DELETE", f"/segments/{sid}", params={"env": "production"})
    assert busy.status_code == 409 and busy.json()["code"] == "flag-segment-in-use"
    _api(server, "DELETE", "/seg-user", params={"env": "production"})
    renamed = _api(
        server, "PUT", f"/segments/{sid}", params={"env": "production"}, json={"name": "crew"}
    )
    assert renamed.json()["name"] == "crew"
    assert (
        _api(server, "DELETE", f"/segments/{sid}", params={"env": "production"}).status_code == 200
    )
    listed = _api(server, "GET", "/segments", role="viewer", params={"env": "production"})
    assert sid not in [s["id"] for s in listed.json()["segments"]]


def test_strategy_routes(server: Server) -> None:
    """Add, list and remove strategies over REST; a bad strategy is 422."""
    _put(server, "strat", _gradual("strat", 0))
    added = _api(
        server,
        "POST",
        "/strat/strategies",
        params={"env": "dev"},
        json={"name": "userWithId", "parameters": {"userIds": "9"}},
    )
    assert added.status_code == 200, added.text
    assert _state(server).is_enabled("strat", UnleashContext(user_id="9")) is True
    listed = _api(server, "GET", "/strat/strategies", role="viewer", params={"env": "dev"})
    assert [s["name"] for s in listed.json()["strategies"]] == ["flexibleRollout", "userWithId"]
    bad = _api(server, "POST", "/strat/strategies", params={"env": "dev"}, json={"name": "nope"})
    assert bad.status_code == 422 and bad.json()["code"] == "flag-strategy-unknown"
    removed = _api(server, "DELETE", "/strat/strategies/1", params={"env": "dev"})
    assert removed.status_code == 200
    assert _state(server).is_enabled("strat", UnleashContext(user_id="9")) is False


def test_schedule_routes_and_the_cli_through_them(server: Server, tmp_path: Path) -> None:
    """`flags schedule`, `schedules` and `schedule-cancel` go through the REST routes with
    SHIPYARD_SERVER set; a viewer lists but cannot schedule."""
    _put(server, "sched", _gradual("sched", 10, enabled=False))
    env = {"SHIPYARD_SERVER": server["url"], "SHIPYARD_TOKEN": server["tokens"]["developer"]}
    made = shipyard(
        "flags",
        "schedule",
        "sched",
        "--env",
        "dev",
        "--enable",
        "--at",
        "+2h",
        "--json",
        cwd=tmp_path,
        env=env,
    )
    assert made.returncode == 0, made.stdout + made.stderr
    sid = as_json(made)["schedules"][0]["id"]
    steps = _api(
        server,
        "POST",
        "/schedules",
        params={"env": "dev"},
        json={
            "flag": "sched",
            "steps": [{"percentage": 50, "at": "+1h"}, {"percentage": 100, "at": "+3h"}],
        },
    )
    assert steps.status_code == 200 and len(steps.json()["schedules"]) == 2
    listed = _api(
        server, "GET", "/schedules", role="viewer", params={"env": "dev", "pending": True}
    )
    assert {s["id"] for s in listed.json()["schedules"] if s["flag"] == "sched"} >= {sid}
    denied = _api(
        server,
        "POST",
        "/schedules",
        role="viewer",
        params={"env": "dev"},
        json={"flag": "sched", "action": "enable", "at": "+1h"},
    )
    assert denied.status_code == 403
    past = _api(
        server,
        "POST",
        "/schedules",
        params={"env": "dev"},
        json={"flag": "sched", "action": "enable", "at": "2020-01-01T00:00Z"},
    )
    assert past.status_code == 422 and past.json()["code"] == "schedule-in-past"
    cancelled = shipyard("flags", "schedule-cancel", str(sid), "--json", cwd=tmp_path, env=env)
    assert cancelled.returncode == 0 and as_json(cancelled)["status"] == "cancelled"
    listed_cli = as_json(
        shipyard("flags", "schedules", "--env", "dev", "--pending", "--json", cwd=tmp_path, env=env)
    )
    assert sid not in [s["id"] for s in listed_cli["schedules"]]
    applied = shipyard("flags", "apply-schedules", "--json", cwd=tmp_path, env=env)
    assert applied.returncode == 0 and as_json(applied)["applied"] == []


def test_variant_exposures_from_the_unleash_sdk_show_per_day(server: Server, unleash: Any) -> None:
    """The variant counts the official SDK reports are stored, and `flags show` lists the
    exposures per variant per day."""
    _put(server, "exposed", _gradual("exposed", 100))
    client = unleash()
    assert _until(lambda: client.is_enabled("exposed", {"userId": "1"}))
    picked: dict[str, int] = {}
    for u in USERS[:200]:
        name = client.get_variant("exposed", {"userId": u})["name"]
        picked[name] = picked.get(name, 0) + 1

    def shown() -> dict[str, int]:
        data = as_json(shipyard("flags", "show", "exposed", "--json", cwd=server["repo"]))
        return {x["variant"]: x["count"] for x in data["exposures"]}

    assert _until(lambda: shown() == picked), (shown(), picked)
    data = as_json(shipyard("flags", "show", "exposed", "--json", cwd=server["repo"]))
    assert {x["day"] for x in data["exposures"]} == {time.strftime("%Y-%m-%d", time.gmtime())}
    human = shipyard("flags", "show", "exposed", cwd=server["repo"]).stdout
    assert "exposures" in human and "blue" in human and "green" in human


def test_metrics_and_register_are_bounded_and_ignore_unknown_flags(server: Server) -> None:
    """Counts for flags the environment does not hold are not stored; a report with too many
    toggles or variants, or register with too many strategies, is 413 and stores nothing."""
    from shipyard.services.flags import flags_client
    from shipyard.settings import Settings
    from shipyard.store.uow import Store

    _put(server, "real", _gradual("real", 100))
    url, auth = server["url"] + "/api/client", {"Authorization": server["tokens"]["dev"]}

    def report(toggles: dict[str, Any]) -> httpx.Response:
        body = {"appName": "bounded", "bucket": {"start": "", "stop": "", "toggles": toggles}}
        return httpx.post(url + "/metrics", headers=auth, json=body)

    assert report({"real": {"yes": 3, "no": 1}, "ghost": {"yes": 9, "no": 9}}).status_code == 202
    many = {f"t{i}": {"yes": 1, "no": 0} for i in range(flags_client.MAX_TOGGLES + 1)}
    too_many = report(many)
    assert too_many.status_code == 413
    assert too_many.json()["code"] == "flag-client-body-too-large"
    wide = {"real": {"yes": 1, "no": 0, "variants": {f"v{i}": 1 for i in range(101)}}}
    assert report(wide).status_code == 413
    negative = report({"real": {"yes": -1, "no": 0}})
    assert negative.status_code == 422 and negative.json()["code"] == "flag-client-body-invalid"
    crowded = {"appName": "bounded", "strategies": [f"s{i}" for i in range(101)]}
    assert httpx.post(url + "/register", headers=auth, json=crowded).status_code == 413
    store = Store.open(Settings.load(server["repo"]))
    try:
        stored = {(r["name"], r["app_name"]) for r in flags_client.usage(store, "shop")}
        assert ("real", "bounded") in stored
        assert not any(name == "ghost" or name[1:].isdigit() for name, _ in stored)
        real = [r for r in flags_client.usage(store, "shop", "real") if r["app_name"] == "bounded"]
        assert sum(r["yes"] for r in real) == 3
    finally:
        store.dispose()
