"""The UMAP layout of a dataset fitted in a worker thread (pure python, no streamlit).

UMAP takes seconds on a few thousand rows, but the first fit in a server process also compiles
numba's functions (~25-60 s on two cores); the map meanwhile shows ``datasets.pca_layout``, so the
first map of an upload appears at once and the UMAP layout replaces it when it is ready.
"""

from __future__ import annotations

import concurrent.futures
import threading
import time

import numpy as np

from . import datasets

FIRST_FIT_SECONDS = 60.0  # expected length of the first fit in a process (numba compiles); sets the progress bar
LATER_FIT_SECONDS = 8.0  # expected length of a later fit (compiled already)
_compiled = threading.Event()  # a fit has finished in this process: numba's functions are compiled


class LayoutJob:
    """One ``fit_umap_layout`` in a daemon thread; its ``Future`` keeps the layout or the exception."""

    def __init__(self, reference: np.ndarray, data: np.ndarray):
        self.started = time.perf_counter()
        self.expected_seconds = LATER_FIT_SECONDS if _compiled.is_set() else FIRST_FIT_SECONDS
        self.future: concurrent.futures.Future = concurrent.futures.Future()
        threading.Thread(target=self._work, args=(reference, data), daemon=True, name="umap-layout").start()

    def _work(self, reference: np.ndarray, data: np.ndarray) -> None:
        self.future.set_running_or_notify_cancel()
        try:
            layout = datasets.fit_umap_layout(reference, data)  # looked up at call time (tests replace it)
        except BaseException as err:  # noqa: BLE001 - kept by the future and raised by result() on the page
            self.future.set_exception(err)
        else:
            _compiled.set()
            self.future.set_result(layout)

    @property
    def done(self) -> bool:
        return self.future.done()

    def wait(self, timeout: float) -> bool:
        """Block until the fit has ended or ``timeout`` passed; True when it has ended."""
        concurrent.futures.wait([self.future], timeout)
        return self.future.done()

    def result(self) -> tuple[np.ndarray, np.ndarray, str]:
        """(reference layout, data layout, note); raises what the fit raised."""
        return self.future.result()

    @property
    def elapsed(self) -> float:
        return time.perf_counter() - self.started

    @property
    def fraction(self) -> float:
        """A progress estimate in [0, 0.99] from the elapsed time (UMAP reports no progress of its own)."""
        return min(0.99, self.elapsed / self.expected_seconds)
