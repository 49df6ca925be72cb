"""Five versions of one small service rolled out under 200 requests/s, as a user drives them.

A fresh git repository holds a shipyard.yaml (a canary on two instances behind the built-in
router: 10% of traffic, an analysis of error rate and p99 latency, 50%, 100%; a background and
post-promotion `watch` of the error rate) and an app.py whose behaviour follows the version it
runs as (`APP_VERSION`): `1.1.0` is healthy, `-slow` answers 30 ms later, `-errors` answers 8% of
requests with a 500, `-notready` never answers its readiness probe, `-crash` exits 20 s after it
started. Every step is the `shipyard` command in a subprocess; the URL comes from `shipyard env
--json`. An open-loop asyncio client sends 200 cookie-less requests a second to that URL for the
whole run, each counted by status and by the version that answered (the body names it).

Scenarios, one line each (outcome, failed requests: non-2xx and connection errors, requests
answered by the new version, time to the decision):

1. healthy canary: promoted; time from deploy start to the deployment's end;
2. 30 ms slower canary: what the latency judge decides;
3. 8% 5xx canary at 10%: rolled back; time from deploy start to the rollback's end;
4. never ready: rolled back at the progress deadline, no failed request;
5. crashes 20 s after start: promoted, then rolled back by the watch window; time from the
   crash (the app notes its time) to the end of the supervisor's rollback;
6. a blue-green switch; 7. `shipyard rollback`; 8. `kill -9` of `shipyard deploy` during the
   canary's analysis, then `shipyard rollout continue`: no failed request in any of the three.

The last line checks the goals of issue 16 (bad canary decided in <= 5 s, a crash after
promotion rolled back in <= 10 s, 0 failed requests on the three paths of 6-8).

    python benchmarks/canary_scenarios.py [--rate 200] [--quick] [--only 1,3,5]

`--quick` leaves out the slow canary and the crash (about a minute instead of three).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

APP = '''\
"""A small HTTP service; how it behaves follows the version it runs as (APP_VERSION)."""

import argparse
import os
import random
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

VERSION = os.environ.get("APP_VERSION", "dev")
KIND = VERSION.partition("-")[2]  # "", slow, errors, notready, crash
STARTED = time.time()


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True  # headers and body are two writes: no 40 ms delayed-ACK stall

    def do_GET(self):
        if self.path == "/healthz":
            status, body = (503, "starting") if KIND == "notready" else (200, "ok")
        else:
            if KIND == "slow":
                time.sleep(0.030)
            fail = KIND == "errors" and random.random() < 0.08
            status, body = (500, f"error {VERSION}") if fail else (200, f"checkout {VERSION}")
        data = body.encode()
        self.send_response(status)
        self.send_header("content-type", "text/plain")
        self.send_header("x-version", VERSION)
        self.send_header("content-length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *args):
        pass


def crash():
    with open(os.path.join(os.environ["MARK_DIR"], f"crash-{os.getpid()}"), "w") as f:
        f.write(repr(time.time()))
    os._exit(1)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, required=True)
    server = ThreadingHTTPServer(("127.0.0.1", parser.parse_args().port), Handler)
    server.daemon_threads = True
    if KIND == "crash":
        threading.Timer(20 - (time.time() - STARTED), crash).start()
    server.serve_forever()


if __name__ == "__main__":
    main()
'''

CANARY = """\
    strategy:
      canary:
        progress_deadline: 6s
        steps: [{weight: 10}, {analysis: health, duration: 6s}, {weight: 50}, {pause: 2s},
                {weight: 100}]"""
BLUE_GREEN = """\
    strategy:
      blue-green: {scale_down_delay: 0s}"""
SPEC = """\
project: bench
config: {{MARK_DIR: "{marks}"}}
environments:
  production:
    target:
      type: process
      command: "{python} app.py --port {{port}}"
      instances: 2
      readiness: {{path: /healthz, timeout: 5s}}
      grace: 1s
{strategy}
    watch: {{analysis: [errors], window: 40s}}
analysis:
  health:
    interval: 1s
    min_samples: 20
    metrics:
      - {{metric: error_rate, judge: two-proportion, max_increase: 0.02}}
      # medians under a millisecond: a fresh instance's first second was once 3.3x slower
      - {{metric: latency_p99, judge: mann-whitney, max_increase: 4.0}}
  errors: {{metric: error_rate, max_increase: 0.05, min_samples: 20, interval: 1s}}
