"""In-memory fakes of Shipyard's ports, for tests of the decisions of the services that drive
them: no processes, no HTTP, no real sleeping. Each implements its port's protocol
(``tests/unit/test_fakes.py`` checks). The real adapters keep their own integration tests (real
processes, real HTTP)."""

from __future__ import annotations

import hashlib
import heapq
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from shipyard.adapters.blobs.base import CHUNK, check_digest, checked, missing, write_chunks
from shipyard.adapters.executors.base import Result, Task
from shipyard.adapters.targets.local import RuntimeFailed
from shipyard.domain.analysis import Window
from shipyard.ports.blobs import BlobInfo
from shipyard.ports.commands import Ran
from shipyard.ports.notify import NotifyFailed
from shipyard.ports.routers import RouteTable
from shipyard.ports.targets import Exited, Launch, Member
from shipyard.services.deployments.rollout_runner import Ports
from shipyard.store.uow import Store


@dataclass(frozen=True)
class Outcome:
    """What a step does when the fake executor runs it."""

    status: str = "success"  # success, failure
    exit_code: int | None = 0
    outputs: Mapping[str, str] = field(default_factory=dict)  # its $SHIPYARD_OUTPUT values
    files: Mapping[str, bytes] = field(default_factory=dict)  # what it writes, by path
    log: bytes = b""
    reason: str = ""


class FakeExecutor:
    """The ``Executor`` port in memory: a task ends the moment it starts, as its node's
    ``Outcome`` says (success, writing nothing, when it has none). It keeps what it was asked:
    the tasks in the order they started, and whether it was cancelled and shut down."""

    remote = False

    def __init__(self, outcomes: Mapping[str, Outcome] | None = None, capacity: int = 2) -> None:
        self.outcomes = dict(outcomes or {})
        self.capacity = capacity
        self.started: list[Task] = []
        self.cancelled = False
        self.shut_down = False
        self._done: list[Result] = []

    def start(self, task: Task) -> None:
        self.started.append(task)
        outcome = self.outcomes.get(task.node, Outcome())
        if outcome.status == "success":
            for rel, data in outcome.files.items():
                target = task.cwd / rel
                target.parent.mkdir(parents=True, exist_ok=True)
                target.write_bytes(data)
        self._done.append(
            Result(
                node=task.node,
                status=outcome.status,
                exit_code=outcome.exit_code,
                attempt=1,
                duration_s=0.0,
                log=outcome.log,
                outputs=dict(outcome.outputs),
                reason=outcome.reason,
            )
        )

    def wait(self, timeout: float) -> list[Result]:
        done, self._done = self._done, []
        return done

    def cancel(self) -> None:
        self.cancelled = True

    def shutdown(self) -> None:
        self.shut_down = True


# -- the clock ----------------------------------------------------------------------------------

START = datetime(2025, 3, 3, 9, 0, tzinfo=UTC)


class OutOfTime(BaseException):
    """The fake clock passed its limit: the code under test waits for something that never
    comes. A BaseException, so that no ``except Exception`` on the way takes it for a failure
    of the code it tests."""


class FakeClock:
    """The ``Clock`` port in memory: time moves only when slept on (at once, by the time asked)
    or advanced by the test, running what the test scheduled with ``at`` on the way. Past
    ``limit`` seconds it raises ``OutOfTime`` instead of looping for ever."""

    def __init__(self, start: datetime = START, limit: float = 3600.0) -> None:
        self.start = start
        self.elapsed = 0.0
        self.limit = limit
        self.sleeps = 0
        self._timers: list[tuple[float, int, Callable[[], object]]] = []

    def now(self) -> datetime:
        return self.start + timedelta(seconds=self.elapsed)

    def monotonic(self) -> float:
        return self.elapsed

    def sleep(self, seconds: float) -> None:
        self.sleeps += 1
        self.advance(max(0.0, seconds))

    def at(self, when: float, action: Callable[[], object]) -> None:
        """Run ``action`` once the clock reaches ``when`` seconds from its start."""
        heapq.heappush(self._timers, (when, len(self._timers), action))

    def advance(self, seconds: float) -> None:
        until = round(self.elapsed + seconds, 6)  # no drift from adding 0.2s many times
        while self._timers and self._timers[0][0] <= until:
            when, _, action = heapq.heappop(self._timers)
            self.elapsed = max(self.elapsed, when)
            action()
        self.elapsed = until
        if self.elapsed > self.limit:
            raise OutOfTime(f"the fake clock passed {self.limit:.0f}s")


