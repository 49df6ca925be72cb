"""Mounting the dashboard on the API's app: its pages at ``/``, its files under ``/static``."""

from __future__ import annotations

from fastapi import FastAPI
from fastapi.staticfiles import StaticFiles

from shipyard.web.page import HERE


def mount(app: FastAPI) -> None:
    from shipyard.web.pages import audit, auth, flags, overview, releases, rollouts, runs

    app.mount("/static", StaticFiles(directory=HERE / "static"), name="static")
    for module in (auth, overview, runs, rollouts, flags, releases, audit):
        app.include_router(module.router, include_in_schema=False)
