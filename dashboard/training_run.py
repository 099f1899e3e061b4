"""A run trained in this session: its fit advanced in small chunks, paused, stopped; its null toys.

Pure python over the public ``sparker_core`` API (no streamlit), so every state change is testable.
The Train page calls ``advance_training`` from a fragment that reruns a few times a second, so Stop
and Pause take effect between two chunks. The null toys are a ``CalibrationJob`` the run starts and
drains; training and calibration each have their own status and their own pause and stop.
"""

from __future__ import annotations

import time

import numpy as np
import pandas as pd

from sparker_core import MultiScaleResult, SparKer, TestResult, calibrate_iter
from sparker_core import RayExecutor

from .calibration_job import CALIBRATION_BATCH, CalibrationJob, CalibrationStatus
from .datasets import Dataset
from .run import Run, TrainingStatus

SNAPSHOT_EVERY = 5  # epochs between snapshots (one map frame each)
CHUNK_SECONDS = 0.25  # compute per UI tick before the page is redrawn


class TrainingRun(Run):
    """One ``SparKer`` fit of one dataset, with its snapshots and its calibration job."""

    def __init__(self, run_id: int, dataset: Dataset, params: dict):
        """A new run; the parameters are validated by the first chunk (``SparKer.fit_iter``)."""
        super().__init__(run_id, dataset.name, dict(params), [])
        self.model = SparKer(**params)
        self.status = TrainingStatus.TRAINING
        self.fit_seconds = 0.0
        self.calibration: CalibrationJob | None = None
        self._fit_iter = self.model.fit_iter(dataset.reference, dataset.data, every=SNAPSHOT_EVERY)

    # ------------------------------------------------------------------------ training
    @property
    def training(self) -> bool:
        return self.status is TrainingStatus.TRAINING

    def advance_training(self, budget: float = CHUNK_SECONDS, max_snapshots: int = 1) -> int:
        """Pull up to ``max_snapshots`` snapshots (stopping after ``budget`` seconds); returns how many.

        Bad parameters raise ``ValueError`` from the first call and leave the run "stopped"."""
        if self.status is not TrainingStatus.TRAINING:
            return 0
        start, pulled = time.perf_counter(), 0
        try:
            while pulled < max_snapshots and time.perf_counter() - start < budget:
                self.snapshots.append(next(self._fit_iter))
                pulled += 1
        except StopIteration:
            self.status, self._fit_iter = TrainingStatus.TRAINED, None
        except ValueError:
            self.status, self._fit_iter = TrainingStatus.STOPPED, None
            raise
        finally:
            self.fit_seconds += time.perf_counter() - start
        return pulled

    def pause(self) -> None:
        if self.status is TrainingStatus.TRAINING:
            self.status = TrainingStatus.PAUSED

    def resume(self) -> None:
        if self.status is TrainingStatus.PAUSED:
            self.status = TrainingStatus.TRAINING

    def stop(self) -> None:
        """End training; the model keeps its last snapshot."""
        if not self.status.busy:
            return
        if self._fit_iter is not None:
            self._fit_iter.close()
        self._fit_iter = None
        finished = self.snapshots and self.snapshots[-1].epoch >= self.max_epochs
        self.status = TrainingStatus.TRAINED if finished else TrainingStatus.STOPPED

    # ------------------------------------------------------------------------ significance
    def start_calibration(self, n_toys: int, method: str = "permutation", seed: int = 0,
                          batch: int = CALIBRATION_BATCH, ray_address: str | None = None) -> None:
        """Begin the null toys in a worker, ``batch`` toys at a time; the pages see them once drained
        (``poll_calibration``). Bad arguments (the library's ``ValueError``, raised by the first
        batch) end the job at once with ``error`` set and no result. ``ray_address`` (a string, empty
        for RAY_ADDRESS or a local cluster) runs the toys on Ray; it is joined here, so a bad
        address raises ``ValueError`` at once."""
        if self.status is not TrainingStatus.TRAINED:
            raise ValueError(f"calibration needs a fit trained to completion; this run is {self.status}.")
        self.poll_calibration()
        if self.calibration is not None and self.calibration.status.active:
            raise ValueError("null toys are already running for this run; stop them first.")
        executor = "local"
        if ray_address is not None:
            executor = RayExecutor(address=ray_address.strip() or None)
            executor.connect()
        # The library's plain-data calibration: the worker never touches the model, which the page reads
        # (the page shows the width that detected once it drains the result, in poll_calibration).
        iterator = calibrate_iter(self.model.problem_, self.model.fit_state_, n_toys=n_toys, method=method, batch=batch,
                                  seed=seed, scale=self.model.scale_, executor=executor)
        self.calibration = CalibrationJob.start(iterator, n_toys, seed, f"run {self.run_id}")

    def poll_calibration(self) -> None:
        """Drain the calibration job; after a completed multi-scale calibration the model shows the
        width that detected, and the replay, map and regions follow it."""
        job = self.calibration
        if job is not None and job.drain() and job.status is CalibrationStatus.DONE:
            if isinstance(job.result, MultiScaleResult):
                self.model.show_scale(job.result.scale)  # the width that detected
            if self.snapshots and self.snapshots[-1] is not self.model.history_[-1]:
                self.snapshots = list(self.model.history_)

    def wait_calibration(self, timeout: float | None = None) -> None:
        """Block until the worker has ended (or ``timeout``), then drain it (tests and scripts)."""
        if self.calibration is not None:
            self.calibration.wait(timeout)
            self.poll_calibration()

    @property
    def calibrating(self) -> bool:
        """The worker has not ended (a stopped job may still finish its batch in flight)."""
        return self.calibration is not None and self.calibration.running

    @property
    def calibration_status(self) -> CalibrationStatus:
        return self.calibration.status if self.calibration is not None else CalibrationStatus.NONE

    @property
    def result(self) -> TestResult | MultiScaleResult | None:
        return self.calibration.result if self.calibration is not None else None

    @property
    def error(self) -> str:
        return self.calibration.error if self.calibration is not None else ""

    @property
    def calibration_seed(self) -> int:
        return self.calibration.seed if self.calibration is not None else 0

    # ------------------------------------------------------------------------ reading the fit
    def explain(self) -> pd.DataFrame:
        return self.model.explain()

    def score_samples(self, dataset: Dataset, split: str) -> np.ndarray:
        return self.model.score_samples(dataset.data if split == "data" else dataset.reference)

    @property
    def amplitude_clip(self) -> float:
        return float(self.model.amplitude_clip)

    @property
    def final_widths(self) -> list[float]:
        """The final widths fitted (several for a multi-scale fit)."""
        return list(self.model.sigma_finals_)

    @property
    def final_width(self) -> float:
        """The final width the model shows now."""
        return float(self.model.sigma_final_)