# -- targets ------------------------------------------------------------------------------------


class FakeTargets:
    """The ``Targets``, ``Fleet`` and ``Supervised`` ports in memory: one world of instances
    for every controller and supervisor of a test (``adopt`` and ``supervise`` give the same
    fleet whatever was recorded; an exited instance stays until scaled, forgotten or
    replaced). An instance starts the moment it is asked for and is ready at once, unless its
    version is in ``unready`` or its pid in ``hung``; the test ends instances with ``exit``.
    It keeps what it was asked: each batch started, as (pool, version, count), each instance
    stopped, and each replaced (old, new)."""

    def __init__(self, unready: Iterable[str] = ()) -> None:
        self.members: list[Member] = []
        self.unready = set(unready)
        self.dead: dict[int, str] = {}  # pid -> how it ended
        self.started: list[tuple[str, str, int]] = []
        self.stopped: list[Member] = []
        self.replaced: list[tuple[Member, Member]] = []
        self.hung: set[int] = set()  # pids that run but answer no readiness check
        self._pid = 1000

    def adopt(self, log_dir: Path, recorded: Sequence[Mapping[str, Any]]) -> FakeTargets:
        return self

    def supervise(self, log_dir: Path, recorded: Sequence[Mapping[str, Any]]) -> FakeTargets:
        return self

    def is_alive(self, m: Member) -> bool:
        return m in self.members and m.pid not in self.dead

    def exit_of(self, m: Member) -> str:
        return self.dead.get(m.pid, "exited")

    def answers(self, m: Member, path: str, timeout: float) -> bool:
        return self.is_alive(m) and m.version not in self.unready and m.pid not in self.hung

    def replace(self, m: Member, launch: Launch) -> Member:
        self._stop([m])
        self._spawn(m.pool, 1, launch)
        new = self.members[-1]
        self.replaced.append((m, new))
        return new

    def stop(self, doomed: Sequence[Member], grace: float) -> None:
        self._stop(doomed)

    def of(self, pool: str) -> list[Member]:
        return [m for m in self.members if m.pool == pool]

    def version_of(self, pool: str) -> set[str]:
        """The versions running in ``pool`` now."""
        return {m.version for m in self.alive(pool)}

    def alive(self, pool: str) -> list[Member]:
        return [m for m in self.of(pool) if m.pid not in self.dead]

    def exited(self, pool: str) -> list[Exited]:
        return [
            Exited(m, f"{m.pool}-{m.index} ({m.version}) {self.dead[m.pid]}")
            for m in self.of(pool)
            if m.pid in self.dead
        ]

    def forget(self, doomed: Sequence[Member]) -> None:
        self._stop(doomed)

    def scale(self, pool: str, n: int, launch: Launch | None) -> None:
        self._stop([m for m in self.of(pool) if m.pid in self.dead or not m.runs(launch)])
        current = self.of(pool)
        if len(current) > n:
            self._stop(current[n:])
        elif len(current) < n:
            if launch is None:
                raise RuntimeFailed(f"no version to start in the {pool} pool")
            self._spawn(pool, n - len(current), launch)

    def _spawn(self, pool: str, count: int, launch: Launch) -> None:
        first = max((m.index for m in self.of(pool)), default=-1) + 1
        for i in range(count):
            self._pid += 1
            self.members.append(
                Member(pool, first + i, launch.version, self._pid, self._pid, "", launch.revision)
            )
        self.started.append((pool, launch.version, count))

    def ready(self, pool: str, path: str = "/healthz", want: Launch | None = None) -> list[Member]:
        return [m for m in self.alive(pool) if m.runs(want) and self.answers(m, path, 1.0)]

    def to_list(self) -> list[dict[str, Any]]:
        return [asdict(m) for m in self.members]

    def exit(self, version: str, how: str = "exited with status 1") -> list[Member]:
        """End every running instance of ``version``, as a crash would; the ones ended."""
        ended = [m for m in self.members if m.version == version and m.pid not in self.dead]
        for m in ended:
            self.dead[m.pid] = how
        return ended

    def _stop(self, doomed: Sequence[Member]) -> None:
        gone = [m for m in self.members if m in doomed]
        self.stopped += gone
        self.members = [m for m in self.members if m not in gone]


# -- the router ---------------------------------------------------------------------------------


