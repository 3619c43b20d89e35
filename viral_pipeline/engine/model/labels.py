"""The label: a video is viral when its plays are in the top decile of its posting window.

Plays grow with time and with how much the platform is pushing that week, so a video is compared
only with videos posted in the same window (a UTC day by default), never with all time.
"""

from __future__ import annotations

from datetime import date, timedelta

import numpy as np
import pandas as pd

_EPOCH = date(1970, 1, 1)


def window_key(posted_at: pd.Series, window_days: int = 1) -> pd.Series:
    """The posting window of each video: the ISO date (UTC) of the window's first day.

    Windows of `window_days` days are counted from 1970-01-01, so the same day always falls in
    the same window. Naive timestamps are taken as UTC.
    """
    if window_days < 1:
        raise ValueError(f"window_days must be at least 1, got {window_days}")
    posted = pd.to_datetime(posted_at, utc=True)
    if posted.isna().any():
        raise ValueError(
            "posted_at has missing timestamps: every video needs a posting time for its window"
        )
    day_numbers = (posted.dt.floor("D") - pd.Timestamp(_EPOCH, tz="UTC")).dt.days.to_numpy()
    starts = day_numbers - day_numbers % window_days
    keys = {int(n): (_EPOCH + timedelta(days=int(n))).isoformat() for n in np.unique(starts)}
    return pd.Series(
        [keys[int(n)] for n in starts], index=posted_at.index, dtype=object, name="window"
    )


def label_top_decile(
    plays: pd.Series, window: pd.Series, quantile: float = 0.9
) -> tuple[pd.Series, dict[str, float]]:
    """(viral labels 0/1 with plays' index, {window: threshold}).

    Viral means plays strictly above the `quantile` quantile (linear interpolation, as numpy's
    default) of plays among the videos of the same window; ties at the threshold are not viral.
    """
    if not 0 < quantile < 1:
        raise ValueError(f"quantile must be strictly between 0 and 1, got {quantile}")
    if not plays.index.equals(window.index):
        raise ValueError("plays and window must have the same index")
    values = pd.to_numeric(plays, errors="coerce").astype(float)
    if values.isna().any() or window.isna().any():
        raise ValueError("plays and window must not have missing values")
    keys = window.astype(str)
    thresholds = values.groupby(keys, sort=True).quantile(quantile)
    labels = (values > keys.map(thresholds)).astype(int).rename("viral")
    return labels, {str(k): float(v) for k, v in thresholds.items()}
