"""Serve the champion: resolve `models:/<name>@champion`, load each version once per process.

MLflow has no model cache, and a first load costs seconds: the loaded model is kept by
(name, version), and the alias is re-resolved (one registry query) so a promotion is picked
up without a restart.
"""

from __future__ import annotations

import threading

from viral_pipeline.ml.loaded import LoadedModel, NoChampionError
from viral_pipeline.ml.tracking import champion_version, client

__all__ = ["ChampionCache", "LoadedModel", "NoChampionError"]


class ChampionCache:
    def __init__(self, tracking_uri: str, model_name: str) -> None:
        self.tracking_uri = tracking_uri
        self.model_name = model_name
        self._loaded: dict[tuple[str, str], LoadedModel] = {}
        self._lock = threading.Lock()

    def get(self) -> LoadedModel:
        mlflow_client = client(self.tracking_uri)
        current = champion_version(mlflow_client, self.model_name)
        if current is None:
            raise NoChampionError(
                f"no version of {self.model_name!r} carries the champion alias yet"
            )
        key = (self.model_name, str(current.version))
        with self._lock:
            if key not in self._loaded:
                import mlflow.sklearn

                model = mlflow.sklearn.load_model(f"models:/{self.model_name}/{key[1]}")
                threshold = float(current.tags.get("decision_threshold", 0.5))
                self._loaded[key] = LoadedModel(self.model_name, key[1], model, threshold)
            return self._loaded[key]

    @property
    def cached_versions(self) -> list[str]:
        return [version for _, version in self._loaded]
