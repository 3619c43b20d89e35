"""What the fits on outcomes share (Platt parameters, learned signal weights): a candidate asset
that fits and measures, a blocking check that judges it, and a publisher that applies the same
rule again, so a run that selects only the publisher cannot publish a failing fit."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Protocol

import dagster as dg

from viral_pipeline.observability import get_logger

log = get_logger(__name__)


class GatedVerdict(Protocol):
    @property
    def reasons(self) -> list[str]: ...


class GatedCandidate(Protocol):
    @property
    def reason(self) -> str: ...

    @property
    def mlflow_run_id(self) -> str | None: ...

    def verdict(self) -> GatedVerdict | None: ...

    def servable(self) -> bool: ...


def check_result(
    candidate: GatedCandidate,
    check_name: str,
    *,
    nothing_fitted: dict[str, Any],
    figures: Callable[[], dict[str, Any]],
    tag: Callable[[str, bool], None],
) -> dg.AssetCheckResult:
    """The blocking check's result: passed with `nothing_fitted` as metadata when there is no fit;
    otherwise the candidate's verdict, tagged on its MLflow run (`tag(run_id, passed)`), with
    `figures()` as metadata."""
    verdict = candidate.verdict()
    if verdict is None:
        return dg.AssetCheckResult(
            passed=True,
            description=f"nothing fitted: {candidate.reason}",
            metadata={"fitted": False, **nothing_fitted},
        )
    passed = candidate.servable()
    if candidate.mlflow_run_id:
        tag(candidate.mlflow_run_id, passed)
    reasons = verdict.reasons if verdict.reasons else ([] if passed else [candidate.reason])
    metadata = figures()
    log.info(f"{check_name} evaluated", passed=passed, reasons=reasons, **metadata)
    return dg.AssetCheckResult(
        passed=passed,
        severity=dg.AssetCheckSeverity.ERROR,
        description="passed" if passed else "failed: " + "; ".join(reasons),
        metadata={"fitted": True, **metadata},
    )


def publish_decision(
    candidate: GatedCandidate,
    check_name: str,
    *,
    version: str | None,
    stored: Callable[[str], bool],
    save: Callable[[], None],
    keeps_serving: str,
) -> tuple[bool, str]:
    """(published, reason): `save()` runs only for a servable candidate whose `version` is not
    `stored` yet; `keeps_serving` names what serves otherwise."""
    verdict = candidate.verdict()
    if candidate.servable() and version is not None and not stored(version):
        save()
        return True, f"version {version} passed {check_name} and serves"
    if verdict is None:
        return False, candidate.reason
    if candidate.servable():
        return False, "this version is already stored"
    why = "; ".join(verdict.reasons) or candidate.reason
    return False, f"the fit failed {check_name} ({why}); {keeps_serving}"


def fitted_output(
    candidate: GatedCandidate,
    *,
    version: str,
    model_version: str | None,
    tier: str,
    min_outcomes: int,
    figures: dict[str, Any],
    diagram: str,
    started: float,
) -> dg.Output:
    """The candidate asset's output for a fit: its figures, version, MLflow run and diagram."""
    from viral_pipeline.observability import elapsed_ms

    return dg.Output(
        candidate,
        metadata={
            "fitted": True,
            "version": version,
            "model_version": model_version or "none",
            "evaluation_tier": tier,
            "min_outcomes": min_outcomes,
            **figures,
            "reason": candidate.reason,
            "mlflow_run_id": candidate.mlflow_run_id,
            "reliability_diagram": dg.MetadataValue.url(diagram)
            if "://" in diagram
            else dg.MetadataValue.path(diagram),
            "duration_ms": elapsed_ms(started),
        },
    )
