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
) -> None:
    """Serve the REST API, the Unleash-compatible client API and the remote cache."""
    import os

    import uvicorn

    from shipyard.api.serve import ready_store

    ready_store().dispose()  # refuse to start, with the error's code and hint, on bad settings
    if public_docs:
        os.environ["SHIPYARD_PUBLIC_DOCS"] = "1"  # read by every worker's app factory

    uvicorn.run(
        "shipyard.api.serve:app",
        host=host,
        port=port,
        workers=workers,
        factory=True,
        log_level="info",
    )
