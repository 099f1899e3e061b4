"""The dashboard's run object: chunked training, pause/stop, the calibration worker."""

from __future__ import annotations

import logging

import numpy as np
import pytest

import dashboard.training_run as training_run

from dashboard import baseline_runs
from dashboard.datasets import Dataset, fingerprint, from_pair
from dashboard.training_run import TrainingRun
from sparker_core import EmbeddingPair


def small_dataset(seed: int = 0) -> Dataset:
    rng = np.random.default_rng(seed)
    reference, data = rng.normal(size=(600, 3)), rng.normal(size=(150, 3))
    data[:15] = rng.normal(loc=1.5, scale=0.1, size=(15, 3))
    import pandas as pd

    pair = EmbeddingPair(reference, data, pd.DataFrame(index=range(600)), pd.DataFrame(index=range(150)), {})
    return from_pair("small", pair, {})


def trained(params=None) -> tuple[TrainingRun, Dataset]:
    ds = small_dataset()
    run = TrainingRun(1, ds, {"n_kernels": 3, "max_epochs": 30, "seed": 0, **(params or {})})
    while run.training:
        run.advance_training(max_snapshots=100)
    return run, ds


def test_chunks_give_the_same_fit_as_one_call():
    run, ds = trained()
    assert run.status == "trained" and [s.epoch for s in run.snapshots] == [0, 5, 10, 15, 20, 25, 30]
    from sparker_core import SparKer

    alone = SparKer(n_kernels=3, max_epochs=30, seed=0).fit(ds.reference, ds.data)
    assert run.t == pytest.approx(alone.t_obs_, rel=1e-6)
    assert fingerprint(ds.reference, ds.data) == ds.fingerprint


def test_pause_resume_and_stop_keep_a_consistent_model():
    ds = small_dataset()
    run = TrainingRun(2, ds, {"n_kernels": 3, "max_epochs": 300, "seed": 0})
    run.advance_training(max_snapshots=3)
    run.pause()
    assert run.advance_training() == 0 and run.status == "paused"
    run.resume()
    assert run.advance_training(max_snapshots=1) == 1
    run.stop()
    assert run.status == "stopped" and run.model.t_obs_ == run.snapshots[-1].t
    assert run.model.stopped_early_
    with pytest.raises(ValueError, match="trained to completion; this run is stopped"):
        run.start_calibration(10)
    assert len(run.projector.kernels()) == 3  # a stopped run can still be explained


def test_bad_parameters_fail_on_the_first_chunk():
    run = TrainingRun(3, small_dataset(), {"n_kernels": 0, "max_epochs": 10, "seed": 0})
    with pytest.raises(ValueError, match="n_kernels"):
        run.advance_training()
    assert run.status == "stopped" and not run.snapshots


def test_calibration_worker_matches_the_library_and_stop_keeps_finished_toys():
    run, ds = trained()
    run.start_calibration(16, seed=3, batch=4)
    run.wait_calibration(120)
    assert run.calibration_status == "done" and run.result.n_toys == 16
    from sparker_core import SparKer

    reference_fit = SparKer(n_kernels=3, max_epochs=30, seed=0).fit(ds.reference, ds.data)
    expected = reference_fit.calibrate(n_toys=16, batch=16, seed=3)
    np.testing.assert_allclose(run.result.null_distribution, expected.null_distribution, rtol=1e-5)

    run.start_calibration(2000, seed=4, batch=2)
    while run.result is None or run.result.n_toys < 2:
        run.wait_calibration(0.05)
    run.calibration.stop()
    kept = run.result
    run.wait_calibration(120)
    assert run.calibration_status == "stopped" and not run.calibrating
    assert run.result is kept and 2 <= kept.n_toys < 2000 and not kept.complete
    assert kept.pvalue == pytest.approx((1 + kept.n_exceeding) / (1 + kept.n_toys))


def test_bad_calibration_arguments_are_reported_and_change_nothing():
    run, _ = trained()
    run.start_calibration(0)
    run.wait_calibration(30)
    assert "n_toys" in run.error and run.result is None and run.calibration_status == "none"


def test_an_unexpected_calibration_error_shows_as_failed_and_is_logged(caplog, monkeypatch):
    run, _ = trained()
    real = training_run.calibrate_iter  # what the run's worker iterates

    def broken(*args, **kwargs):  # one batch of toys, then a bug
        iterator = real(*args, **kwargs)
        yield next(iterator)
        iterator.close()
        raise KeyError("scale")

    monkeypatch.setattr(training_run, "calibrate_iter", broken)
    with caplog.at_level(logging.ERROR, logger="dashboard.calibration_job"):
        run.start_calibration(8, batch=4)
        run.wait_calibration(60)
    assert run.calibration_status == "failed" and not run.calibrating
    assert run.error == "The null toys failed: KeyError: 'scale' (traceback in the server log)."
    assert run.result is not None and run.result.n_toys == 4  # the finished toys stay, marked incomplete
    assert any(r.exc_info and r.exc_info[0] is KeyError for r in caplog.records)


def test_an_unexpected_baseline_error_shows_in_its_cell_and_the_rest_run(monkeypatch, caplog):
    def broken(reference, data, n, seed):
        raise ZeroDivisionError("division by zero")

    def bad_input(reference, data, n, seed):
        raise ValueError("`n_permutations` must be at least 1; got 0.")

    monkeypatch.setattr(baseline_runs, "BASELINES", {"broken": broken, "bad input": bad_input})
    ds = small_dataset()
    comparison = baseline_runs.Comparison(n_toys=5, seed=0)
    with caplog.at_level(logging.ERROR, logger="dashboard.baseline_runs"):
        comparison.start(ds.reference, ds.data)
        comparison.wait(30)
    assert not comparison.running and comparison.current == ""
    assert comparison.errors == {"broken": "failed: ZeroDivisionError: division by zero (traceback in the server log)",
                                 "bad input": "`n_permutations` must be at least 1; got 0."}
    assert any(r.exc_info and r.exc_info[0] is ZeroDivisionError for r in caplog.records)
