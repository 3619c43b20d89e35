"""Run slots and lanes: the run tags that the run queue's limits match (dagster.yaml,
`concurrency: runs: tag_concurrency_limits`).

Dagster gives a run no tag naming its job, so a limit has to match a tag the job sets itself.
Every job but `predict` runs in the background lane, which dagster.yaml caps at
`max_concurrent_runs - PREDICTION_SLOTS_KEPT`: however many profile scrapes, scrapes or scheduled
jobs are queued, predictions (which callers wait on) always find that many slots free. Within the
lane, some jobs also take a run slot of their kind with its own, smaller limit.
"""

from enum import StrEnum

RUN_SLOT_TAG = "viral_pipeline/run_slot"
RUN_LANE_TAG = "viral_pipeline/run_lane"

# The slots of the run queue's 4 that background runs can never take (dagster.yaml's lane limit).
PREDICTION_SLOTS_KEPT = 2


class RunLane(StrEnum):
    # Everything a caller does not wait on: scrapes, profile scrapes, training, outcomes, costs.
    BACKGROUND = "background"


class RunSlot(StrEnum):
    # One at a time: two scrapes of one partition would race on the same rows.
    SCRAPE = "scrape"
    # A burst of profile requests must not hold the whole background lane.
    PROFILE_SCRAPE = "profile_scrape"


def background_run_tags(slot: RunSlot | None = None) -> dict[str, str]:
    """The run tags of a job that runs behind predictions: the background lane, and `slot` if the
    job's kind has a limit of its own."""
    tags = {RUN_LANE_TAG: RunLane.BACKGROUND.value}
    if slot is not None:
        tags[RUN_SLOT_TAG] = slot.value
    return tags
