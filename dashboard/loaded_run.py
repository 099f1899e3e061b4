"""A run opened from a result bundle: read-only, with the bundle's snapshots, kernels and null toys."""

from __future__ import annotations

import numpy as np
import pandas as pd

from sparker_core import ResultBundle, SparKer
from sparker_core.manifest import recorded_params

from .calibration_job import CalibrationStatus
from .controls import DEFAULT_PARAMS
from .datasets import Dataset
from .run import Run, TrainingStatus


class LoadedRun(Run):
    """A saved fit and its calibrated result: replay, significance, regions and export; no model."""

    status = TrainingStatus.LOADED
    calibration_status = CalibrationStatus.DONE
    error = ""
    calibration_seed = 0  # the bundle records its own; export zips the bundle as it is
    fit_seconds = 0.0
    final_widths: list[float] = []  # not recorded per width: the pages say nothing about widths
    final_width = None

    def __init__(self, run_id: int, bundle: ResultBundle, dataset_name: str):
        recorded = recorded_params(bundle.manifest)  # older bundles: the values before a parameter existed
        params = {k: recorded.get(k, v) for k, v in DEFAULT_PARAMS.items()}
        if "amplitude_clip" in recorded:  # the map's colour scale
            params["amplitude_clip"] = recorded["amplitude_clip"]
        super().__init__(run_id, dataset_name, params, list(bundle.history))
        self.bundle = bundle
        self.result = bundle.result

    def start_calibration(self, *args, **kwargs) -> None:
        raise ValueError("this run was opened from a bundle; its null toys are already in it.")

    def explain(self) -> pd.DataFrame:
        return self.bundle.kernels

    def score_samples(self, dataset: Dataset, split: str) -> np.ndarray:
        points = self.bundle.points
        return points.loc[points["split"] == split, "score"].to_numpy()

    @property
    def amplitude_clip(self) -> float:
        return float(self.params.get("amplitude_clip", SparKer().amplitude_clip))
