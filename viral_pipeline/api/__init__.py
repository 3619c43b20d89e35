"""The HTTP API (ASGI app `viral_pipeline.api:app`)."""

from viral_pipeline.api.app import create_app

app = create_app()

__all__ = ["app", "create_app"]
