"""The nginx router driving a real nginx on 127.0.0.1 in front of real sample-app processes."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from shipyard.adapters.routers.base import COOKIE, Router, RouterConfigInvalid, WeightsInvalid
from shipyard.adapters.routers.nginx import NginxMissing, NginxRouter
from tests.integration.routing import BODY, Backends, Load, backends, spread

__all__ = ["backends"]


def nginx_processes(prefix: Path) -> list[int]:
    """Live processes whose command line names this router's prefix (master and workers)."""
    out = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            cmdline = (entry / "cmdline").read_bytes().decode(errors="replace")
            state = (entry / "stat").read_text().rsplit(")", 1)[1].split()[0]
        except OSError:
            continue
        if str(prefix) in cmdline and state not in ("Z", "X"):
            out.append(int(entry.name))
    return out


@pytest.fixture
def router(backends: Backends, tmp_path: Path) -> Iterator[NginxRouter]:
    r = NginxRouter(tmp_path / "nginx")
    r.set_pool("stable", backends.addresses("stable"))
    r.set_pool("canary", backends.addresses("canary"))
    r.set_weights({"stable": 100, "canary": 0})
    r.start()
    yield r
    r.stop()


def test_weight_100_and_0_are_exact(router: NginxRouter) -> None:
    """All traffic reaches stable at 100/0, and all of it reaches canary at 0/100."""
    assert isinstance(router, Router)
    assert spread(router.url + "/", 60) == {BODY["stable"]: 60}
    router.set_weights({"stable": 0, "canary": 100})
    assert spread(router.url + "/", 60) == {BODY["canary"]: 60}


def test_twenty_percent_split_within_binomial_bound(router: NginxRouter) -> None:
    """A 20% canary weight through split_clients lands within five sigmas of 20% of 1000."""
    router.set_weights({"stable": 80, "canary": 20})
    seen = spread(router.url + "/", 1000)
    assert seen[BODY["stable"]] + seen[BODY["canary"]] == 1000
    assert 137 <= seen[BODY["canary"]] <= 263


def test_cookie_stickiness_and_header_route(router: NginxRouter) -> None:
    """A cookie keeps a client on its pool; x-ring: internal reaches canary at weight 0."""
    router.set_weights({"stable": 50, "canary": 50})
    with httpx.Client() as client:
        first = client.get(router.url + "/")
        pool = first.cookies[COOKIE]
        assert first.text == BODY[pool]
        assert {client.get(router.url + "/").text for _ in range(40)} == {BODY[pool]}
    router.set_weights({"stable": 100, "canary": 0})
    router.set_header_route("x-ring", "internal", "canary")
    assert spread(router.url + "/", 20, {"x-ring": "internal"}) == {BODY["canary"]: 20}
    assert spread(router.url + "/", 20, {"x-ring": "other"}) == {BODY["stable"]: 20}
    cookie = {COOKIE: "canary"}  # its pool has no weight now, so the cookie is ignored
    assert {httpx.get(router.url + "/", cookies=cookie).text for _ in range(10)} == {BODY["stable"]}


def test_reloads_drop_no_request(router: NginxRouter) -> None:
    """Clients on fresh connections see no failure across ten weight changes and reloads."""
    with Load(router.url + "/", clients=3, keep_alive=False) as load:
        for i in range(10):
            router.set_weights({"stable": 100 - 10 * i, "canary": 10 * i})
            load.wait_for(30)
    assert load.failures == []
    assert load.bodies[BODY["stable"]] > 0 and load.bodies[BODY["canary"]] > 0


def test_stop_leaves_no_nginx_process(backends: Backends, tmp_path: Path) -> None:
    """Stopping the router ends its nginx master and workers."""
    r = NginxRouter(tmp_path / "ngx")
    r.set_pool("stable", backends.addresses("stable"))
    r.set_weights({"stable": 100})
    r.start()
    master = r.master_pid()
    assert master is not None and nginx_processes(r.prefix)
    r.stop()
    assert nginx_processes(r.prefix) == []


def test_bad_changes_leave_nginx_and_its_config_untouched(router: NginxRouter) -> None:
    """Weights that do not add up or a value nginx cannot quote raise before any reload."""
    before = router.conf.read_text()
    with pytest.raises(WeightsInvalid):
        router.set_weights({"stable": 60, "canary": 60})
    with pytest.raises(RouterConfigInvalid):
        router.set_header_route("x-ring", 'a"b', "canary")
    assert router.conf.read_text() == before
    assert spread(router.url + "/", 10) == {BODY["stable"]: 10}


def test_missing_binary_is_a_coded_error(tmp_path: Path) -> None:
    """A router whose nginx binary is not installed raises nginx-missing with a hint."""
    with pytest.raises(NginxMissing) as info:
        NginxRouter(tmp_path, binary="nginx-that-is-not-installed")
    assert info.value.code == "nginx-missing" and "apt-get install nginx" in info.value.hint
