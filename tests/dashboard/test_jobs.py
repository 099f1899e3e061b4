"""The run model's jobs: the calibration job's future and queue, the status enums, the map projector."""

from __future__ import annotations

import concurrent.futures
import logging
import threading

import numpy as np
import pytest

import dashboard.training_run as training_run

from dashboard.calibration_job import CalibrationJob, CalibrationStatus
from dashboard.run import TrainingStatus
from dashboard.training_run import TrainingRun

try:  # tests/dashboard as a package, or as a rootdir-inserted folder (pytest's default)
    from .test_runner import small_dataset, trained
except ImportError:
    from test_runner import small_dataset, trained


def results(*items, gate: threading.Event | None = None, error: BaseException | None = None):
    """A stand-in for ``calibrate_iter``: yields ``items`` (waiting for ``gate`` before the last), then raises ``error``."""
    for i, item in enumerate(items):
        if gate is not None and i == len(items) - 1:
            gate.wait(10)
        yield item
    if error is not None:
        raise error


def page_view(job: CalibrationJob) -> tuple:
    return job.status, job.result, job.error


def test_the_worker_hands_results_over_only_through_the_queue():
    job = CalibrationJob.start(results("first", "second"), n_toys=2, seed=0, name="test")
    concurrent.futures.wait([job.future], 10)
    assert job.future.done() and not job.running
    assert page_view(job) == (CalibrationStatus.RUNNING, None, "")  # nothing the page reads changed yet
    assert job.drain() is True
    assert page_view(job) == (CalibrationStatus.DONE, "second", "")
    assert job.drain() is False and page_view(job) == (CalibrationStatus.DONE, "second", "")


def test_the_future_keeps_the_workers_exception_and_the_page_shows_it_as_failed(caplog):
    job = CalibrationJob.start(results("first", error=KeyError("scale")), n_toys=4, seed=0, name="run 9")
    job.wait(10)
    assert isinstance(job.future.exception(), KeyError)
    assert job.status is CalibrationStatus.RUNNING and not caplog.records  # shown and logged once drained
    with caplog.at_level(logging.ERROR, logger="dashboard.calibration_job"):
        job.drain()
    assert job.status is CalibrationStatus.FAILED and job.result == "first"
    assert job.error == "The null toys failed: KeyError: 'scale' (traceback in the server log)."
    assert [r.exc_info[0] for r in caplog.records] == [KeyError] and "run 9" in caplog.records[0].getMessage()


def test_a_run_keeps_the_calibration_exception_in_its_jobs_future(monkeypatch):
    run, _ = trained()
    real = training_run.calibrate_iter  # what the run's worker iterates

    def broken(*args, **kwargs):
        iterator = real(*args, **kwargs)
        yield next(iterator)
        iterator.close()
        raise ZeroDivisionError("division by zero")

    monkeypatch.setattr(training_run, "calibrate_iter", broken)
    run.start_calibration(8, batch=4)
    run.calibration.wait(60)
    assert isinstance(run.calibration.future.exception(), ZeroDivisionError)
    assert run.calibration_status is CalibrationStatus.RUNNING and run.result is None  # not drained yet
    run.poll_calibration()
    assert run.calibration_status is CalibrationStatus.FAILED and run.result.n_toys == 4
    assert run.error == "The null toys failed: ZeroDivisionError: division by zero (traceback in the server log)."


def test_stop_keeps_the_drained_toys_and_drops_the_batch_in_flight():
    gate = threading.Event()
    job = CalibrationJob.start(results("first", "in flight", gate=gate), n_toys=2, seed=0, name="test")
    while job.result is None:
        job.wait(0.01)
        job.drain()
    job.stop()
    assert job.status is CalibrationStatus.STOPPED and job.result == "first"
    gate.set()
    job.wait(10)
    assert job.drain() is True and page_view(job) == (CalibrationStatus.STOPPED, "first", "")


def test_expected_errors_are_shown_as_the_library_words_them():
    job = CalibrationJob.start(results(error=ValueError("`n_toys` must be at least 1; got 0.")), 0, 0, "test")
    job.wait(10)
    job.drain()
    assert page_view(job) == (CalibrationStatus.NONE, None, "`n_toys` must be at least 1; got 0.")


def test_status_enums():
    assert [s.value for s in TrainingStatus] == ["training", "paused", "stopped", "trained", "loaded"]
    assert [s.value for s in CalibrationStatus] == ["none", "running", "paused", "stopped", "done", "failed"]
    assert {s for s in TrainingStatus if s.busy} == {TrainingStatus.TRAINING, TrainingStatus.PAUSED}
    assert {s for s in CalibrationStatus if s.active} == {CalibrationStatus.RUNNING, CalibrationStatus.PAUSED}
    assert TrainingStatus("trained") is TrainingStatus.TRAINED and f"{CalibrationStatus.DONE}" == "done"
    with pytest.raises(ValueError, match="'finished' is not a valid TrainingStatus"):
        TrainingStatus("finished")

    run, _ = trained()
    assert run.status is TrainingStatus.TRAINED and run.calibration_status is CalibrationStatus.NONE
    assert run.summary()["status"] == "trained" and type(run.summary()["status"]) is str
    run.pause()  # training's pause acts on training only: a trained run stays trained
    assert run.status is TrainingStatus.TRAINED


def test_pause_and_resume_act_on_the_calibration_job_only():
    run, _ = trained()
    run.start_calibration(2000, seed=4, batch=2)
    job = run.calibration
    job.pause()
    assert job.status is CalibrationStatus.PAUSED and run.status is TrainingStatus.TRAINED
    with pytest.raises(ValueError, match="null toys are already running for this run; stop them first."):
        run.start_calibration(10)
    job.resume()
    assert job.status is CalibrationStatus.RUNNING
    job.stop()
    run.wait_calibration(120)
    assert run.calibration_status is CalibrationStatus.STOPPED and not run.calibrating


def test_the_projector_recomputes_only_when_the_fit_moves_on():
    ds = small_dataset()
    ds = ds.with_layout(ds.reference[:, :2], ds.data[:, :2], "first two coordinates")
    run = TrainingRun(1, ds, {"n_kernels": 3, "max_epochs": 300, "seed": 0})
    run.advance_training(max_snapshots=2)
    projector = run.projector
    kernels, scores, centers = projector.kernels(), projector.scores(ds), projector.center_layout(1, ds)
    assert projector.kernels() is kernels and projector.scores(ds) is scores and projector.center_layout(1, ds) is centers
    assert list(kernels["kernel"]) == list(run.model.explain()["kernel"])
    np.testing.assert_allclose(scores, run.model.score_samples(ds.data), rtol=1e-6, atol=1e-9)
    assert centers.shape == (3, 2) and projector.scattered(ds).shape == (3,)
    run.advance_training(max_snapshots=1)
    assert projector.kernels() is not kernels and projector.scores(ds) is not scores
    assert projector.center_layout(1, ds) is centers  # an earlier snapshot's place does not move
    run.stop()
    stopped = projector.kernels()
    assert stopped is not kernels and projector.kernels() is stopped