class FakeRouter:
    """The ``RouterControl`` port in memory, over a real ``RouteTable`` (so it refuses what a
    router refuses). It keeps every weight split it was given, in order, and each header route
    set or cleared (None)."""

    url = "http://127.0.0.1:18080"
    admin_url = ""  # analyses read the fake metrics, not the router

    def __init__(self) -> None:
        self.table = RouteTable()
        self.weights: list[dict[str, int]] = []
        self.header_routes: list[tuple[str, str, str] | None] = []
        self.previews: list[tuple[str, int | None, int] | None] = []
        self.up = True

    def to_dict(self) -> dict[str, Any]:
        return {"kind": "fake", "pid": None, "port": 18080, "admin_port": None}

    def healthy(self) -> bool:
        return self.up

    def routes(self) -> dict[str, Any]:
        return self.table.to_dict()

    def set_pool(self, pool: str, backends: Sequence[str]) -> None:
        self.table = self.table.with_pool(pool, backends)

    def set_weights(self, weights: Mapping[str, int]) -> None:
        self.table = self.table.with_weights(weights)
        self.weights.append(dict(weights))

    def set_header_route(self, header: str, value: str, pool: str) -> None:
        self.table = self.table.with_header_route(header, value, pool)
        self.header_routes.append((header, value, pool))

    def clear_header_route(self) -> None:
        self.table = self.table.without_header_route()
        self.header_routes.append(None)

    def set_preview(self, pool: str, port: int | None, mirror: int) -> int | None:
        self.previews.append((pool, port, mirror))
        return port or 18081

    def clear_preview(self) -> None:
        self.previews.append(None)

    def in_flight(self, pool: str) -> int:
        return 0  # nothing is ever in flight: draining a pool ends at once

    def weight_of(self, pool: str) -> int:
        return int(self.table.weights.get(pool, 0))


class FakeRouters:
    """The ``Routers`` port: every environment gets the one ``FakeRouter``; it keeps the kinds
    it was asked for. Opening it while it is down (``up`` false) starts it again, as a new
    router process would start: up, with empty pools and no weights (counted in
    ``restarts``)."""

    def __init__(self, router: FakeRouter | None = None) -> None:
        self.router = router or FakeRouter()
        self.opened: list[str | None] = []
        self.restarts = 0

    def open(
        self, kind: str | None, recorded: Mapping[str, Any] | None, folder: Path
    ) -> FakeRouter:
        self.opened.append(kind)
        if not self.router.up:
            self.router.up = True
            self.router.table = RouteTable().with_pool("blue", []).with_pool("green", [])
            self.restarts += 1
        return self.router

    def adopt(self, recorded: Mapping[str, Any]) -> FakeRouter:
        return self.router


# -- metrics ------------------------------------------------------------------------------------


class FakeMetrics:
    """A ``MetricsSource`` in memory, and the factory the runner's ports take (``__call__``):
    each read adds ``per_read`` requests to every pool that has instances running, failing at
    the rate ``error_rates`` gives its version (none unless given)."""

    def __init__(
        self,
        targets: FakeTargets,
        error_rates: Mapping[str, float] | None = None,
        per_read: int = 100,
    ) -> None:
        self.targets = targets
        self.error_rates = dict(error_rates or {})
        self.per_read = per_read
        self.counts: dict[str, tuple[int, int]] = {}
        self.reads = 0

    def __call__(self, metric: Mapping[str, Any], router_admin_url: str) -> FakeMetrics:
        return self

    def windows(self, pools: Sequence[str]) -> Mapping[str, Window]:
        self.reads += 1
        out = {}
        for pool in pools:
            requests, errors = self.counts.get(pool, (0, 0))
            versions = self.targets.version_of(pool)
            if versions:
                rate = max(self.error_rates.get(v, 0.0) for v in versions)
                requests, errors = requests + self.per_read, errors + round(rate * self.per_read)
            self.counts[pool] = (requests, errors)
            out[pool] = Window(requests, errors)
        return out


# -- commands -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Call:
    """One command line the fake ran, with what it was given."""

    line: str
    cwd: Path | None
    env: Mapping[str, str]
    timeout: float
    merge: bool = False


