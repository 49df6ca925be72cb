"""The Uvicorn entry point: settings from the environment, one Store per process.
``SHIPYARD_PUBLIC_DOCS=1`` serves /openapi.json, /docs and /redoc without a token."""

from __future__ import annotations

import os

from fastapi import FastAPI

from shipyard.api.app import create_app
from shipyard.settings import Settings
from shipyard.store.uow import Store


def ready_store() -> Store:
    """The server's store, with its blob store and signing key checked: a misconfigured one
    stops the server at start, not at a request."""
    store = Store.open(Settings.load(server=True))
    store.blobs  # noqa: B018
    store.signer  # noqa: B018
    return store


def app() -> FastAPI:
    public = os.environ.get("SHIPYARD_PUBLIC_DOCS", "").lower() in ("1", "true", "yes")
    return create_app(ready_store(), public_docs=public)
