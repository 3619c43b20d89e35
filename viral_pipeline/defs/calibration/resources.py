"""Which outcomes calibration fits on, how many it needs, and how far back the audit looks."""

from typing import Self

import dagster as dg

from viral_pipeline.defs.resources import setting
from viral_pipeline.settings import Settings


class CalibrationPolicy(dg.ConfigurableResource):
    """CALIBRATION_TIER, CALIBRATION_MIN_OUTCOMES and CALIBRATION_AUDIT_WINDOW_DAYS."""

    tier: str
    min_outcomes: int
    audit_window_days: int

    @classmethod
    def from_settings(cls, settings: Settings) -> Self:
        return cls(
            tier=setting(settings, "calibration_tier"),
            min_outcomes=settings.calibration_min_outcomes,
            audit_window_days=settings.calibration_audit_window_days,
        )
