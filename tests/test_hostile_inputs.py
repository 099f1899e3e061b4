"""Inputs and interrupts that used to give a wrong answer in silence: each is now a one-line error or an honest result."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from sparker_core import SparKer, calibration
from sparker_core.cli import main
from sparker_core.config import distance_percentiles

REPO = Path(__file__).resolve().parents[1]


def _pair(seed=0, n_ref=300, n_data=120, d=6, shift=2.0):
    rng = np.random.default_rng(seed)
    reference = rng.normal(size=(n_ref, d))
    data = rng.normal(size=(n_data, d))
    data[:12] += shift
    return reference, data


def test_a_value_whose_square_overflows_is_refused_not_a_nan_p():
    reference, data = _pair()
    data[0, 0] = 1e25
    with pytest.raises(ValueError, match=r"values up to 1e\+25 .* overflow float32") as err:
        SparKer(max_epochs=5).fit(reference, data)
    assert "\n" not in str(err.value)


def test_data_scaled_below_float32_resolution_is_refused():
    reference, data = _pair()
    with pytest.raises(ValueError, match="too small for float32"):
        SparKer(max_epochs=5).fit(reference * 1e-20, data * 1e-20)
    with pytest.raises(ValueError, match="kernel width of 1e-30 is too small"):
        SparKer(max_epochs=5, sigma_init=1e-30, sigma_final=1e-30, schedule="constant").fit(reference, data)


def test_float64_accepts_what_float32_cannot_hold():
    reference, data = _pair()
    model = SparKer(max_epochs=5, dtype="float64").fit(reference * 1e-20, data * 1e-20)
    assert np.isfinite(model.t_scales_).all()


@pytest.mark.parametrize("units", [1e10, 1e-6])
def test_t_does_not_depend_on_the_data_units(units):
    reference, data = _pair()
    base = SparKer(max_epochs=40, seed=1).fit(reference, data).t_scales_
    scaled = SparKer(max_epochs=40, seed=1).fit(reference * units, data * units).t_scales_
    # before: Adam's fixed epsilon froze the centres at large units (t 17.7 at x1, 6.5 at x1e10)
    np.testing.assert_allclose(scaled, base, rtol=1e-4)


def test_a_non_finite_toy_is_an_error_not_the_smallest_p(monkeypatch):
    reference, data = _pair()
    model = SparKer(max_epochs=5, sigma_final=0.5).fit(reference, data)
    real = calibration._train_columns

    def diverging(design, roles, scales, config):
        out = real(design, roles, scales, config)
        out[:, -1] = np.nan
        return out

    monkeypatch.setattr(calibration, "_train_columns", diverging)
    with pytest.raises(ValueError, match="toy 3 is not finite"):
        model.calibrate(n_toys=4, batch=4)
    assert not hasattr(model, "result_")  # no p-value was ever reported


def test_a_non_finite_t_during_the_fit_is_an_error_and_cannot_be_calibrated():
    reference, data = _pair()
    broken = SparKer(max_epochs=30, sigma_final=0.5, amplitude_clip=1e30, learning_rate=1e30)  # e^f overflows float32
    with pytest.raises(ValueError, match=r"t is not finite at epoch \d+ \(sigma [\d.]+\): the training diverged"):
        broken.fit(reference, data)
    assert broken.stopped_early_  # the last finite snapshot is kept, flagged as not trained to completion
    with pytest.raises(ValueError, match="needs a fit trained to completion"):
        broken.calibrate(n_toys=2)


def test_distance_percentiles_count_duplicates_as_zero_distance():
    rng = np.random.default_rng(0)
    rows = rng.normal(size=(250, 30)).astype(np.float32) * 100 + 1e3
    duplicated = np.vstack([rows, rows]).astype(np.float64)  # every row twice: 250 zero-distance pairs
    exact = [np.linalg.norm(duplicated[i] - duplicated[j]) for i in range(500) for j in range(i + 1, 500)]
    exact = np.asarray([d for d in np.asarray(exact, dtype=np.float64) if d > 0])
    assert exact.size == 500 * 499 // 2 - 250
    np.testing.assert_allclose(distance_percentiles(duplicated, 0, [1, 50]), np.percentile(exact, [1, 50]), rtol=1e-12)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_batch_size_does_not_change_the_null(dtype):
    reference, data = _pair()
    model = SparKer(max_epochs=20, dtype=dtype).fit(reference, data)  # three widths, float32 by default
    nulls = [model.calibrate(n_toys=6, batch=b, seed=3).per_config for b in (1, 4, 6)]
    for other in nulls[1:]:
        for a, b in zip(nulls[0], other):
            # float32: the GEMMs of different batch widths may sum in another order (README states this bound)
            np.testing.assert_allclose(b.null_distribution, a.null_distribution, rtol=1e-4 if dtype == "float32" else 1e-12)


def _csv(tmp_path, seed=0):
    reference, data = _pair(seed)
    ref_path, data_path = tmp_path / "ref.csv", tmp_path / "data.csv"
    header = ",".join(f"f{i}" for i in range(reference.shape[1]))
    np.savetxt(ref_path, reference, delimiter=",", header=header, comments="")
    np.savetxt(data_path, data, delimiter=",", header=header, comments="")
    return ref_path, data_path


@pytest.mark.parametrize("flag, value, message", [
    ("--n-toys", "0", "`--n-toys` must be an integer >= 1"),
    ("--batch", "0", "`--batch` must be an integer >= 1"),
    ("--method", "foo", "`--method` must be one of"),
    ("--epochs", "0", "`max_epochs` must be an integer >= 1"),
    ("--method", "reference", "needs a reference at least"),
])
def test_run_arguments_fail_before_any_fit(tmp_path, capsys, monkeypatch, flag, value, message):
    ref_path, data_path = _csv(tmp_path)
    monkeypatch.setattr(SparKer, "fit_iter", lambda *a, **k: pytest.fail("fitted before checking the arguments"))
    code = main(["run", "--reference", str(ref_path), "--data", str(data_path), flag, value,
                 "--out", str(tmp_path / "out"), "--quiet"])
    err = capsys.readouterr().err
    assert code == 2 and message in err and err.count("\n") == 1
    assert not (tmp_path / "out").exists()


def test_an_unwritable_out_is_named_as_typed_before_loading(tmp_path, capsys, monkeypatch):
    ref_path, data_path = _csv(tmp_path)
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    monkeypatch.setattr("sparker_core.loaders.load_pair", lambda **k: pytest.fail("loaded before checking --out"))
    code = main(["run", "--reference", str(ref_path), "--data", str(data_path), "--out", str(blocker / "out"), "--quiet"])
    err = capsys.readouterr().err
    assert code == 2 and f"`--out` {blocker / 'out'} cannot be written" in err and ".sparker" not in err


def test_features_and_ignore_choose_the_columns_and_are_recorded(tmp_path, capsys):
    ref_path, data_path = _csv(tmp_path)
    out = tmp_path / "out"
    code = main(["run", "--reference", str(ref_path), "--data", str(data_path), "--ignore", "f5", "--n-toys", "2",
                 "--epochs", "5", "--out", str(out), "--quiet"])
    printed = capsys.readouterr().out
    assert code == 0 and "columns used (5): f0, f1, f2, f3, f4" in printed
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["inputs"]["load"]["ignore"] == ["f5"] and manifest["sizes"]["features"] == 5
    assert main(["verify", str(out), "--toys", "1"]) == 0


def _wait_for(proc, pattern: str, timeout: float = 120.0) -> str:
    """Read the process's stderr until the regular expression ``pattern`` matches it."""
    seen = ""
    deadline = time.monotonic() + timeout
    os.set_blocking(proc.stderr.fileno(), False)
    while time.monotonic() < deadline and not re.search(pattern, seen):
        chunk = proc.stderr.read()
        seen += chunk.decode(errors="replace") if chunk else ""
        time.sleep(0.05)
    assert re.search(pattern, seen), seen[-500:]
    return seen


