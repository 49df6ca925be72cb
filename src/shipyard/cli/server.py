"""`shipyard server`: the HTTP API under Uvicorn."""

from __future__ import annotations

import typer


def server(
    host: str = typer.Option("127.0.0.1", help="Address to listen on."),
    port: int = typer.Option(8080, help="Port to listen on."),
    workers: int = typer.Option(1, min=1, help="Worker processes (the API is stateless)."),
    public_docs: bool = typer.Option(
        False, "--public-docs", help="Serve /openapi.json, /docs and /redoc without a token."
    ),
    worker: bool = typer.Option(
        True,
        "--worker/--no-worker",
        help="Also take background work (rollouts, scheduled changes, notifications), as "
        "`shipyard worker` does; --no-worker for API replicas beside dedicated workers.",
    ),
) -> None:
    """Serve the REST API, the Unleash-compatible client API and the remote cache."""
    import os

    import uvicorn

    from shipyard.store.uow import Store

    Store.open_server().dispose()  # refuse to start, with the error's code and hint
    if public_docs:
        os.environ["SHIPYARD_PUBLIC_DOCS"] = "1"  # read by every process's app factory
    if not worker:
        os.environ["SHIPYARD_WORKER"] = "0"

    uvicorn.run(
        "shipyard.api.serve:app",
        host=host,
        port=port,
        workers=workers,
        factory=True,
        log_level="info",
    )
