"""Which outcomes calibration fits on, how many it needs, and how far back the audit looks."""

import dagster as dg

from viral_pipeline.engine.calibration.outcomes import EvaluationTier


class CalibrationPolicy(dg.ConfigurableResource):
    """CALIBRATION_TIER, CALIBRATION_MIN_OUTCOMES and CALIBRATION_AUDIT_WINDOW_DAYS."""

    tier: str = EvaluationTier.DAYS_7.value
    min_outcomes: int = 50
    audit_window_days: int = 30
