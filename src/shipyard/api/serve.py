"""The Uvicorn entry point: settings from the environment, one Store per process."""

from __future__ import annotations

from fastapi import FastAPI

from shipyard.api.app import create_app
from shipyard.settings import Settings
from shipyard.store.uow import Store


def app() -> FastAPI:
    return create_app(Store.open(Settings.load()))