"""


# -- load ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Answer:
    at: float  # time.time() when it came back
    status: int  # 0: no HTTP answer (connection refused, reset, timeout)
    version: str  # "" when no instance answered
    said: str = ""  # the body of a failed answer (a router's 502 names the backend and error)


class Load:
    """``rate`` cookie-less GETs a second on a fixed schedule (open loop: a slow answer does
    not delay the next request), over kept-alive connections, from a thread of its own."""

    def __init__(self, url: str, rate: float) -> None:
        parts = urlsplit(url)
        self.host, self.port = parts.hostname or "127.0.0.1", parts.port or 80
        self.request = f"GET / HTTP/1.1\r\nHost: {parts.netloc}\r\n\r\n".encode()
        self.rate = rate
        self.answers: list[Answer] = []
        self.running = True
        self.thread = threading.Thread(target=lambda: asyncio.run(self._run()), daemon=True)

    def __enter__(self) -> Load:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.running = False
        self.thread.join(30)

    async def _run(self) -> None:
        idle: list[tuple[asyncio.StreamReader, asyncio.StreamWriter]] = []
        tasks: set[asyncio.Task[None]] = set()

        async def one() -> None:
            status, version, said = 0, "", ""
            conn = idle.pop() if idle else None
            try:
                if conn is None:
                    conn = await asyncio.open_connection(self.host, self.port)
                reader, writer = conn
                writer.write(self.request)
                head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 5)
                length, close = 0, False
                for line in head.lower().split(b"\r\n"):
                    if line.startswith(b"content-length:"):
                        length = int(line[15:])
                    elif line == b"connection: close":
                        close = True
                body = await asyncio.wait_for(reader.readexactly(length), 5)
                status = int(head[9:12])
                words = body.decode(errors="replace").split()
                version = words[1] if len(words) == 2 else ""
                said = "" if 200 <= status < 300 else body.decode(errors="replace").strip()
                if close:
                    writer.close()
                else:
                    idle.append(conn)
            except (TimeoutError, OSError, asyncio.IncompleteReadError, ValueError) as exc:
                said = type(exc).__name__
                if conn is not None:
                    conn[1].close()
            self.answers.append(Answer(time.time(), status, version, said))

        start, sent = time.monotonic(), 0
        while self.running:
            due = start + sent / self.rate
            if (wait := due - time.monotonic()) > 0:
                await asyncio.sleep(wait)
            task = asyncio.create_task(one())
            tasks.add(task)
            task.add_done_callback(tasks.discard)
            sent += 1
        if tasks:
            await asyncio.wait(tasks, timeout=10)
        for _, writer in idle:
            writer.close()

    def between(self, start: float, end: float) -> list[Answer]:
        return [a for a in list(self.answers) if start <= a.at <= end]


# -- the product, as a user runs it ------------------------------------------------------------


class Project:
    def __init__(self, root: Path) -> None:
        self.root, self.marks = root, root / "marks"
        self.env = {k: v for k, v in os.environ.items() if k != "SHIPYARD_SERVER"}
        self.env["COLUMNS"] = "200"

    def write_spec(self, strategy: str) -> None:
        spec = SPEC.format(marks=self.marks, python=sys.executable, strategy=strategy)
        (self.root / "shipyard.yaml").write_text(spec)

    def argv(self, *args: str) -> list[str]:
        return [sys.executable, "-m", "shipyard", *args]

    def run(self, *args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            self.argv(*args), cwd=self.root, env=self.env, capture_output=True, text=True
        )

    def json(self, *args: str) -> Any:
        proc = self.run("--json", *args)
        try:
            return json.loads(proc.stdout)
        except json.JSONDecodeError:
            raise RuntimeError(f"shipyard {' '.join(args)}: {proc.stdout} {proc.stderr}") from None

    def environment(self) -> dict[str, Any]:
        return dict(self.json("env")["environments"][0])

    def deployments(self, limit: int = 5) -> list[dict[str, Any]]:
        return list(self.json("deployments", "production", "--limit", str(limit))["deployments"])

    def live(self) -> str:
        return str(self.environment()["version"])


def stamp(iso: str | None) -> float:
    return datetime.fromisoformat(iso).timestamp() if iso else float("nan")


def until(what: str, check: Callable[[], Any], timeout: float) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if got := check():
            return got
        time.sleep(0.1)
    raise RuntimeError(f"{what} did not happen within {timeout:g} s")


@dataclass
class Result:
    number: int
    name: str
    outcome: str
    failed: int
    new: int
    decision: float  # seconds
    since: str  # what the decision time counts from
    note: str = ""

    def line(self) -> str:
        return (
            f"{self.number} {self.name:24} {self.outcome:12} failed {self.failed:4d}  "
            f"new version {self.new:5d}  decision {self.decision:5.1f} s after {self.since}"
            + (f"  ({self.note})" if self.note else "")
        )


OUTCOME = {"succeeded": "promoted", "rolled-back": "rolled back", "running": "held"}


class Bench:
    def __init__(self, project: Project, load: Load) -> None:
        self.p, self.load = project, load
        self.failures: Counter[tuple[int, str]] = Counter()
        self.failed_at: dict[str, float] = {}  # a failure's text: when it first came back

    def count(self, start: float, end: float, version: str, record: bool = True) -> tuple[int, int]:
        answers = self.load.between(start, end)
        failed = [a for a in answers if not 200 <= a.status < 300]
        # what failed, for the report: status (0: no answer) and version
        for a in failed if record else ():
            self.failures[(a.status, a.version or "-")] += 1
            self.failed_at.setdefault(a.said[:60], a.at - start)
        return len(failed), sum(1 for a in answers if a.version == version)

    def deploy(self, number: int, name: str, version: str) -> Result:
        """`shipyard deploy` of ``version`` to its end; the decision is the deployment's end."""
        start = time.time()
        self.p.run("deploy", "production", "--version", version)
        end = time.time()
        dep = self.p.deployments(1)[0]
        assert dep["version"] == version, dep
        failed, new = self.count(start, end + 1, version)
        note = "" if dep["status"] == "succeeded" else str(dep["reason"])[:100]
        if firsts := [a.at for a in self.load.between(start, end) if a.version == version]:
            note = f"its first answer +{min(firsts) - start:.1f} s" + (note and "; " + note)
        outcome = OUTCOME.get(dep["status"], dep["status"])
        return Result(
            number, name, outcome, failed, new, stamp(dep["finished_at"]) - start, "deploy", note
        )

    def crash(self, number: int, version: str) -> Result:
        """Promoted, then its instances exit 20 s after they started: the supervisor's watch
        rolls back; the time counts from the first crash to the rollback's end."""
        before = self.p.live()
        start = time.time()
        done = self.p.run("--json", "deploy", "production", "--version", version)
        if done.returncode != 0:
            dep = self.p.deployments(1)[0]
            raise RuntimeError(f"{version} was not promoted: {dep['status']} {dep['reason']}")
        promoted = time.time()
        until("the watch's rollback", lambda: self.p.live() == before, 60)
        history = self.p.deployments(3)
        rollback, crashed = history[0], history[1]
        assert crashed["version"] == version and rollback["version"] == before, history
        marks = [float(m.read_text()) for m in self.p.marks.glob("crash-*")]
        crash = min(marks)
        for m in self.p.marks.glob("crash-*"):
            m.unlink()
        end = time.time()
        failed, new = self.count(start, end, version)
        crash_failed, _ = self.count(crash, end, version, record=False)
        return Result(
            number,
            "crash 20 s after start",
            "rolled back" if crashed["status"] == "rolled-back" else crashed["status"],
            failed,
            new,
            stamp(rollback["finished_at"]) - crash,
            "crash",
            f"promoted {promoted - start:.1f} s after deploy, crashed {crash - promoted:.1f} s "
            f"after; {crash_failed} failed after the crash; {crashed['reason'][:60]}",
        )

    def blue_green(self, number: int, version: str) -> Result:
        self.p.write_spec(BLUE_GREEN)
        try:
            return self.deploy(number, "blue-green switch", version)
        finally:
            self.p.write_spec(CANARY)

    def rollback(self, number: int) -> Result:
        start = time.time()
        proc = self.p.run("--json", "rollback", "production")
        end = time.time()
        if proc.returncode != 0:
            raise RuntimeError(f"shipyard rollback: {proc.stdout} {proc.stderr}")
        dep = self.p.deployments(1)[0]
        failed, new = self.count(start, end + 1, dep["version"])
        outcome = "rolled back" if dep["status"] == "succeeded" else dep["status"]
        return Result(
            number,
            "shipyard rollback",
            outcome,
            failed,
            new,
            stamp(dep["finished_at"]) - start,
            "rollback",
            f"to {dep['version']}",
        )

    def killed(self, number: int, version: str) -> Result:
        """kill -9 of `shipyard deploy` at the canary's 10%, then `shipyard rollout continue`."""
        start = time.time()
        log = self.p.marks / "deploy.log"
        with log.open("wb") as output:
            controller = subprocess.Popen(
                self.p.argv("deploy", "production", "--version", version),
                cwd=self.p.root,
                env=self.p.env,
                stdout=output,
                stderr=subprocess.STDOUT,
            )

        def at_ten() -> bool:
            if controller.poll() is not None:
                said = log.read_text(errors="replace")[-400:]
                raise RuntimeError(f"deploy ended before it was killed: {said}")
            status = self.p.json("rollout", "status", "production")
            return (
                status.get("version") == version
                and (status.get("weights") or {}).get("canary") == 10
            )

        try:
            until("the canary at 10%", at_ten, 60)
        finally:
            os.kill(controller.pid, signal.SIGKILL)
            controller.wait(10)
        killed = time.time()
        cont = self.p.run("--json", "rollout", "continue", "production")
        end = time.time()
        dep = self.p.deployments(1)[0]
        failed, new = self.count(start, end + 1, version)
        note = f"killed {killed - start:.1f} s after deploy; continue exit {cont.returncode}"
        if dep["status"] != "succeeded":
            note += f"; {str(dep['reason'])[:80]}"
        return Result(
            number,
            "kill -9 + continue",
            OUTCOME.get(dep["status"], dep["status"]),
            failed,
            new,
            stamp(dep["finished_at"]) - start,
            "deploy",
            note,
        )


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rate", type=float, default=200.0)
    parser.add_argument("--quick", action="store_true", help="leave out scenarios 2 and 5")
    parser.add_argument("--only", default="", help="scenario numbers, e.g. 1,3,5")
    args = parser.parse_args()
    chosen = {int(n) for n in args.only.split(",") if n} or set(range(1, 9))
    if args.quick:
        chosen -= {2, 5}

    root = Path(tempfile.mkdtemp(prefix="shipyard-bench-canary-"))
    project = Project(root)
    project.marks.mkdir()
    subprocess.run(["git", "init", "-q", str(root)], check=True)
    (root / "app.py").write_text(APP)
    (root / ".gitignore").write_text(".shipyard/\nmarks/\n")
    project.write_spec(CANARY)
    subprocess.run(["git", "-C", str(root), "add", "-A"], check=True)
    subprocess.run(
        ["git", "-C", str(root), "-c", "user.name=bench", "-c", "user.email=bench@example.com"]
        + ["commit", "-q", "-m", "checkout service"],
        check=True,
    )
    first = project.run("deploy", "production", "--version", "1.0.0")
    if first.returncode != 0:
        raise SystemExit(f"the first deploy failed: {first.stdout} {first.stderr}")
    url = project.environment()["url"]
    print(f"{root}: 1.0.0 live at {url}, {args.rate:g} requests/s", flush=True)

    results: dict[int, Result] = {}
    try:
        with Load(url, args.rate) as load:
            time.sleep(2)  # the load is steady before the first rollout
            bench = Bench(project, load)
            plan: list[tuple[int, Callable[[], Result]]] = [
                (1, lambda: bench.deploy(1, "healthy canary", "1.1.0")),
                (2, lambda: bench.deploy(2, "30 ms slower canary", "1.2.0-slow")),
                (3, lambda: bench.deploy(3, "8% 5xx canary", "1.3.0-errors")),
                (4, lambda: bench.deploy(4, "never ready", "1.4.0-notready")),
                (5, lambda: bench.crash(5, "1.5.0-crash")),
                (6, lambda: bench.blue_green(6, "1.6.0")),
                (7, lambda: bench.rollback(7)),
                (8, lambda: bench.killed(8, "1.7.0")),
            ]
            for number, scenario in plan:
                if number not in chosen:
                    continue
                if number == 7 and project.live() == "1.0.0":
                    project.run("deploy", "production", "--version", "1.1.0")  # one to leave
                try:
                    bench.failures.clear()
                    bench.failed_at.clear()
                    results[number] = scenario()
                    print(results[number].line(), flush=True)
                    if bench.failures:
                        said = ", ".join(
                            f"{n} x {s or 'no answer'} from {v}"
                            for (s, v), n in sorted(bench.failures.items())
                        )
                        said += "; " + ", ".join(
                            f"{text!r} at +{at:.1f} s" for text, at in bench.failed_at.items()
                        )
                        print(f"  failed: {said}", flush=True)
                except Exception as exc:  # a scenario that breaks is reported, the run goes on
                    print(f"{number} failed to run: {exc}", flush=True)
                time.sleep(1)
            total = len(load.answers)
            bad = sum(1 for a in load.answers if not 200 <= a.status < 300)
            print(f"load: {total} requests, {bad} failed over the whole run", flush=True)
    finally:
        project.run("env", "stop", "production")
    print(goals(results))


def goals(results: dict[int, Result]) -> str:
    parts, ok = [], True
    if bad := results.get(3):
        met = bad.outcome == "rolled back" and bad.decision <= 5
        ok &= met
        parts.append(f"bad canary {bad.decision:.1f} s <= 5 s {'ok' if met else 'MISSED'}")
    if crash := results.get(5):
        met = crash.outcome == "rolled back" and crash.decision <= 10
        ok &= met
        parts.append(f"crash rollback {crash.decision:.1f} s <= 10 s {'ok' if met else 'MISSED'}")
    zero = [results[n] for n in (6, 7, 8) if n in results]
    if zero:
        met = all(r.failed == 0 for r in zero)
        ok &= met
        figures = "/".join(str(r.failed) for r in zero)
        parts.append(f"zero-failure paths {figures} {'ok' if met else 'MISSED'}")
    return "goals: " + "; ".join(parts) + ("" if ok else "  (not all met)")


if __name__ == "__main__":
    main()
