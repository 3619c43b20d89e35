"""The bundled simulated set as model features and labels, with every feature group (the creator
history and the content group's recent hashtag uses included), as the ml_model asset builds them:
what the scorer tests, the what-if tests and bench/what_if.py train their champions on."""

from __future__ import annotations

import pandas as pd

from viral_pipeline.engine.model.features import build_features
from viral_pipeline.engine.model.labels import label_top_decile, window_key
from viral_pipeline.ml.dataset import with_content_uses, with_creator_history
from viral_pipeline.ml.fallback import load_fallback_frame


def bundled_features() -> tuple[pd.DataFrame, pd.DataFrame, pd.Series]:
    """(raw columns with every group, features, top-decile labels of the whole set)."""
    raw = load_fallback_frame()
    windows = window_key(raw["posted_at"])
    raw = with_content_uses(
        with_creator_history(raw, label_top_decile(raw["play_count"], windows)[0], 1)
    )
    y = (raw["play_count"] > raw["play_count"].quantile(0.9)).astype(int)
    return raw, build_features(raw), y
