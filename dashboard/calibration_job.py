"""The null toys of one trained run: a worker thread computes them, the page thread takes them.

The worker only iterates the library's ``calibrate_iter`` and puts each partial result on a queue;
its ``Future`` keeps how it ended (its exception included). Everything a page reads (status,
result, error) belongs to the page thread and changes only in ``drain``, so a rerun never sees a
half-written job. Pause and Stop are events the worker checks between two batches.
"""

from __future__ import annotations

import concurrent.futures
import enum
import logging
import queue
import threading
import time
from collections.abc import Iterator

from sparker_core import MultiScaleResult, TestResult

_LOGGER = logging.getLogger(__name__)

CALIBRATION_BATCH = 8  # null toys trained together by the worker
# Bad arguments: shown as the library words them; any other exception is a bug, shown as "failed" and logged.
EXPECTED_ERRORS = (ValueError, TypeError)


class CalibrationStatus(enum.StrEnum):
    """Where a run's null toys stand (a ``str``, so it formats and compares as its value)."""

    NONE = "none"  # no toys: never started, or the arguments were refused
    RUNNING = "running"
    PAUSED = "paused"
    STOPPED = "stopped"  # by Stop or by an expected error; the finished toys stay
    DONE = "done"
    FAILED = "failed"  # a bug in the worker: shown on the page, traceback in the log

    @property
    def active(self) -> bool:
        """The worker still owes toys (running or paused)."""
        return self in (CalibrationStatus.RUNNING, CalibrationStatus.PAUSED)


def one_line(err: BaseException) -> str:
    """An unexpected exception as one line: its type and message."""
    text = " ".join(str(err).split())
    return f"{type(err).__name__}: {text}" if text else type(err).__name__


class CalibrationJob:
    """One calibration: the worker's future and queue, and the page's view of them."""

    def __init__(self, n_toys: int, seed: int, name: str):
        self.n_toys_requested = int(n_toys)
        self.seed = int(seed)  # recorded in an exported bundle so that verify can rerun the toys
        self.status = CalibrationStatus.RUNNING
        self.result: TestResult | MultiScaleResult | None = None  # the latest result drained
        self.error = ""
        self.future: concurrent.futures.Future = concurrent.futures.Future()
        self._name = name  # names the job in the log
        self._results: queue.Queue = queue.Queue()
        self._stop, self._resume = threading.Event(), threading.Event()
        self._resume.set()
        self._finished = False  # the future's outcome has been taken over by the page
        self.started = time.perf_counter()
        self.seconds: float | None = None  # wall time from start to the worker's end, set when drained

    @classmethod
    def start(cls, iterator: Iterator, n_toys: int, seed: int, name: str) -> CalibrationJob:
        """Run ``iterator`` (the library's ``calibrate_iter``) in a daemon thread: a server that
        shuts down does not wait for the toys."""
        job = cls(n_toys, seed, name)
        threading.Thread(target=job._work, args=(iterator,), daemon=True, name=f"toys-{name}").start()
        return job

    def _work(self, iterator: Iterator) -> None:
        """The worker: puts results on the queue, and its outcome in the future (nothing else)."""
        if not self.future.set_running_or_notify_cancel():
            return
        try:
            try:
                for result in iterator:
                    self._resume.wait()
                    if self._stop.is_set():
                        break
                    self._results.put(result)
                    self._resume.wait()  # a paused job starts no new batch
                    if self._stop.is_set():
                        break
            finally:
                iterator.close()
        except BaseException as err:  # noqa: BLE001 - kept by the future, as an executor's work item does
            self._ended = time.perf_counter()
            self.future.set_exception(err)
        else:
            self._ended = time.perf_counter()
            self.future.set_result(None)

    # ------------------------------------------------------------------------ the page thread
    def drain(self) -> bool:
        """Take over what the worker handed over; True when this call saw the job end.

        Results drained after Stop are dropped (the batch in flight when Stop was pressed). Bad
        arguments (the library's ``ValueError``, raised by the first batch) leave ``error`` set and
        status "none", or "stopped" with the finished toys; any other exception is logged with its
        traceback and shows as "failed"."""
        done = self.future.done()  # read first: the worker queues every result before it completes
        while True:
            try:
                result = self._results.get_nowait()
            except queue.Empty:
                break
            if self.status.active:
                self.result = result
        if not done or self._finished:
            return False
        self._finished = True
        self.seconds = self._ended - self.started
        error = self.future.exception()
        if error is None:
            if self.status.active:
                self.status = CalibrationStatus.DONE
        elif isinstance(error, EXPECTED_ERRORS):
            self.error = " ".join(str(error).split())
            self.status = CalibrationStatus.STOPPED if self.result is not None else CalibrationStatus.NONE
        else:
            _LOGGER.error("null toys of %s failed", self._name, exc_info=error)
            self.error = f"The null toys failed: {one_line(error)} (traceback in the server log)."
            self.status = CalibrationStatus.FAILED
        return True

    def pause(self) -> None:
        if self.status is CalibrationStatus.RUNNING:
            self.status = CalibrationStatus.PAUSED
            self._resume.clear()

    def resume(self) -> None:
        if self.status is CalibrationStatus.PAUSED:
            self.status = CalibrationStatus.RUNNING
            self._resume.set()

    def stop(self) -> None:
        """End the toys now: those finished before the press are kept, the batch in flight is dropped."""
        self.drain()
        if self.status.active:
            self.status = CalibrationStatus.STOPPED
            self._stop.set()
            self._resume.set()

    @property
    def running(self) -> bool:
        """The worker has not ended (a stopped job may still finish its batch in flight)."""
        return not self.future.done()

    def wait(self, timeout: float | None = None) -> None:
        """Block until the worker has ended or ``timeout`` passed (tests and scripts); drains nothing."""
        concurrent.futures.wait([self.future], timeout)
