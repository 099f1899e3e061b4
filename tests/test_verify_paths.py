"""`sparker verify` finds a bundle's inputs wherever it runs: beside the bundle as recorded, at the
recorded path, or in `--inputs DIR`; each candidate is checked by sha256 before it is read."""

import json
import os
import shutil
import subprocess
import sys

import numpy as np
import pytest

from sparker_core import SparKer
from sparker_core.bundle import load_bundle, save_bundle
from sparker_core.cli import main
from sparker_core.samples import SAMPLE_DIR

from test_cli_bundle import FAST, write_inputs


def sparker(args, cwd):
    """The command line in a fresh process, run from ``cwd``."""
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    return subprocess.run([sys.executable, "-m", "sparker_core", *args], cwd=cwd, capture_output=True, text=True, env=env)


@pytest.fixture(scope="module")
def relative_run(tmp_path_factory):
    """A bundle written by `sparker run` from its inputs' folder, with the paths typed relative to it."""
    work = tmp_path_factory.mktemp("paths") / "work"
    work.mkdir()
    write_inputs(work)
    result = sparker(["run", "--reference", "reference.csv", "--data", "data.csv", "--out", "bundle", *FAST], cwd=work)
    assert result.returncode == 0, result.stderr
    return work


def test_verify_runs_from_another_directory(relative_run, tmp_path):
    manifest = load_bundle(relative_run / "bundle").manifest
    assert set(manifest["inputs"]["files"]) == {"reference.csv", "data.csv"}  # as typed
    assert manifest["inputs"]["relative"]["data.csv"]["path"] == "../data.csv"
    assert manifest["inputs"]["relative"]["data.csv"]["bytes"] == (relative_run / "data.csv").stat().st_size
    result = sparker(["verify", str(relative_run / "bundle"), "--toys", "1"], cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert "input files match their recorded sha256" in result.stdout and "verified" in result.stdout


def test_a_bundle_moved_with_its_inputs_verifies(tmp_path):
    work = tmp_path / "work"
    work.mkdir()
    ref_path, data_path = write_inputs(work)  # typed as absolute paths
    assert main(["run", "--reference", str(ref_path), "--data", str(data_path), "--out", str(work / "runs" / "b"), *FAST]) == 0
    moved = tmp_path / "moved"
    shutil.move(work, moved)
    result = sparker(["verify", str(moved / "runs" / "b"), "--toys", "0"], cwd=tmp_path)
    assert result.returncode == 0, result.stderr


def test_inputs_option_finds_moved_inputs(relative_run, tmp_path):
    bundle = shutil.copytree(relative_run / "bundle", tmp_path / "shared" / "bundle")
    result = sparker(["verify", str(bundle), "--toys", "0"], cwd=tmp_path)
    assert result.returncode == 2 and result.stderr.count("\n") == 1
    assert "input file reference.csv recorded in the bundle is missing (looked for" in result.stderr
    assert str(tmp_path / "shared" / "reference.csv") in result.stderr and "`--inputs DIR`" in result.stderr
    inputs = tmp_path / "elsewhere"
    inputs.mkdir()
    for name in ("reference.csv", "data.csv"):
        shutil.copy(relative_run / name, inputs / name)
    result = sparker(["verify", str(bundle), "--toys", "0", "--inputs", str(inputs)], cwd=tmp_path)
    assert result.returncode == 0, result.stderr


def test_inputs_option_checks_the_sha256(relative_run, tmp_path, capsys):
    bundle = shutil.copytree(relative_run / "bundle", tmp_path / "shared" / "bundle")
    inputs = tmp_path / "elsewhere"
    inputs.mkdir()
    shutil.copy(relative_run / "reference.csv", inputs / "reference.csv")
    (inputs / "data.csv").write_text((relative_run / "data.csv").read_text().replace("anomaly 3", "anomaly 4"))
    os.chdir(tmp_path)
    try:
        assert main(["verify", str(bundle), "--toys", "0", "--inputs", str(inputs)]) == 2
    finally:
        os.chdir(relative_run)
    err = capsys.readouterr().err
    assert f"input file data.csv has changed since the run (sha256 differs at {inputs / 'data.csv'})" in err
    assert main(["verify", str(bundle), "--inputs", str(tmp_path / "none")]) == 2
    assert "`--inputs` must be a folder" in capsys.readouterr().err


def test_old_bundles_with_paths_as_typed_still_verify(relative_run, tmp_path, monkeypatch):
    bundle = shutil.copytree(relative_run / "bundle", tmp_path / "old")
    manifest = json.loads((bundle / "manifest.json").read_text())
    del manifest["inputs"]["relative"]  # written before bundles said where the inputs are relative to them
    (bundle / "manifest.json").write_text(json.dumps(manifest))
    monkeypatch.chdir(relative_run)  # paths as typed: found from the run's directory
    assert main(["verify", str(bundle), "--toys", "0"]) == 0
    monkeypatch.chdir(tmp_path)
    assert main(["verify", str(bundle), "--toys", "0", "--inputs", str(relative_run)]) == 0


def test_a_dashboard_export_of_a_bundled_sample_verifies_elsewhere(tmp_path):
    from dashboard.datasets import from_sample

    ds = from_sample("bump")  # what the Export page saves: the Dataset's inputs, with absolute sample paths
    (recorded,) = ds.inputs["files"]
    assert os.path.isabs(recorded) and recorded.startswith(str(SAMPLE_DIR))
    model = SparKer(n_kernels=3, max_epochs=20, seed=1).fit(ds.reference, ds.data)
    result = model.calibrate(n_toys=5, seed=2)
    out = save_bundle(tmp_path / "export" / "run-1", model, result, ds.reference, ds.data, ds.inputs,
                      ds.reference_metadata, ds.data_metadata,
                      extra={"source": "dashboard", "dataset": ds.name, "calibration_seed": 2})
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["inputs"]["relative"][recorded]["to"] == "samples"
    assert manifest["inputs"]["relative"][recorded]["path"] == "teaching/bump.parquet"
    # as exported on another machine: the recorded absolute path does not exist here
    text = (out / "manifest.json").read_text().replace(str(SAMPLE_DIR), "/elsewhere/app/sample_data")
    (out / "manifest.json").write_text(text)
    result = sparker(["verify", str(out), "--toys", "1"], cwd=tmp_path)
    assert result.returncode == 0, result.stderr
