"""`POST /api/webhooks/apify`: Apify's run-finished notification.

Apify signs nothing: authenticity is a shared secret in a header or the `token` query parameter,
compared in constant time. The payload is not trusted either: the run's status is re-read from
the Apify API before the event is recorded. Delivery may repeat; the event is stored once.
"""

from __future__ import annotations

import hmac
import re
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Header, HTTPException, Query
from pydantic import AfterValidator, BaseModel, ConfigDict, Field

from viral_pipeline.api.deps import DbEngine
from viral_pipeline.observability import get_logger, report_exception
from viral_pipeline.settings import Settings, get_settings
from viral_pipeline.sources.apify import ApifyClient, ApifyError
from viral_pipeline.store.webhook_events import record_webhook_event

router = APIRouter(prefix="/api/webhooks", tags=["webhooks"])
log = get_logger("viral_pipeline.api.webhooks")


# Apify's run, actor and user ids are alphanumeric (e.g. "GdWCkxBtKWOsKjdch"). The run id goes into
# the URL the API then calls with the Apify token, so nothing else is accepted.
ApifyId = Annotated[
    str,
    Field(pattern=r"^[A-Za-z0-9]{1,64}$", description="an Apify id: 1-64 letters and digits"),
]
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")


def _no_control_characters(value: str) -> str:
    if _CONTROL.search(value):
        raise ValueError("control characters are not allowed")
    return value


# A free-text field of the payload: stored or logged, so printable only.
PlainText = Annotated[str, Field(max_length=200), AfterValidator(_no_control_characters)]


class ApifyEventData(BaseModel):
    model_config = ConfigDict(extra="ignore")
    actorId: PlainText | None = None
    actorRunId: ApifyId


class ApifyWebhookPayload(BaseModel):
    model_config = ConfigDict(extra="ignore")
    userId: PlainText | None = None
    createdAt: PlainText | None = None
    # Apify's event types: ACTOR.RUN.SUCCEEDED, ACTOR.RUN.FAILED, TEST...
    eventType: str = Field(
        pattern=r"^[A-Za-z0-9._-]{1,64}$", description="e.g. ACTOR.RUN.SUCCEEDED"
    )
    eventData: ApifyEventData
    resource: dict[str, Any] | None = None


class WebhookAccepted(BaseModel):
    apify_run_id: str
    run_status: str
    duplicate: bool
    will_ingest: bool


def require_webhook_secret(
    settings: Annotated[Settings, Depends(get_settings)],
    x_webhook_secret: Annotated[str | None, Header()] = None,
    token: Annotated[str | None, Query()] = None,
) -> None:
    if settings.apify_webhook_secret is None:
        raise HTTPException(503, "webhook disabled: APIFY_WEBHOOK_SECRET is not configured")
    offered = x_webhook_secret or token or ""
    expected = settings.apify_webhook_secret.get_secret_value()
    if not hmac.compare_digest(offered.encode(), expected.encode()):
        log.warning("webhook rejected", reason="missing or wrong secret")
        raise HTTPException(
            401, "missing or wrong webhook secret (X-Webhook-Secret header or token query)"
        )


@router.post(
    "/apify",
    response_model=WebhookAccepted,
    dependencies=[Depends(require_webhook_secret)],
    summary="Apify run-finished notification",
    responses={
        401: {"description": "missing or wrong secret"},
        422: {"description": "invalid payload (an id that is not 1-64 letters and digits...)"},
        502: {"description": "Apify API unreachable"},
    },
)
def apify_webhook(
    payload: ApifyWebhookPayload,
    engine: DbEngine,
    settings: Annotated[Settings, Depends(get_settings)],
) -> WebhookAccepted:
    run_id = payload.eventData.actorRunId
    token = settings.apify_token.get_secret_value() if settings.apify_token else None
    try:
        with ApifyClient(
            api_url=settings.apify_api_url,
            token=token,
            actor_id=settings.apify_actor_id,
            timeout_s=settings.apify_timeout_s,
            max_retries=2,
        ) as client:
            run = client.get_run(run_id)
    except ApifyError as error:
        report_exception(error, apify_run_id=run_id, where="apify_webhook")
        # A 5xx makes Apify deliver again later, which is what we want.
        raise HTTPException(502, f"could not re-read Apify run {run_id}: {error}") from None
    status = str(run.get("status", "UNKNOWN"))
    new = record_webhook_event(
        engine,
        apify_run_id=run_id,
        dataset_id=run.get("defaultDatasetId"),
        event_type=payload.eventType,
        run_status=status,
    )
    log.info("apify webhook recorded", apify_run_id=run_id, run_status=status, duplicate=not new)
    return WebhookAccepted(
        apify_run_id=run_id,
        run_status=status,
        duplicate=not new,
        will_ingest=new and status == "SUCCEEDED",
    )
