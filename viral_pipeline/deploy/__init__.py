"""The production topology: every service its own process on PostgreSQL, runs on Celery workers."""
