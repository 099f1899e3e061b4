"""Null toys on a real local Ray cluster: the same null as the local loop, streamed, cancelled, retried."""

from __future__ import annotations

import functools
import os
import signal
import subprocess
import sys
import time

import numpy as np
import pandas as pd
import pytest
import ray

from sparker_core import EmbeddingPair, SparKer
from sparker_core.cli import main
from sparker_core.executors import RayExecutor

from test_cli_bundle import FAST, write_inputs


@pytest.fixture(scope="module", autouse=True)
def cluster():
    ray.init(num_cpus=2, include_dashboard=False, logging_level="ERROR")
    ray.cloudpickle.register_pickle_by_value(sys.modules[__name__])  # the workers cannot import this test file
    yield
    ray.cloudpickle.unregister_pickle_by_value(sys.modules[__name__])
    ray.shutdown()


def sample(seed: int = 0, n_reference: int = 480, n_data: int = 60):
    rng = np.random.default_rng(seed)
    reference, data = rng.normal(size=(n_reference, 3)), rng.normal(size=(n_data, 3))
    data[:8] = rng.normal(loc=1.2, scale=0.1, size=(8, 3))
    return reference, data


@pytest.fixture(scope="module")
def fitted():
    return SparKer(n_kernels=3, max_epochs=20, seed=0).fit(*sample())


@pytest.fixture(scope="module")
def multiscale():
    reference, data = sample(1)
    return SparKer(n_kernels=3, max_epochs=20, sigma_final=[0.5, 1.0], seed=0).fit(reference, data)


class Wrapped(RayExecutor):
    """A Ray executor whose tasks run ``wrapper(function, *shared, block)``: real tasks on real workers,
    with something done around the toys (sleep, die)."""

    def __init__(self, wrapper, **kwargs):
        super().__init__(**kwargs)
        self.wrapper = wrapper

    def map_blocks(self, function, shared, blocks):
        return super().map_blocks(functools.partial(self.wrapper, function), shared, blocks)


def _die_the_first_time(marker, function, *args):
    """The first task to create ``marker`` kills its own worker process; every other task trains its toys."""
    try:
        os.close(os.open(marker, os.O_CREAT | os.O_EXCL))
    except FileExistsError:
        return function(*args)
    os.kill(os.getpid(), signal.SIGKILL)


SLOW_BLOCK_SECONDS = 4.0


def _slow(folder, function, *args):
    """Sleep, train the block, and leave a file named after its first toy. The sleep is long beside the
    driver's latency between taking block 0 and closing (with 1.5 s, blocks started after block 0 had
    finished before the cancel in two full-suite runs on this machine)."""
    time.sleep(SLOW_BLOCK_SECONDS)
    result = function(*args)
    (folder / f"block-{args[-1].start}").touch()
    return result


# ------------------------------------------------------------------------------ same null
@pytest.mark.parametrize("method", ["permutation", "reference"])
def test_ray_null_equals_the_local_null_bit_for_bit(fitted, method):
    local = fitted.calibrate(n_toys=10, method=method, batch=3, seed=4)
    remote = fitted.calibrate(n_toys=10, method=method, batch=3, seed=4, executor="ray")
    np.testing.assert_array_equal(remote.null_distribution, local.null_distribution)
    assert remote.pvalue == local.pvalue and remote.t_obs == local.t_obs


def test_ray_multiscale_null_equals_the_local_one(multiscale):
    local = multiscale.calibrate(n_toys=8, batch=3, seed=2)
    remote = multiscale.calibrate(n_toys=8, batch=3, seed=2, executor=RayExecutor(threads=1))
    assert len(remote.per_config) == 2 and remote.pvalue == local.pvalue
    for mine, theirs in zip(remote.per_config, local.per_config):
        np.testing.assert_array_equal(mine.null_distribution, theirs.null_distribution)


def test_ray_results_stream_in_toy_order(fitted):
    local = [r.null_distribution for r in fitted.calibrate_iter(n_toys=9, batch=2, seed=1)]
    remote = [r.null_distribution for r in fitted.calibrate_iter(n_toys=9, batch=2, seed=1, executor="ray")]
    assert [len(n) for n in remote] == [2, 4, 6, 8, 9]
    for mine, theirs in zip(remote, local, strict=True):
        np.testing.assert_array_equal(mine, theirs)


# ------------------------------------------------------------------------------ stop, failure
def test_closing_the_generator_cancels_the_outstanding_tasks(fitted, tmp_path):
    executor = Wrapped(functools.partial(_slow, tmp_path))
    iterator = fitted.calibrate_iter(n_toys=24, batch=2, seed=0, executor=executor)
    first = next(iterator)
    assert first.n_toys == 2
    iterator.close()
    time.sleep(2 * SLOW_BLOCK_SECONDS)  # a task left running would have finished and left its file
    finished = sorted(p.name for p in tmp_path.iterdir())
    assert len(finished) <= 2, finished  # block 0, and at most the one finishing alongside it
    deadline = time.monotonic() + 10
    while ray.available_resources().get("CPU", 0) < 2 and time.monotonic() < deadline:
        time.sleep(0.2)
    assert ray.available_resources().get("CPU", 0) == 2  # no worker keeps training toys nobody reads


def test_a_killed_worker_loses_no_toy_and_changes_no_pvalue(fitted, tmp_path):
    marker = tmp_path / "killed"
    executor = Wrapped(functools.partial(_die_the_first_time, str(marker)), max_retries=2)
    remote = fitted.calibrate(n_toys=8, batch=2, seed=6, executor=executor)
    assert marker.exists()  # a worker did die
    local = fitted.calibrate(n_toys=8, batch=2, seed=6)
    np.testing.assert_array_equal(remote.null_distribution, local.null_distribution)
    assert remote.pvalue == local.pvalue


