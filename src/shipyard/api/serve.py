"""The Uvicorn entry point: settings from the environment, one Store per process.
``SHIPYARD_PUBLIC_DOCS=1`` serves /openapi.json, /docs and /redoc without a token;
``SHIPYARD_WORKER=0`` leaves background work to `shipyard worker` processes."""

from __future__ import annotations

import os

from fastapi import FastAPI

from shipyard.api.app import create_app
from shipyard.store.uow import Store


def ready_store() -> Store:
    return Store.open_server()


def app() -> FastAPI:
    public = os.environ.get("SHIPYARD_PUBLIC_DOCS", "").lower() in ("1", "true", "yes")
    worker = os.environ.get("SHIPYARD_WORKER", "1").lower() not in ("0", "false", "no")
    return create_app(ready_store(), public_docs=public, worker=worker)
