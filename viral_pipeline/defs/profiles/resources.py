"""Resources of the profile scrapes: how many the profile_requests sensor launches per tick."""

from typing import Self

import dagster as dg

from viral_pipeline.settings import Settings


class ProfileSensorLimits(dg.ConfigurableResource):
    """How many profile scrapes the profile_requests sensor requests per tick."""

    max_runs_per_tick: int

    @classmethod
    def from_settings(cls, settings: Settings) -> Self:
        return cls(max_runs_per_tick=settings.profile_max_runs_per_tick)
