"""Baselines on the loaded data, run one after the other in a worker thread (pure python, no streamlit)."""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass, field

from sparker_core import (
    TestResult,
    classifier_two_sample_test,
    fixed_centers_np_test,
    knn_two_sample_test,
    mmd_permutation_test,
)

from .calibration_job import one_line

_LOGGER = logging.getLogger(__name__)

# name -> test(reference, data, n, seed) with n null toys / permutations
BASELINES = {
    "MMD, median bandwidth": lambda r, d, n, s: mmd_permutation_test(r, d, n_permutations=n, bandwidth="median", seed=s),
    "MMD, aggregated bandwidths": lambda r, d, n, s: mmd_permutation_test(r, d, n_permutations=n, bandwidth="aggregate", seed=s),
    "kNN (share of data neighbours)": lambda r, d, n, s: knn_two_sample_test(r, d, n_permutations=n, seed=s),
    # exact binomial test of the held-out accuracy: no refits per permutation (those cost n x folds fits)
    "classifier (C2ST, exact binomial)": lambda r, d, n, s: classifier_two_sample_test(r, d, seed=s),
    # 200 centres drawn from the data rows (the baseline's default), or every row of a smaller data set
    "fixed-centre kernel NPLM": lambda r, d, n, s: fixed_centers_np_test(r, d, n_centers=min(200, len(d)), n_toys=n, seed=s),
}


@dataclass
class Comparison:
    """Results of the baselines as they finish; ``stop`` ends it after the test in flight."""

    n_toys: int
    seed: int
    results: dict[str, TestResult] = field(default_factory=dict)
    seconds: dict[str, float] = field(default_factory=dict)
    errors: dict[str, str] = field(default_factory=dict)
    current: str = ""
    _stop: threading.Event = field(default_factory=threading.Event)
    _worker: threading.Thread | None = None

    def start(self, reference, data) -> None:
        self._worker = threading.Thread(target=self._run, args=(reference, data), daemon=True)
        self._worker.start()

    def _run(self, reference, data) -> None:
        for name, test in BASELINES.items():
            if self._stop.is_set():
                break
            self.current = name
            start = time.perf_counter()
            try:
                self.results[name] = test(reference, data, self.n_toys, self.seed)
            except (ValueError, TypeError, RuntimeError, MemoryError) as err:  # shown next to the method
                self.errors[name] = str(err)
            except Exception as err:  # noqa: BLE001 - a bug: shown as failed in its cell, traceback in the log
                _LOGGER.exception("baseline %r failed", name)
                self.errors[name] = f"failed: {one_line(err)} (traceback in the server log)"
            self.seconds[name] = time.perf_counter() - start
        self.current = ""

    @property
    def running(self) -> bool:
        return self._worker is not None and self._worker.is_alive()

    def stop(self) -> None:
        self._stop.set()

    def wait(self, timeout: float | None = None) -> None:
        if self._worker is not None:
            self._worker.join(timeout)
