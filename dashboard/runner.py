"""A training run as the dashboard drives it: advanced in small chunks, paused, stopped, replayed.

Pure python over the public ``sparker_core`` API (no streamlit), so every state change is testable.
A ``Run`` owns one ``SparKer`` model and the generators of its fit and of its calibration; the UI
calls ``advance_training`` / ``advance_calibration`` from a fragment that reruns a few times a
second, so Stop and Pause take effect between two chunks.
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from sparker_core import MultiScaleResult, ResultBundle, Snapshot, SparKer, TestResult

from .components.layout import LayoutIndex, scattered_kernels
from .datasets import Dataset

_LOGGER = logging.getLogger(__name__)

# Defaults of the training controls: the library's own defaults, read from the estimator.
CONTROLLED_PARAMS = ("n_kernels", "sparsity", "temperature", "sigma_init", "sigma_final", "schedule", "max_epochs",
                     "learning_rate", "init", "seed")
DEFAULT_PARAMS = {name: SparKer().get_params()[name] for name in CONTROLLED_PARAMS}
SNAPSHOT_EVERY = 5  # epochs between snapshots (one map frame each)
CHUNK_SECONDS = 0.25  # compute per UI tick before the page is redrawn
CALIBRATION_BATCH = 8  # null toys trained together by the calibration worker


@dataclass
class Run:
    """One fit of one dataset, with its snapshots, explanation and calibration."""

    run_id: int
    dataset_name: str
    params: dict
    model: SparKer | None = None  # None for a run opened from a bundle
    snapshots: list[Snapshot] = field(default_factory=list)
    status: str = "training"  # training, paused, stopped, trained, loaded
    calibration_status: str = "none"  # none, running, paused, stopped, done, failed
    result: TestResult | MultiScaleResult | None = None
    n_toys_requested: int = 0
    calibration_seed: int = 0  # seed of the null toys, recorded in an exported bundle so that verify can rerun them
    fit_seconds: float = 0.0
    error: str = ""
    bundle: ResultBundle | None = None
    _fit_iter: object = None
    _worker: threading.Thread | None = None
    _stop_event: threading.Event | None = None
    _resume_event: threading.Event | None = None
    _kernels: pd.DataFrame | None = None
    _center_xy: dict = field(default_factory=dict)  # snapshot index -> (M, 2)
    _layout_index: tuple | None = None  # (dataset fingerprint, LayoutIndex) for placing centres
    _scores: dict = field(default_factory=dict)  # (split, n_snapshots, status) -> (n,)

    # ------------------------------------------------------------------------ training
    @classmethod
    def start(cls, run_id: int, dataset: Dataset, params: dict) -> Run:
        """A new run; the parameters are validated by the first chunk (``SparKer.fit_iter``)."""
        model = SparKer(**params)
        run = cls(run_id, dataset.name, dict(params), model)
        run._fit_iter = model.fit_iter(dataset.reference, dataset.data, every=SNAPSHOT_EVERY)
        return run

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

    @property
    def training(self) -> bool:
        return self.status == "training"

    def advance_training(self, budget: float = CHUNK_SECONDS, max_snapshots: int = 1) -> int:
        """Pull up to ``max_snapshots`` snapshots (stopping after ``budget`` seconds); returns how many.

        Bad parameters raise ``ValueError`` from the first call and leave the run "stopped"."""
        if self.status != "training":
            return 0
        start, pulled = time.perf_counter(), 0
        try:
            while pulled < max_snapshots and time.perf_counter() - start < budget:
                self.snapshots.append(next(self._fit_iter))
                pulled += 1
        except StopIteration:
            self.status = "trained"
            self._fit_iter = None
        except ValueError:
            self.status, self._fit_iter = "stopped", None
            raise
        finally:
            self.fit_seconds += time.perf_counter() - start
            self._kernels = None
        return pulled

    def pause(self) -> None:
        if self.status == "training":
            self.status = "paused"
        elif self.calibration_status == "running":
            self.calibration_status = "paused"
            self._resume_event.clear()

    def resume(self) -> None:
        if self.status == "paused":
            self.status = "training"
        elif self.calibration_status == "paused":
            self.calibration_status = "running"
            self._resume_event.set()

    def stop(self) -> None:
        """End training (the model keeps its last snapshot) or calibration (the finished toys stay)."""
        if self.status in ("training", "paused"):
            if self._fit_iter is not None:
                self._fit_iter.close()
            self._fit_iter = None
            self.status = "trained" if self.snapshots and self.snapshots[-1].epoch >= self.max_epochs else "stopped"
            self._kernels = None
        elif self.calibration_status in ("running", "paused"):
            self.calibration_status = "stopped"  # the result keeps the toys finished so far
            self._stop_event.set()
            self._resume_event.set()

    # ------------------------------------------------------------------------ significance
    def start_calibration(self, n_toys: int, method: str = "permutation", seed: int = 0,
                          batch: int = CALIBRATION_BATCH) -> None:
        """Begin the null toys in a worker thread, ``batch`` toys at a time.

        The page polls ``result``. Bad arguments (the library's ``ValueError``, raised by the first
        step) end the worker at once with ``error`` set and nothing else changed. Pause and Stop take
        effect at once in the UI and in the worker between two batches (a batch in flight when Stop
        is pressed is discarded; the finished toys are kept)."""
        if self.model is None:
            raise ValueError("this run was opened from a bundle; its null toys are already in it.")
        if self.status != "trained":
            raise ValueError(f"calibration needs a fit trained to completion; this run is {self.status}.")
        if self.calibration_status in ("running", "paused"):
            raise ValueError("null toys are already running for this run; stop them first.")
        iterator = self.model.calibrate_iter(n_toys=n_toys, method=method, batch=batch, seed=seed)
        self.result, self.n_toys_requested, self.error = None, int(n_toys), ""
        self.calibration_seed = int(seed)
        self.calibration_status = "running"
        self._stop_event, self._resume_event = threading.Event(), threading.Event()
        self._resume_event.set()
        self._worker = threading.Thread(target=self._calibrate, args=(iterator,), daemon=True)
        self._worker.start()

    def _calibrate(self, iterator) -> None:
        try:
            for result in iterator:
                self._resume_event.wait()
                if self._stop_event.is_set():
                    break
                self.result = result
                self._resume_event.wait()
                if self._stop_event.is_set():
                    break
        except (ValueError, TypeError, RuntimeError, MemoryError) as err:  # shown on the page; finished toys stay
            self.error = str(err)
            self.calibration_status = "stopped" if self.result is not None else "none"
        except Exception as err:  # noqa: BLE001 - a bug: the run shows "failed" and the log has the traceback
            _LOGGER.exception("null toys of run %d failed", self.run_id)
            self.error = f"The null toys failed: {one_line(err)} (traceback in the server log)."
            self.calibration_status = "failed"
        finally:
            iterator.close()
            if self.calibration_status == "running":
                self.follow_scale()
                self.calibration_status = "done"

    def follow_scale(self) -> None:
        """Show the model's current scale: after a completed multi-scale calibration the model shows
        the width that detected, and the replay, map and regions follow it."""
        if self.model is not None and self.snapshots and self.snapshots[-1] is not self.model.history_[-1]:
            self.snapshots = list(self.model.history_)
            self._kernels, self._scores, self._center_xy = None, {}, {}

    @property
    def calibrating(self) -> bool:
        """The worker thread is alive (a stopped run may still finish its batch in flight)."""
        return self._worker is not None and self._worker.is_alive()

    def wait_calibration(self, timeout: float | None = None) -> None:
        """Block until the worker has finished (tests and scripts)."""
        if self._worker is not None:
            self._worker.join(timeout)

    # ------------------------------------------------------------------------ reading the fit
    def kernels(self) -> pd.DataFrame:
        """``SparKer.explain()`` of the current state (cached until the next snapshot)."""
        if self._kernels is None:
            if self.bundle is not None:
                self._kernels = self.bundle.kernels
            else:
                self._kernels = self.model.explain()
        return self._kernels

    def scores(self, dataset: Dataset, split: str = "data") -> np.ndarray:
        """f(x) of every row of ``split`` ("data" or "reference"), cached per fit state."""
        key = (split, len(self.snapshots), self.status)
        if key not in self._scores:
            if self.bundle is not None:
                points = self.bundle.points
                self._scores[key] = points.loc[points["split"] == split, "score"].to_numpy()
            else:
                self._scores[key] = self.model.score_samples(dataset.data if split == "data" else dataset.reference)
        return self._scores[key]

    def center_layout(self, index: int, dataset: Dataset) -> np.ndarray:
        """Map positions of the kernel centres at snapshot ``index`` (interpolated, cached)."""
        if index not in self._center_xy:
            if self._layout_index is None or self._layout_index[0] != dataset.fingerprint:
                anchors = np.concatenate([dataset.reference, dataset.data])
                anchor_xy = np.concatenate([dataset.layout_reference, dataset.layout_data])
                self._layout_index = (dataset.fingerprint, LayoutIndex(anchors, anchor_xy))
            self._center_xy[index] = self._layout_index[1].place(self.snapshots[index].centers)
        return self._center_xy[index]

    def scattered(self, dataset: Dataset) -> np.ndarray:
        """Per kernel (in ``kernels()`` order): members scattered on the 2-D map."""
        table = self.kernels()
        members = [np.asarray(m, dtype=int) for m in table["members_data"]]
        return scattered_kernels([dataset.layout_data[m] for m in members], dataset.layout_data)

    def summary(self) -> dict:
        """One row of the runs table."""
        row = {"run": self.run_id, "dataset": self.dataset_name, "status": self.status,
               "epoch": self.snapshots[-1].epoch if self.snapshots else 0, "t": self.t}
        row.update({k: self.params.get(k) for k in DEFAULT_PARAMS})
        row["toys"] = self.result.n_toys if self.result is not None else 0
        row["p"] = self.result.pvalue if self.result is not None else None
        row["Z"] = self.result.zscore if self.result is not None else None
        return row


def one_line(err: BaseException) -> str:
    """An unexpected exception as one line: its type and message."""
    text = " ".join(str(err).split())
    return f"{type(err).__name__}: {text}" if text else type(err).__name__


def from_bundle(run_id: int, bundle: ResultBundle, dataset_name: str) -> Run:
    """A read-only run holding a saved result: replay, significance and regions, no model."""
    # bundles written before init="excess" existed were fitted from random data rows
    recorded = {"init": "random", **bundle.manifest["params"]}
    params = {k: recorded.get(k, v) for k, v in DEFAULT_PARAMS.items()}
    if "amplitude_clip" in recorded:  # the map's colour scale
        params["amplitude_clip"] = recorded["amplitude_clip"]
    run = Run(run_id, dataset_name, params, None, list(bundle.history), status="loaded", calibration_status="done",
              result=bundle.result, n_toys_requested=bundle.result.n_toys_requested, bundle=bundle)
    return run
