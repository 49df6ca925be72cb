"""The Unleash client specification through the wire: all 22 files imported into a real
`shipyard server` over its API (warnings allowed), then every check (227 enabled, 52 variant)
asked of the official UnleashClient, `shipyard_sdk` and the OpenFeature provider, each talking
to the server as a user's service would."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.e2e.helpers import apply, as_json, running_server, shipyard

SPEC = Path(__file__).resolve().parents[1] / "conformance" / "unleash"
FILES = sorted(p.name for p in SPEC.glob("[0-9][0-9]-*.json"))
Server = dict[str, Any]


def _env(name: str) -> str:
    return "spec" + name[:2]


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    repo = tmp_path_factory.mktemp("wire")
    envs = "".join(f"  {_env(n)}: {{}}\n" for n in FILES)
    (repo / "shipyard.yaml").write_text(f"project: spec\nenvironments:\n{envs}")
    made = shipyard("token", "create", "--role", "developer", "--json", cwd=repo)
    bearer = {"Authorization": f"Bearer {as_json(made)['token']}"}
    admin = shipyard("token", "create", "--role", "admin", "--json", cwd=repo)
    with running_server(repo) as url:
        apply(repo, url, as_json(admin)["token"])
        tokens, warnings = {}, {}
        for name in FILES:
            state = json.loads((SPEC / name).read_text(encoding="utf-8"))["state"]
            imported = httpx.post(
                url + "/api/v1/flags/import", params={"env": _env(name)}, json=state, headers=bearer
            )
            assert imported.status_code == 200, (name, imported.text)
            warnings[name] = imported.json()["warnings"]
            made_token = httpx.post(
                url + "/api/v1/flags/tokens", json={"environment": _env(name)}, headers=bearer
            )
            tokens[name] = made_token.json()["token"]
        yield {"url": url, "tokens": tokens, "warnings": warnings}


def _checks() -> list[tuple[str, str, dict[str, Any]]]:
    out = []
    for name in FILES:
        suite = json.loads((SPEC / name).read_text(encoding="utf-8"))
        out += [(name, "enabled", case) for case in suite.get("tests", [])]
        out += [(name, "variant", case) for case in suite.get("variantTests", [])]
    return out


CHECKS = _checks()


def _unleash(server: Server, name: str, cache: Path) -> Any:
    from UnleashClient import UnleashClient
    from UnleashClient.utils import InstanceAllowType

    client = UnleashClient(
        url=server["url"] + "/api",
        app_name="conformance",
        custom_headers={"Authorization": server["tokens"][name]},
        disable_metrics=True,
        disable_registration=True,
        refresh_interval=3600,
        cache_directory=str(cache / name),
        multiple_instance_mode=InstanceAllowType.SILENTLY_ALLOW,
    )
    client.initialize_client()
    return client


def _failures(ask: Any) -> list[str]:
    """Every check whose answer differs from the specification's, by description."""
    wrong = []
    for name, kind, case in CHECKS:
        got = ask(name, kind, case)
        if got != case["expectedResult"]:
            wrong.append(f"{name} {case['description']}: {got!r}")
    return wrong


def test_every_specification_file_imports(server: Server) -> None:
    """All 22 files import; the oddities Unleash tolerates come back as warnings naming the
    flag and field."""
    assert len(server["tokens"]) == 22 and len(CHECKS) == 279
    odd = {name[:2] for name, found in server["warnings"].items() if found}
    assert odd == {"06", "09", "11", "13", "14", "15", "17", "21", "22"}
    assert all(w["flag"] and w["field"] for found in server["warnings"].values() for w in found)


def test_the_official_unleash_client_passes_every_check(server: Server, tmp_path: Path) -> None:
    """UnleashClient, fed by the server's client API, answers all 279 checks as specified."""
    clients = {name: _unleash(server, name, tmp_path) for name in FILES}
    try:

        def ask(name: str, kind: str, case: dict[str, Any]) -> Any:
            client = clients[name]
            if kind == "enabled":
                return client.is_enabled(case["toggleName"], case["context"])
            variant = dict(client.get_variant(case["toggleName"], case["context"]))
            return {k: v for k, v in variant.items() if k in case["expectedResult"]}

        assert _failures(ask) == []
    finally:
        for client in clients.values():
            client.destroy()


def test_the_shipyard_sdk_passes_every_check(server: Server) -> None:
    """FlagsClient, streaming from the server, answers all 279 checks as specified."""
    from shipyard_sdk.client import FlagsClient

    clients = {
        name: FlagsClient(server["url"], server["tokens"][name], _env(name), app_name="conformance")
        for name in FILES
    }
    try:
        assert all(c._ready.wait(10) for c in clients.values())

        def ask(name: str, kind: str, case: dict[str, Any]) -> Any:
            client = clients[name]
            if kind == "enabled":
                return client.is_enabled(case["toggleName"], case["context"])
            return client.get_variant(case["toggleName"], case["context"]).to_dict()

        assert _failures(ask) == []
    finally:
        for client in clients.values():
            client.close()


def _evaluation_context(context: dict[str, Any]) -> Any:
    """A specification context as an OpenFeature user writes it: the user id as targeting key,
    the other fields and the properties as attributes."""
    from openfeature.evaluation_context import EvaluationContext

    attributes = {k: v for k, v in context.items() if k not in ("userId", "properties")}
    attributes.update(context.get("properties") or {})
    return EvaluationContext(targeting_key=context.get("userId"), attributes=attributes)


def test_the_openfeature_provider_passes_every_check(server: Server) -> None:
    """Through the OpenFeature API over the provider: booleans are the enabled checks, and the
    variant checks are the variant name and its payload (the default when off or none)."""
    from openfeature import api
    from openfeature.provider import ProviderStatus

    from shipyard_sdk.client import FlagsClient
    from shipyard_sdk.openfeature import ShipyardProvider

    clients = {}
    for name in FILES:
        domain = f"spec-{name[:2]}"
        flags = FlagsClient(
            server["url"], server["tokens"][name], _env(name), app_name="conformance"
        )
        api.set_provider(ShipyardProvider(flags), domain)
        clients[name] = api.get_client(domain)
    try:
        assert all(c.get_provider_status() == ProviderStatus.READY for c in clients.values())

        def ask(name: str, kind: str, case: dict[str, Any]) -> Any:
            client = clients[name]
            ctx = _evaluation_context(case["context"])
            if kind == "enabled":
                return client.get_boolean_value(case["toggleName"], False, ctx)
            expected = case["expectedResult"]
            payload = expected.get("payload") or {"type": "string", "value": "fallback"}
            # Each payload through the OpenFeature call for its type, as a user would ask it.
            ask_typed, read, fallback = {
                "number": (client.get_float_details, float, -1.0),
                "json": (client.get_object_details, json.loads, {"fallback": True}),
            }.get(payload["type"], (client.get_string_details, str, "fallback"))
            details = ask_typed(case["toggleName"], fallback, ctx)
            has_payload = expected["enabled"] and "payload" in expected
            want_value = read(payload["value"]) if has_payload else fallback
            ok_name = details.variant == expected["name"] or (
                not expected["enabled"] and details.variant in (None, "disabled")
            )
            if details.value == want_value and ok_name:
                return expected
            return {"variant": details.variant, "value": details.value, "error": details.error_code}

        assert _failures(ask) == []
    finally:
        api.shutdown()