class FakeCommands:
    """The ``Commands`` port in memory: nothing runs. Each command line is kept (``calls``) and
    answered by the first script whose key it contains (a ``Ran``, or a callable of the
    ``Call`` giving one), else exits 0 having written nothing."""

    def __init__(self, scripts: Mapping[str, Ran | Callable[[Call], Ran]] | None = None) -> None:
        self.scripts = dict(scripts or {})
        self.calls: list[Call] = []

    def run(
        self,
        line: str,
        *,
        cwd: Path | None,
        env: Mapping[str, str],
        timeout: float,
        merge: bool = False,
    ) -> Ran:
        call = Call(line, cwd, dict(env), timeout, merge)
        self.calls.append(call)
        for key, answer in self.scripts.items():
            if key in line:
                return answer(call) if callable(answer) else answer
        return Ran(0)

    def lines(self) -> list[str]:
        return [c.line for c in self.calls]


# -- notifications and controllers --------------------------------------------------------------


class FakeNotifier:
    """The ``Sink`` port in memory: it keeps every event it was sent; while ``failing`` it
    refuses them as an endpoint that is down does (``notify-failed``)."""

    def __init__(self, name: str = "fake:notifier") -> None:
        self._name = name
        self.sent: list[dict[str, Any]] = []
        self.failing = False

    @property
    def name(self) -> str:
        return self._name

    def send(self, event: dict[str, Any]) -> int:
        if self.failing:
            raise NotifyFailed(f"{self._name} is down", details={"attempts": 1})
        self.sent.append(event)
        return 1

    def kinds(self) -> list[str]:
        return [e["kind"] for e in self.sent]


class FakeControllers:
    """The ``Controllers`` port: it keeps the deployments handed to it, in order, and starts
    nothing; the test drives them (``services.deploy.run``) when it wants."""

    def __init__(self) -> None:
        self.started: list[str] = []

    def start(self, deployment_id: str) -> None:
        self.started.append(deployment_id)


class FakeBlobStore:
    """The ``BlobStore`` port in a dict: the contract of the real backends (digest names,
    chunks no larger than ``CHUNK``, ``blob-missing`` before a chunk, ``blob-corrupt`` after
    the last, nothing left at a failed restore), which ``tests/integration/test_blobs.py`` holds
    it to. ``corrupt(digest)`` changes the bytes behind its back, as a faulty disk does."""

    def __init__(self) -> None:
        self.data: dict[str, bytes] = {}
        self.stored_at: dict[str, float] = {}

    def has(self, digest: str) -> bool:
        return check_digest(digest) in self.data

    def put_bytes(self, data: bytes) -> str:
        digest = "sha256:" + hashlib.sha256(data).hexdigest()
        self.data.setdefault(digest, bytes(data))
        self.stored_at.setdefault(digest, float(len(self.stored_at)))
        return digest

    def put_file(self, src: Path) -> str:
        return self.put_file_sized(src)[0]

    def put_file_sized(self, src: Path | str) -> tuple[str, int]:
        data = Path(src).read_bytes()
        return self.put_bytes(data), len(data)

    def get_bytes(self, digest: str, *, verify: bool = True) -> bytes:
        return b"".join(self.chunks(digest, verify=verify))

    def chunks(self, digest: str, *, verify: bool = True) -> Iterator[bytes]:
        if not self.has(digest):
            raise missing(digest, "memory")
        data = self.data[digest]
        parts = (data[i : i + CHUNK] for i in range(0, len(data), CHUNK))
        return checked(digest, parts, "memory") if verify else parts

    def restore(self, digest: str, dest: Path, *, verify: bool = True) -> None:
        write_chunks(self.chunks(digest, verify=verify), dest)

    def blobs(self) -> Iterator[BlobInfo]:
        for digest, data in self.data.items():
            yield BlobInfo(digest, len(data), self.stored_at[digest])

    def delete(self, digest: str) -> None:
        self.data.pop(digest, None)
        self.stored_at.pop(digest, None)

    def close(self) -> None:
        pass

    def corrupt(self, digest: str) -> None:
        self.data[digest] = b"tampered"


@dataclass
class FakeEnvironment:
    """One environment's ports on fakes beside a real store: instances, router, clock and the
    metrics the instances' error rates (by version) make."""

    store: Store
    root: Path
    clock: FakeClock = field(default_factory=FakeClock)
    targets: FakeTargets = field(default_factory=FakeTargets)
    routers: FakeRouters = field(default_factory=FakeRouters)
    error_rates: dict[str, float] = field(default_factory=dict)

    @property
    def ports(self) -> Ports:
        metrics = FakeMetrics(self.targets, self.error_rates)
        return Ports(targets=self.targets, routers=self.routers, clock=self.clock, metrics=metrics)
