"""`POST /api/webhooks/apify`: Apify's run-finished notification.

Apify signs nothing: authenticity is a shared secret in a header or the `token` query parameter,
compared in constant time. The payload is not trusted either: the run's status is re-read from
the Apify API before the event is recorded. Delivery may repeat; the event is stored once.
"""

from __future__ import annotations

import hmac
import re
from typing import Annotated, Any

import sqlalchemy as sa
from fastapi import APIRouter, Depends, Header, HTTPException, Query
from pydantic import BaseModel, ConfigDict, Field

from viral_pipeline.api.deps import DbEngine
from viral_pipeline.api.responses import BODY_ERRORS, problem
from viral_pipeline.engine.inputs.text import LineText
from viral_pipeline.observability import get_logger, report_exception
from viral_pipeline.settings import Settings, get_settings
from viral_pipeline.sources.apify import ApifyClient, ApifyError
from viral_pipeline.store.webhook_events import record_webhook_event

router = APIRouter(prefix="/api/webhooks", tags=["webhooks"])
log = get_logger("viral_pipeline.api.webhooks")


# Apify's run, actor and user ids are alphanumeric (e.g. "GdWCkxBtKWOsKjdch"). The run id goes into
# the URL the API then calls with the Apify token, so nothing else is accepted.
_APIFY_ID = re.compile(r"[A-Za-z0-9]{1,64}")
ApifyId = Annotated[
    str,
    Field(pattern=f"^{_APIFY_ID.pattern}$", description="an Apify id: 1-64 letters and digits"),
]
# Apify's run statuses: READY, RUNNING, SUCCEEDED, FAILED, TIMING-OUT, TIMED-OUT, ABORTING...
_RUN_STATUS = re.compile(r"[A-Z][A-Z_-]{0,31}")
# A free-text field of the payload: stored or logged, so printable only.
PlainText = Annotated[LineText, Field(max_length=200)]


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


def _reread_run(settings: Settings, run_id: str) -> tuple[str, str | None]:
    """The run's status and dataset id as the Apify API reports them. They are stored and later
    put into Apify URLs, so an answer that is not a run's (an id outside Apify's alphabet, a
    status that is not a word) is refused like an unreachable API."""
    token = settings.apify_token.get_secret_value() if settings.apify_token else None
    with ApifyClient(
        api_url=settings.apify_api_url,
        token=token,
        actor_id=settings.apify_actor_id,
        timeout_s=settings.apify_timeout_s,
        max_retries=2,
    ) as client:
        run = client.get_run(run_id)
    status = run.get("status")
    if not isinstance(status, str) or not _RUN_STATUS.fullmatch(status):
        raise ApifyError("the run's status is not an Apify run status")
    dataset_id = run.get("defaultDatasetId")
    if dataset_id is not None and not (
        isinstance(dataset_id, str) and _APIFY_ID.fullmatch(dataset_id)
    ):
        raise ApifyError("the run's defaultDatasetId is not an Apify id")
    return status, dataset_id


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
        **BODY_ERRORS,
        401: problem("missing or wrong secret"),
        502: problem(
            "the Apify API could not be read (unreachable, refused the run, or its answer not a run)"
        ),
        503: problem("APIFY_WEBHOOK_SECRET not set, or the event could not be stored"),
    },
)
def apify_webhook(
    payload: ApifyWebhookPayload,
    engine: DbEngine,
    settings: Annotated[Settings, Depends(get_settings)],
) -> WebhookAccepted:
    run_id = payload.eventData.actorRunId
    try:
        status, dataset_id = _reread_run(settings, run_id)
    except Exception as error:
        # Whatever goes wrong re-reading the run (an ApifyError, whose message is redacted and
        # says what, or anything else, named by its kind only: a malformed URL setting, an
        # error httpx raises outside its HTTPError family) is Apify's side of the delivery: a
        # 5xx makes Apify deliver again later, which is what we want.
        reason = str(error) if isinstance(error, ApifyError) else type(error).__name__
        report_exception(error, apify_run_id=run_id, where="apify_webhook")
        raise HTTPException(502, f"could not re-read Apify run {run_id}: {reason}") from None
    try:
        new = record_webhook_event(
            engine,
            apify_run_id=run_id,
            dataset_id=dataset_id,
            event_type=payload.eventType,
            run_status=status,
        )
    except sa.exc.SQLAlchemyError as error:
        report_exception(error, apify_run_id=run_id, where="apify_webhook")
        raise HTTPException(503, "the event could not be stored; deliver it again") from None
    log.info("apify webhook recorded", apify_run_id=run_id, run_status=status, duplicate=not new)
    return WebhookAccepted(
        apify_run_id=run_id,
        run_status=status,
        duplicate=not new,
        will_ingest=new and status == "SUCCEEDED",
    )
