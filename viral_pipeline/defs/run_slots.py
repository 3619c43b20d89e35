"""Run slots: the run tag that the run queue's per-kind limits match (dagster.yaml,
`concurrency: runs: tag_concurrency_limits`).

Dagster gives a run no tag naming its job, so a limit has to match a tag the job sets itself:
each limited job carries `RUN_SLOT_TAG` with its slot, and dagster.yaml says how many runs of
that slot may be in progress at once.
"""

from enum import StrEnum

RUN_SLOT_TAG = "viral_pipeline/run_slot"


class RunSlot(StrEnum):
    # One at a time: two scrapes of one partition would race on the same rows.
    SCRAPE = "scrape"
    # A burst of profile requests must leave slots to predictions, which callers wait on.
    PROFILE_SCRAPE = "profile_scrape"


def run_slot_tags(slot: RunSlot) -> dict[str, str]:
    """The run tags that put a job's runs in `slot`."""
    return {RUN_SLOT_TAG: slot.value}
