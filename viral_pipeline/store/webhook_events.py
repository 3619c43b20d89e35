"""Apify run-finished events received by the webhook; the `apify_webhook_runs` sensor reads them."""

from __future__ import annotations

from datetime import UTC, datetime

import sqlalchemy as sa

from viral_pipeline.store.schema import apify_webhook_events


def record_webhook_event(
    engine: sa.Engine,
    *,
    apify_run_id: str,
    dataset_id: str | None,
    event_type: str,
    run_status: str,
) -> bool:
    """Store the event once per Apify run. Returns True when this delivery was new.

    A repeated delivery only bumps `deliveries` (and refreshes the status): the sensor keys its
    runs on the Apify run id, so nothing is ingested twice.
    """
    with engine.begin() as connection:
        updated = connection.execute(
            sa.update(apify_webhook_events)
            .where(apify_webhook_events.c.apify_run_id == apify_run_id)
            .values(deliveries=apify_webhook_events.c.deliveries + 1, run_status=run_status)
        ).rowcount
        if updated:
            return False
        try:
            with connection.begin_nested():
                connection.execute(
                    sa.insert(apify_webhook_events).values(
                        apify_run_id=apify_run_id,
                        dataset_id=dataset_id,
                        event_type=event_type,
                        run_status=run_status,
                        received_at=datetime.now(UTC),
                    )
                )
        except sa.exc.IntegrityError:
            # Two deliveries raced past the update: the other one stored it.
            return False
        return True
