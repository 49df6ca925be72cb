"""The server's one flag watcher on a real store (SQLite and PostgreSQL): every stream of an
environment is woken by a change made elsewhere, a revocation closes its token's streams,
and however many streams there are, one thread watches the database."""

from __future__ import annotations

import asyncio
import threading

from shipyard.api.flag_feed import FlagFeed, Subscription
from shipyard.services.flags import flags, flags_client
from shipyard.store.uow import Store

P = "shop"


async def _closed(sub: Subscription) -> None:
    """Wait as a stream does (api/routes/unleash.py): a wake means "look again", and a check
    that ran while the test moved the revisions on may wake a stream once more for nothing."""
    while sub.closed is None:
        await sub.wake.wait()
        sub.wake.clear()


def test_one_watcher_wakes_every_stream_and_closes_revoked_ones(store: Store) -> None:
    """50 subscriptions on dev and one on production: a change in dev wakes the 50 and not
    the other; revoking the dev token closes the 50 as revoked; one flag-feed thread."""
    flags.create(store, P, "dev", "f", "a")
    flags.create(store, P, "production", "f", "a")
    dev = flags_client.create_token(store, P, "dev")
    prod = flags_client.create_token(store, P, "production")
    feed = FlagFeed(store)

    async def run() -> None:
        rev = flags.revision(store, P, "dev")
        subs = [feed.subscribe(P, "dev", dev["id"], rev) for _ in range(50)]
        other = feed.subscribe(P, "production", prod["id"], flags.revision(store, P, "production"))
        await asyncio.to_thread(flags.set_enabled, store, P, "dev", "f", True, "a")
        await asyncio.wait_for(asyncio.gather(*(s.wake.wait() for s in subs)), 10)
        assert not other.wake.is_set()
        assert [t.name for t in threading.enumerate()].count("flag-feed") == 1
        for sub in subs:
            sub.wake.clear()
            sub.revision = flags.revision(store, P, "dev")
        await asyncio.to_thread(flags_client.revoke_client_token, store, dev["id"], "a")
        await asyncio.wait_for(asyncio.gather(*(_closed(s) for s in subs)), 10)
        assert {s.closed for s in subs} == {"revoked"} and other.closed is None

    try:
        asyncio.run(run())
    finally:
        feed.stop()
