"""Torch threads chosen from the machine's load, so that a busy machine slows a run in proportion.

With torch's default threads, OpenMP threads that wait spin; on cores another process keeps busy
they spin against it and a complete test runs several times slower than its idle time (measured by
benchmarks/bench_load.py). One thread does not spin but halves the speed of an idle machine. So
the number of threads is chosen from the cores that other processes leave free, measured over
the last stretch of work (Linux: /proc/stat for the CPUs this process may run on, minus this
process's own CPU time; elsewhere the 1-minute load average), and re-chosen between batches.

The results do not depend on the number of threads (tests/test_threads.py checks it), so a run
stays reproducible. ``SPARKER_THREADS=fixed`` leaves torch's setting alone; the number of threads
set before the run (``torch.set_num_threads``, ``OMP_NUM_THREADS``) is the upper limit.
``adaptive_iterator`` applies the policy to a generator of work (the fit, the calibration): the
threads are chosen before each step and every ``ADJUST_EPOCHS`` epochs inside one (``adjust``), and
torch's setting is back whenever the caller holds the generator's item.
"""

from __future__ import annotations

import functools
import os
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager

import torch

FIRST_SAMPLE_SECONDS = 0.05  # the window of the first measurement, before any work of ours
STALE_SECONDS = 2.0  # a measurement older than this says little about the load now
ADJUST_EPOCHS = 20  # a long step re-chooses its threads this often (reading /proc/stat takes microseconds)
_running = threading.local()  # the policy of the step this thread is running, if any
_probes = threading.local()  # each thread's most recent LoadProbe


def _cpus() -> list[int]:
    return sorted(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else list(range(os.cpu_count() or 1))


def _busy_seconds(cpus: list[int]) -> float | None:
    """CPU-seconds spent busy on ``cpus`` since boot (all processes), or None without /proc/stat."""
    try:
        with open("/proc/stat") as f:
            lines = f.read().splitlines()
    except OSError:
        return None
    wanted, busy = {f"cpu{c}" for c in cpus}, 0
    for line in lines:
        fields = line.split()
        if fields and fields[0] in wanted:
            values = [int(v) for v in fields[1:9]]  # user nice system idle iowait irq softirq steal
            busy += sum(values) - values[3] - values[4]
    return busy / os.sysconf("SC_CLK_TCK")


def _own_seconds() -> float:
    times = os.times()
    return times.user + times.system


class LoadProbe:
    """Cores kept busy by other processes, measured between calls."""

    def __init__(self):
        self.cpus = _cpus()
        self._last = self._sample()

    def _sample(self) -> tuple[float, float | None, float]:
        return time.monotonic(), _busy_seconds(self.cpus), _own_seconds()

    def age(self) -> float:
        """Seconds since the last measurement."""
        return time.monotonic() - self._last[0]

    def other_busy_cores(self) -> float:
        now = self._sample()
        (t0, busy0, own0), (t1, busy1, own1) = self._last, now
        self._last = now
        if busy0 is None or busy1 is None:
            return max(0.0, os.getloadavg()[0] - torch.get_num_threads()) if hasattr(os, "getloadavg") else 0.0
        wall = t1 - t0
        if wall <= 0:
            return 0.0
        return max(0.0, ((busy1 - busy0) - (own1 - own0)) / wall)


def choose_threads(other_busy: float, n_cpus: int, limit: int) -> int:
    """Threads for the cores others leave free (a core counts as taken when it is over a third busy)."""
    free = n_cpus - int(other_busy + 2 / 3)
    return max(1, min(limit, free))


@contextmanager
def adaptive_threads() -> Iterator[_Policy | None]:
    """Within the block torch uses the threads the load allows; ``probe.adjust()`` re-chooses.

    Yields an object with ``adjust()`` (call it between batches of work), or None when the policy
    is off; torch's thread count is restored on exit.
    """
    if os.environ.get("SPARKER_THREADS", "auto").lower() == "fixed":
        yield None
        return
    limit = torch.get_num_threads()
    policy = _Policy(limit)
    try:
        yield policy
    finally:
        torch.set_num_threads(limit)


def _recent_probe() -> LoadProbe:
    """This thread's probe; a new one (measured over FIRST_SAMPLE_SECONDS) when its last measurement
    is older than STALE_SECONDS, so fits run back to back do not each wait for a first sample."""
    probe = getattr(_probes, "probe", None)
    if probe is None or probe.age() > STALE_SECONDS:
        probe = _probes.probe = LoadProbe()
        time.sleep(FIRST_SAMPLE_SECONDS)
    return probe


class _Policy:
    def __init__(self, limit: int):
        self.limit = limit
        self.probe = _recent_probe()
        self.adjust()

    def adjust(self) -> int:
        threads = choose_threads(self.probe.other_busy_cores(), len(self.probe.cpus), self.limit)
        if threads != torch.get_num_threads():
            torch.set_num_threads(threads)
        return threads


def adjust() -> None:
    """Re-choose the threads of the step this thread is running (nothing outside ``adaptive_iterator``)."""
    policy = getattr(_running, "policy", None)
    if policy is not None:
        policy.adjust()


def adaptive(iterator: Iterator) -> Iterator:
    """Yield ``iterator``'s items, running each step with the threads the load allows (``adaptive_threads``)."""
    if os.environ.get("SPARKER_THREADS", "auto").lower() == "fixed":
        yield from iterator
        return
    limit, policy = torch.get_num_threads(), None
    try:
        while True:
            if policy is None:
                policy = _Policy(limit)
            else:
                policy.adjust()
            outer, _running.policy = getattr(_running, "policy", None), policy
            try:
                item = next(iterator)
            except StopIteration:
                return
            finally:
                _running.policy = outer
                if torch.get_num_threads() != limit:
                    torch.set_num_threads(limit)
            yield item
    finally:
        iterator.close()


def adaptive_iterator(function: Callable[..., Iterator]) -> Callable[..., Iterator]:
    """Decorate a generator function so that its work runs under ``adaptive``."""

    @functools.wraps(function)
    def wrapper(*args, **kwargs):
        return adaptive(function(*args, **kwargs))

    return wrapper
