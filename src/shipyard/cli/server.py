"""`shipyard server`: the HTTP API under Uvicorn."""

from __future__ import annotations

import typer


def server(
    host: str = typer.Option("127.0.0.1", help="Address to listen on."),
    port: int = typer.Option(8080, help="Port to listen on."),
    workers: int = typer.Option(1, min=1, help="Worker processes (the API is stateless)."),
) -> None:
    """Serve the REST API, the Unleash-compatible client API and the remote cache."""
    import uvicorn

    uvicorn.run(
        "shipyard.api.serve:app",
        host=host,
        port=port,
        workers=workers,
        factory=True,
        log_level="info",
    )