def _start_run(tmp_path, out, n_toys, epochs=60):
    ref_path, data_path = _csv(tmp_path)
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONUNBUFFERED": "1"}
    return subprocess.Popen(
        [sys.executable, "-m", "sparker_core", "run", "--reference", str(ref_path), "--data", str(data_path),
         "--n-toys", str(n_toys), "--batch", "2", "--epochs", str(epochs), "--out", str(out)],
        cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        # a shell's background job inherits SIGINT ignored, and Python then never raises KeyboardInterrupt
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )


def test_ctrl_c_during_the_toys_writes_an_incomplete_bundle_without_a_traceback(tmp_path):
    out = tmp_path / "out"
    proc = _start_run(tmp_path, out, n_toys=2000)
    _wait_for(proc, r"null toys: +[0-9]+%.*?\b([4-9]|[1-9][0-9]+)/2000")  # at least two batches of 2 done
    proc.send_signal(signal.SIGINT)
    stdout, stderr = proc.communicate(timeout=120)
    stderr = stderr.decode()
    assert proc.returncode == 130, stderr[-800:]
    assert "Traceback" not in stderr and "interrupted after" in stderr
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["extra"]["incomplete"] is True and manifest["result"]["n_toys_requested"] == 2000
    assert 4 <= manifest["result"]["n_toys"] < 2000
    assert b"(incomplete)" in stdout


def test_ctrl_c_during_the_fit_writes_nothing(tmp_path):
    out = tmp_path / "out"
    proc = _start_run(tmp_path, out, n_toys=10, epochs=1_000_000)
    _wait_for(proc, "training:")
    proc.send_signal(signal.SIGINT)
    _, stderr = proc.communicate(timeout=120)
    stderr = stderr.decode()
    assert proc.returncode == 130 and "Traceback" not in stderr and "nothing written" in stderr
    assert not out.exists() and not list(tmp_path.glob(".out.*"))
