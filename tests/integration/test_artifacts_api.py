"""Artifact routes over HTTP on a real store: viewers read, developers publish, bytes immutable."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient

from shipyard.api.app import create_app
from shipyard.services import tokens
from shipyard.store.uow import Store


@pytest.fixture
def client(store: Store) -> Iterator[tuple[TestClient, dict[str, str]]]:
    keys = {
        role: tokens.create(store, role, role, project="shop")["token"]
        for role in ("viewer", "developer")
    }
    with TestClient(create_app(store)) as c:
        yield c, {r: {"Authorization": f"Bearer {t}"} for r, t in keys.items()}


URL = "/api/v1/artifacts/shop/1.0.0"


def test_developer_publishes_and_viewer_reads(client: tuple[TestClient, dict]) -> None:
    """A developer's PUT publishes (201); a viewer lists, shows, downloads and verifies it."""
    c, h = client
    put = c.put(URL, content=b"zip bytes", params={"filename": "shop.zip"}, headers=h["developer"])
    assert put.status_code == 201 and put.json()["published"] is True
    listed = c.get("/api/v1/artifacts", headers=h["viewer"]).json()["artifacts"]
    assert [a["version"] for a in listed] == ["1.0.0"]
    assert c.get(URL, headers=h["viewer"]).json()["filename"] == "shop.zip"
    assert c.get(URL + "/content", headers=h["viewer"]).content == b"zip bytes"
    assert c.get(URL + "/provenance", headers=h["viewer"]).json()["payloadType"]
    assert c.get(URL + "/sbom", headers=h["viewer"]).json()["specVersion"] == "1.6"
    assert c.get(URL + "/verify", headers=h["viewer"]).json()["ok"] is True


def test_same_bytes_200_other_bytes_409(client: tuple[TestClient, dict]) -> None:
    """The same bytes again answer 200; other bytes answer 409 artifact-immutable."""
    c, h = client
    c.put(URL, content=b"one", headers=h["developer"])
    assert c.put(URL, content=b"one", headers=h["developer"]).status_code == 200
    refused = c.put(URL, content=b"two", headers=h["developer"])
    assert refused.status_code == 409 and refused.json()["code"] == "artifact-immutable"


def test_viewer_cannot_publish_and_nobody_without_a_token(client: tuple[TestClient, dict]) -> None:
    """Publishing needs the run permission; reading needs a token at all."""
    c, h = client
    assert c.put(URL, content=b"x", headers=h["viewer"]).json()["code"] == "forbidden"
    assert c.get("/api/v1/artifacts").status_code == 401


def test_other_projects_and_unknown_artifacts(client: tuple[TestClient, dict]) -> None:
    """A project-bound token cannot read another project; unknown artifacts answer 404."""
    c, h = client
    other = c.get("/api/v1/artifacts", params={"project": "other"}, headers=h["viewer"])
    assert other.status_code == 403
    missing = c.get("/api/v1/artifacts/shop/9.9.9", headers=h["viewer"])
    assert missing.status_code == 404 and missing.json()["code"] == "artifact-not-found"
