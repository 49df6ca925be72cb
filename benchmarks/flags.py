"""Shipyard's flags SDK against the official UnleashClient SDK, in the same run.

Both are bootstrapped with the same toggles (the deterministic ones of the Unleash client
specification files: user id, session id and flexible rollouts, constraints, multiple
strategies) and no network, then asked ``is_enabled`` for N distinct contexts (200,000 by
default), each context one toggle in turn. Every answer must agree, or the run fails.

Then, against a real `shipyard server` on 127.0.0.1: ``/api/client/features`` requests/s when
the client's ETag matches (304), and how long a change takes to reach a streaming FlagsClient.
The last line is the ratio of the two SDKs' evaluation rates.

    python benchmarks/flags.py [--contexts 200000] [--seconds 3]
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
SUITES = [
    "01-simple-examples.json",
    "02-user-with-id-strategy.json",
    "03-gradual-rollout-user-id-strategy.json",
    "04-gradual-rollout-session-id-strategy.json",
    "07-multiple-strategies.json",
    "09-strategy-constraints.json",
    "10-flexible-rollout-strategy.json",
]


def _deterministic(feature: dict[str, Any]) -> bool:
    for strategy in feature.get("strategies", []):
        params = strategy.get("parameters") or {}
        if strategy.get("name") == "gradualRolloutRandom" or params.get("stickiness") == "random":
            return False
    return True


def toggles() -> dict[str, Any]:
    features: dict[str, Any] = {}
    for name in SUITES:
        state = json.loads((ROOT / "tests/conformance/unleash" / name).read_text())["state"]
        for feature in state["features"]:
            if _deterministic(feature):
                features.setdefault(feature["name"], feature)
    payload = {"version": 2, "features": list(features.values()), "segments": []}
    # Only what a server would store: the server half imports the same toggles.
    from shipyard.domain.flags import FeatureState, find_problems

    refused = {p.feature for p in find_problems(FeatureState.from_payload(payload))}
    payload["features"] = [f for f in payload["features"] if f["name"] not in refused]
    return payload


def rate(fn: Any, names: list[str], contexts: list[dict[str, str]]) -> tuple[float, list[bool]]:
    count = len(names)
    start = time.perf_counter()
    out = [fn(names[i % count], ctx) for i, ctx in enumerate(contexts)]
    return len(contexts) / (time.perf_counter() - start), out


def bench_sdks(n: int, folder: Path) -> float:
    from UnleashClient import UnleashClient
    from UnleashClient.cache import FileCache

    from shipyard.sdk.client import FlagsClient

    payload = toggles()
    names = [f["name"] for f in payload["features"]]
    boot = folder / "flags.json"
    boot.write_text(json.dumps(payload))
    contexts = [{"userId": f"user-{i}", "sessionId": f"session-{i}"} for i in range(n)]

    cache = FileCache("bench", directory=str(folder / "unleash-cache"))
    cache.bootstrap_from_dict(payload)
    theirs = UnleashClient(
        url="http://127.0.0.1:9",
        app_name="bench",
        environment="default",
        cache=cache,
        disable_metrics=True,
        disable_registration=True,
    )
    theirs.initialize_client(fetch_toggles=False)
    ours = FlagsClient(None, None, "default", bootstrap=boot, app_name="bench")

    their_rate, their_answers = rate(theirs.is_enabled, names, contexts)
    our_rate, our_answers = rate(ours.is_enabled, names, contexts)
    theirs.destroy()
    differ = sum(a != b for a, b in zip(our_answers, their_answers, strict=True))
    print(f"toggles: {len(names)}, contexts: {n:,}, answers on: {sum(our_answers):,}")
    print(f"UnleashClient is_enabled:  {their_rate:12,.0f} evaluations/s")
    print(f"shipyard.sdk is_enabled:   {our_rate:12,.0f} evaluations/s")
    print(f"answers that differ: {differ}")
    if differ:
        raise SystemExit("the SDKs disagree")
    return our_rate / their_rate


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def bench_server(seconds: float, folder: Path) -> None:
    import httpx

    from shipyard.sdk.client import FlagsClient
    from shipyard.services import flags, flags_client
    from shipyard.settings import Settings
    from shipyard.store.uow import Store

    repo = folder / "repo"
    repo.mkdir()
    (repo / "shipyard.yaml").write_text("project: bench\n")
    store = Store.open(Settings.load(repo))
    flags.import_payload(store, "bench", "dev", toggles(), "bench")
    flags.create(store, "bench", "dev", "latency", "bench")
    token = flags_client.create_token(store, "bench", "dev")["token"]
    port = _free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("SHIPYARD_")}
    proc = subprocess.Popen(
        [sys.executable, "-m", "shipyard.cli.main", "server", "--port", str(port)],
        cwd=repo,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        for _ in range(300):
            try:
                httpx.get(url + "/healthz")
                break
            except httpx.HTTPError:
                time.sleep(0.1)
        with httpx.Client(base_url=url, headers={"Authorization": token}) as http:
            tag = http.get("/api/client/features").headers["etag"]
            done, hits = 0, 0
            end = time.perf_counter() + seconds
            start = time.perf_counter()
            while time.perf_counter() < end:
                resp = http.get("/api/client/features", headers={"If-None-Match": tag})
                done += 1
                hits += resp.status_code == 304
            took = time.perf_counter() - start
        print(
            f"/api/client/features with a matching ETag: {done / took:,.0f} requests/s "
            f"({hits} of {done} answered 304), one client connection"
        )
        client = FlagsClient(url, token, "dev")
        for _ in range(500):
            if client.streaming:
                break
            time.sleep(0.01)
        delays = []
        for i in range(5):
            on = i % 2 == 0
            sent = time.perf_counter()
            flags.set_enabled(store, "bench", "dev", "latency", on, "bench")
            while client.state.features["latency"].enabled != on:
                time.sleep(0.001)
            delays.append(time.perf_counter() - sent)
        client.close()
        delays.sort()
        print(
            f"change to streaming SDK: median {delays[2] * 1000:.0f} ms, "
            f"max {delays[-1] * 1000:.0f} ms over {len(delays)} toggles"
        )
    finally:
        proc.terminate()
        proc.wait(15)
        store.dispose()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--contexts", type=int, default=200_000)
    parser.add_argument("--seconds", type=float, default=3.0)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        bench_server(args.seconds, folder)
        ratio = bench_sdks(args.contexts, folder)
    print(f"shipyard.sdk is {ratio:.1f}x the official UnleashClient's evaluations/s")


if __name__ == "__main__":
    main()
