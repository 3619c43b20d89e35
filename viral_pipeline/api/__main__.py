"""`python -m viral_pipeline.api`: serve the API with uvicorn, its own logs in JSON too."""

from __future__ import annotations

import argparse

import uvicorn

LOG_CONFIG = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"json": {"()": "viral_pipeline.observability.JsonFormatter"}},
    "handlers": {
        "stderr": {
            "class": "logging.StreamHandler",
            "formatter": "json",
            "stream": "ext://sys.stderr",
        }
    },
    "loggers": {
        # Its access line is switched off by the app itself (api/app.py), however it is started.
        "uvicorn": {"handlers": ["stderr"], "level": "INFO", "propagate": False},
    },
}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Serve the viral_pipeline HTTP API")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8000)
    parser.add_argument("--workers", type=int, default=1, help="uvicorn worker processes")
    args = parser.parse_args(argv)
    uvicorn.run(
        "viral_pipeline.api:app",
        host=args.host,
        port=args.port,
        workers=args.workers,
        log_config=LOG_CONFIG,
    )


if __name__ == "__main__":  # pragma: no cover - started by scripts/run.sh
    main()
