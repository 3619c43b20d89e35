"""Dependencies the API handlers share: the application database, migrated, from the current settings."""

from __future__ import annotations

from typing import Annotated

import sqlalchemy as sa
from fastapi import Depends

from viral_pipeline.settings import Settings, get_settings
from viral_pipeline.store.db import ready_engine


def app_engine(settings: Annotated[Settings, Depends(get_settings)]) -> sa.Engine:
    """The engine of DATABASE_URL, migrated to head on the first request of the process."""
    return ready_engine(settings.database_url)


# A handler parameter `engine: DbEngine` receives the engine above.
DbEngine = Annotated[sa.Engine, Depends(app_engine)]
