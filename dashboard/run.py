"""What every page reads of a run, whether trained in this session or opened from a bundle.

A run is one fit of one dataset: its parameters, its snapshots (one map frame each) and, through
its ``MapProjector``, what the map draws of it. ``TrainingRun`` and ``LoadedRun`` add how the fit
came to be; the pages read only what is declared here.
"""

from __future__ import annotations

import enum

import numpy as np
import pandas as pd

from sparker_core import MultiScaleResult, Snapshot, TestResult

from .calibration_job import CalibrationJob, CalibrationStatus
from .controls import DEFAULT_PARAMS
from .datasets import Dataset
from .map_projector import MapProjector


class TrainingStatus(enum.StrEnum):
    """Where a run's fit stands (a ``str``, so it formats and compares as its value)."""

    TRAINING = "training"
    PAUSED = "paused"
    STOPPED = "stopped"  # ended before max_epochs, by Stop or by bad parameters
    TRAINED = "trained"
    LOADED = "loaded"  # a finished fit read from a bundle: nothing to train

    @property
    def busy(self) -> bool:
        """The fit can still advance (training or paused)."""
        return self in (TrainingStatus.TRAINING, TrainingStatus.PAUSED)


class Run:
    """The common reading of a run; subclasses set the status, the result and the fit's readers."""

    status: TrainingStatus
    result: TestResult | MultiScaleResult | None
    calibration_status: CalibrationStatus
    error: str  # the last calibration error, one line
    calibration_seed: int
    fit_seconds: float
    final_widths: list[float]  # the final widths fitted (several for a multi-scale fit; none recorded for a bundle)
    final_width: float | None  # the one the model shows now
    calibration: CalibrationJob | None = None  # the null toys computed in this session

    def __init__(self, run_id: int, dataset_name: str, params: dict, snapshots: list[Snapshot]):
        self.run_id = run_id
        self.dataset_name = dataset_name
        self.params = params
        self.snapshots = snapshots
        self.projector = MapProjector(self)

    # ------------------------------------------------------------------------ the fit's readers
    def explain(self) -> pd.DataFrame:
        """The kernels table of the current state (read it through ``projector.kernels()``)."""
        raise NotImplementedError

    def score_samples(self, dataset: Dataset, split: str) -> np.ndarray:
        """f(x) of every row of ``split`` (read it through ``projector.scores()``)."""
        raise NotImplementedError

    @property
    def amplitude_clip(self) -> float:
        """The bound on |a|: the map's colour scale."""
        raise NotImplementedError

    def poll_calibration(self) -> None:
        """Take over what a calibration worker handed over (nothing by default)."""

    # ------------------------------------------------------------------------ shown on every page
    @property
    def label(self) -> str:
        p = self.params
        text = f"run {self.run_id}: {p['n_kernels']} kernels, sigma {p['sigma_init']}->{p['sigma_final']}, seed {p['seed']}"
        if self.t is not None:
            text += f" (t = {self.t:.1f}"
            text += f", p = {self.result.pvalue:.3g})" if self.result is not None else ")"
        return text

    @property
    def t(self) -> float | None:
        return self.snapshots[-1].t if self.snapshots else None

    @property
    def max_epochs(self) -> int:
        return int(self.params.get("max_epochs", DEFAULT_PARAMS["max_epochs"]))

    def summary(self) -> dict:
        """One row of the runs table."""
        row = {"run": self.run_id, "dataset": self.dataset_name, "status": str(self.status),
               "epoch": self.snapshots[-1].epoch if self.snapshots else 0, "t": self.t}
        row.update({k: self.params.get(k) for k in DEFAULT_PARAMS})
        row["toys"] = self.result.n_toys if self.result is not None else 0
        row["p"] = self.result.pvalue if self.result is not None else None
        row["Z"] = self.result.zscore if self.result is not None else None
        return row