# ------------------------------------------------------------------------------ the edges
def _refuse(block):
    raise ValueError("`toy` 3 is refused; one line.")


def test_a_tasks_error_comes_back_as_its_own_exception_not_the_remote_traceback():
    with pytest.raises(ValueError) as caught:
        list(RayExecutor(threads=1).map_blocks(_refuse, (), [range(0, 2)]))
    assert str(caught.value) == "`toy` 3 is refused; one line." and type(caught.value) is ValueError


def test_import_sparker_core_does_not_import_ray():
    code = ("import sys, numpy as np, sparker_core; rng = np.random.default_rng(0); "
            "m = sparker_core.SparKer(n_kernels=2, max_epochs=3).fit(rng.normal(size=(40, 2)), rng.normal(size=(10, 2))); "
            "m.calibrate(n_toys=2); print('ray' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=True)
    assert out.stdout.strip() == "False"


def test_bad_executor_arguments(fitted, monkeypatch):
    with pytest.raises(ValueError, match=r"`executor` must be one of 'local', 'ray' or an executor object .*got 'spark'"):
        fitted.calibrate(n_toys=2, executor="spark")
    with pytest.raises(ValueError, match=r"`threads` must be an integer >= 1; got 0\."):
        RayExecutor(threads=0)
    with pytest.raises(ValueError, match=r"`max_retries` must be an integer >= 0; got -1\."):
        RayExecutor(max_retries=-1)
    with pytest.raises(ValueError, match=r"`address` must be a Ray address .*; got ' '\."):
        RayExecutor(address=" ")
    monkeypatch.setitem(sys.modules, "ray", None)  # as if ray were not installed
    with pytest.raises(ValueError, match=r"`executor='ray'` needs the ray package; install it with"):
        fitted.calibrate(n_toys=2, executor="ray")


def test_cli_runs_the_toys_on_ray_and_writes_the_same_null(tmp_path):
    ref_path, data_path = write_inputs(tmp_path)
    bundles = {}
    for name, extra in (("local", []), ("ray", ["--ray"])):
        bundles[name] = tmp_path / name
        args = ["run", "--reference", str(ref_path), "--data", str(data_path), "--out", str(bundles[name]), *FAST, *extra]
        assert main(args) == 0
    np.testing.assert_array_equal(np.load(bundles["ray"] / "null.npy"), np.load(bundles["local"] / "null.npy"))


def test_cli_bad_ray_address_is_one_line_before_the_fit(tmp_path):
    ref_path, data_path = write_inputs(tmp_path)
    env = {k: v for k, v in os.environ.items() if k != "RAY_ADDRESS"}
    out = subprocess.run([sys.executable, "-m", "sparker_core", "run", "--reference", str(ref_path), "--data", str(data_path),
                          "--out", str(tmp_path / "b"), *FAST, "--ray", "nohost"],
                         capture_output=True, text=True, timeout=120, env=env)
    assert out.returncode == 2
    lines = [line for line in out.stderr.splitlines() if line.startswith("error:")]
    assert lines == ["error: cannot connect to the Ray cluster at nohost: Invalid address format: nohost"], out.stderr
    assert not (tmp_path / "b").exists()


def test_dashboard_run_calibrates_on_ray_like_the_local_run():
    from dashboard.datasets import from_pair
    from dashboard.training_run import TrainingRun

    reference, data = sample(2)
    pair = EmbeddingPair(reference, data, pd.DataFrame(index=range(len(reference))), pd.DataFrame(index=range(len(data))), {})
    nulls = []
    for address in (None, ""):
        run = TrainingRun(1, from_pair("small", pair, {}), {"n_kernels": 3, "max_epochs": 20, "seed": 0})
        while run.training:
            run.advance_training(max_snapshots=100)
        run.start_calibration(6, seed=3, batch=2, ray_address=address)
        run.wait_calibration(120)
        assert run.calibration_status == "done", run.error
        nulls.append(run.result.null_distribution)
    np.testing.assert_array_equal(nulls[1], nulls[0])


def test_significance_page_runs_the_toys_on_the_ray_cluster():
    from pathlib import Path

    from streamlit.testing.v1 import AppTest

    at = AppTest.from_file(str(Path(__file__).resolve().parents[1] / "dashboard" / "app.py"), default_timeout=180).run()
    at.selectbox(key="sample_name").set_value("bump")
    at.button(key="load_sample").click().run()
    at.switch_page("views/train.py").run()
    at.slider(key="ctl_n_kernels").set_value(3)
    at.number_input(key="ctl_max_epochs").set_value(20)
    at.button(key="start").click().run()
    run = next(iter(at.session_state["runs"].values()))
    deadline = time.monotonic() + 120
    while run.status != "trained" and time.monotonic() < deadline:
        at.run()
    at.switch_page("views/significance.py").run()
    at.number_input(key="n_toys").set_value(8)
    at.radio(key="toys_where").set_value("Ray cluster")
    at.button(key="run_toys").click().run()
    run.wait_calibration(120)
    at.run()
    assert not [e.value for e in at.error] and run.calibration_status == "done"
    assert "8 of 8 toys (done)" in at.get("progress")[0].proto.text
    local = run.model.calibrate(n_toys=8, batch=8, seed=0)  # the page's seed; the null does not depend on batch
    np.testing.assert_array_equal(run.result.null_distribution, local.null_distribution)
