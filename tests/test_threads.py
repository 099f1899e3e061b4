import subprocess
import sys
import time

import numpy as np
import pytest
import torch

from sparker_core import SparKer
from sparker_core.threads import LoadProbe, adaptive_iterator, adaptive_threads, adjust, choose_threads
from synthetic import gaussian


def test_choose_threads_leaves_the_cores_others_keep_busy():
    assert choose_threads(0.0, 2, 2) == 2
    assert choose_threads(0.2, 2, 2) == 2  # a browser's flicker does not take a core
    assert choose_threads(0.9, 2, 2) == 1
    assert choose_threads(3.5, 2, 2) == 1  # never fewer than one
    assert choose_threads(1.0, 8, 4) == 4  # never more than the limit set before the run


def test_the_probe_sees_a_competing_process_and_not_its_own_work():
    probe = LoadProbe()
    time.sleep(0.4)
    background = probe.other_busy_cores()  # whatever else this machine is doing
    start = time.monotonic()
    x = torch.randn(300, 300)
    while time.monotonic() - start < 0.4:
        x = torch.tanh(x @ x)
    own = probe.other_busy_cores()  # our own work is not "other load"
    hog = subprocess.Popen([sys.executable, "-c", "while True: pass"])
    try:
        time.sleep(0.3)
        probe.other_busy_cores()
        time.sleep(0.6)
        other = probe.other_busy_cores()
    finally:
        hog.kill()
        hog.wait()
    cores = len(probe.cpus)
    assert own < background + 0.5, (background, own)
    assert other > min(cores - 0.3, background + 0.6), (background, other)


def test_the_thread_count_is_restored_and_fixed_turns_the_policy_off(monkeypatch):
    before = torch.get_num_threads()
    with adaptive_threads() as policy:
        assert policy is not None and 1 <= torch.get_num_threads() <= before
    assert torch.get_num_threads() == before
    monkeypatch.setenv("SPARKER_THREADS", "fixed")
    with adaptive_threads() as policy:
        assert policy is None


@pytest.mark.skipif(torch.get_num_threads() < 2 and (__import__("os").cpu_count() or 1) < 2, reason="needs 2 CPUs")
def test_results_do_not_depend_on_the_number_of_threads(monkeypatch):
    """What makes choosing threads from the load safe: a seed gives the same numbers either way."""
    monkeypatch.setenv("SPARKER_THREADS", "fixed")
    reference, data = gaussian(0, n_ref=3000, n_data=600, d=48, bump=20)
    before, numbers = torch.get_num_threads(), []
    try:
        for threads in (1, 2):
            torch.set_num_threads(threads)
            result = SparKer(n_kernels=6, max_epochs=20, seed=3).fit(reference, data).calibrate(n_toys=4, seed=1)
            numbers.append(np.concatenate([np.atleast_1d(result.t_obs), result.null_distribution.ravel()]))
    finally:
        torch.set_num_threads(before)
    assert np.array_equal(numbers[0], numbers[1])


def test_an_adaptive_generator_steps_with_chosen_threads_and_hands_back_torch_s_setting(monkeypatch):
    monkeypatch.delenv("SPARKER_THREADS", raising=False)
    before = torch.get_num_threads()
    monkeypatch.setattr("sparker_core.threads.choose_threads", lambda other, cpus, limit: 1)
    seen = []

    @adaptive_iterator
    def work():
        for step in range(3):
            adjust()  # inside a step: re-chosen, still one thread
            seen.append(torch.get_num_threads())
            yield step

    for _ in work():
        assert torch.get_num_threads() == before  # the caller's setting while it holds an item
    assert seen == [1, 1, 1] and torch.get_num_threads() == before
    adjust()  # outside any step: nothing to re-choose
    assert torch.get_num_threads() == before
