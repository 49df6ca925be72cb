"""`shipyard worker`: takes leased background work from the database (docs/server.md)."""

from __future__ import annotations

import typer


def worker(
    kinds: str = typer.Option(
        "rollout,supervise,schedules,notify,run",
        "--kinds",
        help="The kinds of work to take: rollout, supervise, schedules, notify, run "
        "(comma-separated).",
    ),
    max_rollouts: int = typer.Option(16, min=1, help="Rollouts driven at once."),
) -> None:
    """Drive rollouts, apply scheduled flag changes, deliver notifications and run queued
    pipeline runs, taking each by a lease in the database; run as many as you like, anywhere
    that reaches the database."""
    import logging
    import signal
    import sys

    from shipyard.errors import InputError
    from shipyard.services.worker import KINDS, Worker
    from shipyard.store.uow import Store

    chosen = tuple(k.strip() for k in kinds.split(",") if k.strip())
    unknown = [k for k in chosen if k not in KINDS]
    if unknown or not chosen:
        raise InputError(
            f"unknown kind of work: {', '.join(unknown) or '(none)'}",
            f"choose among {', '.join(KINDS)}",
            code="usage",
        )
    logging.basicConfig(
        stream=sys.stderr, level=logging.INFO, format="%(asctime)s %(name)s %(message)s"
    )
    logging.getLogger("httpx").setLevel(logging.WARNING)  # not a line per probe
    w = Worker(Store.open_server(), kinds=chosen, max_rollouts=max_rollouts)

    def stop(_signum: int, _frame: object) -> None:
        w.stop.set()

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    logging.getLogger("shipyard.worker").info("worker %s takes %s", w.owner, ", ".join(chosen))
    w.run()
