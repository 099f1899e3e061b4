"""A bundle states nothing on trust: every forged number, table or toy is caught by show or verify."""

import json
import shutil

import numpy as np
import pandas as pd
import pytest

from sparker_core import SparKer
from sparker_core.bundle import FILES, format_zscore, load_bundle, save_bundle, sha256_file
from sparker_core.verify import load_bundle_inputs, verify_bundle
from sparker_core.calibration import companion_statistics, make_result
from sparker_core.cli import main

from test_cli_bundle import FAST, run_on_inputs, write_inputs


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    return run_on_inputs(tmp_path_factory.mktemp("forgery"))[2]


@pytest.fixture
def copy(run, tmp_path):
    return shutil.copytree(run, tmp_path / "copy")


def read_manifest(bundle):
    return json.loads((bundle / "manifest.json").read_text())


def write_manifest(bundle, manifest):
    (bundle / "manifest.json").write_text(json.dumps(manifest, indent=2))


def rehash(bundle, name):
    """What a forger does after editing a file: record its new sha256 in the manifest."""
    manifest = read_manifest(bundle)
    manifest["files"][name] = sha256_file(bundle / name)
    write_manifest(bundle, manifest)


def fails(args, capsys, message):
    code = main(args)
    err = capsys.readouterr().err.strip()
    assert code == 2, err
    assert err.startswith("error:") and "\n" not in err and message in err, err


# ------------------------------------------------------------------ item 1: manifest numbers
@pytest.mark.parametrize("field,value,message", [
    ("zscore", 5.2, "`result.zscore`"),
    ("pvalue_ci", [0.0, 1e-7], "`result.pvalue_ci`"),
    ("extrapolated", {"note": "forged", "pvalue": 1e-7, "zscore": 5.2, "ks_pvalue": 0.9, "shape": 2.0, "loc": 0.0, "scale": 1.0},
     "`result.extrapolated`"),
    ("scales[0].pvalue", 1e-7, "`result.scales[0].pvalue`"),
])
def test_show_and_verify_refuse_an_edited_result(copy, capsys, field, value, message):
    manifest = read_manifest(copy)
    if field.startswith("scales"):
        manifest["result"]["scales"][0]["pvalue"] = value
    else:
        manifest["result"][field] = value
    write_manifest(copy, manifest)
    fails(["show", str(copy)], capsys, message)
    fails(["verify", str(copy)], capsys, message)


def test_the_issue_forgery_z_interval_and_extrapolation_is_refused(copy, capsys):
    manifest = read_manifest(copy)
    manifest["result"].update(zscore=5.2, pvalue_ci=[0.0, 1e-7], extrapolated={
        "note": "forged", "pvalue": 1e-7, "zscore": 5.2, "ks_pvalue": 0.9, "shape": 2.0, "loc": 0.0, "scale": 1.0})
    write_manifest(copy, manifest)
    fails(["show", str(copy)], capsys, "recomputed from null.npy and t_obs")
    fails(["verify", str(copy)], capsys, "recomputed from null.npy and t_obs")


# ------------------------------------------------------------------ items 1 and 2: forged files with updated hashes
def test_verify_retrains_toys_and_catches_a_forged_null(copy, capsys):
    null = np.load(copy / "null.npy")
    toys = null[1:] * 0.5  # every scale's and the companion's toys halved: p and the combined statistic are unchanged
    result = read_manifest(copy)["result"]
    k = len(result["scales"])
    _, combined = companion_statistics([s["t_obs"] for s in result["scales"]], toys[:k], "minp",
                                       result["companion"]["t_obs"], toys[k])
    np.save(copy / "null.npy", np.vstack([combined, toys]))
    rehash(copy, "null.npy")
    assert main(["show", str(copy)]) == 0  # consistent with itself: only retraining toys shows the forgery
    capsys.readouterr()
    fails(["verify", str(copy), "--toys", "1", "--toy-seed", "5"], capsys, "null.npy toy")


def test_verify_names_the_toys_it_retrained(run, capsys):
    assert main(["verify", str(run), "--toys", "2", "--toy-seed", "7"]) == 0
    out = capsys.readouterr().out
    assert "2 of 19 toys retrained" in out and "toy seed 7" in out and "their t match null.npy" in out


@pytest.mark.parametrize("args,message", [(["--toys", "-1"], "`--toys` must be an integer >= 0; got -1."),
                                          (["--toy-seed", "-2"], "`--toy-seed` must be an integer >= 0; got -2.")])
def test_verify_option_errors(run, capsys, args, message):
    fails(["verify", str(run), *args], capsys, message)


@pytest.mark.parametrize("name,column", [("kernels.parquet", "amplitude"), ("kernels.parquet", "exemplars_top_score"),
                                         ("points.parquet", "score"), ("points.parquet", "text")])
def test_verify_recomputes_the_tables(copy, capsys, name, column):
    table = pd.read_parquet(copy / name)
    if column == "amplitude":
        table.loc[0, column] += 0.5
    elif column == "exemplars_top_score":
        table.at[0, column] = np.array([199, 198, 197])
    elif column == "score":
        table.loc[table.index[-1], column] += 0.5
    else:
        table.loc[table.index[-1], column] = "anomaly (forged)"
    table.to_parquet(copy / name, index=False)
    rehash(copy, name)
    fails(["verify", str(copy), "--toys", "0"], capsys, f"{name} column {column!r}")


def test_verify_refits_the_history(copy, capsys):
    history = dict(np.load(copy / "history.npz"))
    history["t"] = history["t"] * 1.1
    np.savez(copy / "history.npz", **history)
    rehash(copy, "history.npz")
    fails(["verify", str(copy), "--toys", "0"], capsys, "history.npz t")


def test_verify_passes_on_a_reference_method_run(tmp_path, capsys):
    ref_path, data_path = write_inputs(tmp_path)
    out = tmp_path / "ref"
    fast = [a if a != "19" else "5" for a in FAST]
    assert main(["run", "--reference", str(ref_path), "--data", str(data_path), "--out", str(out), "--method", "reference", *fast]) == 0
    assert main(["verify", str(out), "--toys", "1"]) == 0
    assert "observed t of 3 width(s) and of the fixed-centre companion test recomputed (reference method)" in capsys.readouterr().out


# ------------------------------------------------------------------ items 3, 4, 5: manifest fields, loader settings, files
@pytest.mark.parametrize("edit,message", [
    (lambda m: m.pop("inputs"), "manifest field `inputs` is missing."),
    (lambda m: m["inputs"].pop("load"), "manifest field `inputs.load` is missing."),
    (lambda m: m["result"].pop("zscore"), "manifest field `result.zscore` is missing."),
    (lambda m: m["sizes"].update(data="200"), "manifest field `sizes.data` must be an integer; got \"200\"."),
    (lambda m: m["result"].update(pvalue_ci=[0.1]), "manifest field `result.pvalue_ci` must be a list of two numbers"),
    (lambda m: m["result"]["scales"][1].pop("label"), "manifest field `result.scales[1].label` is missing."),
    (lambda m: m["seeds"].update(fit=None), "manifest field `seeds.fit` must be an integer; got null."),
])
def test_missing_or_malformed_fields_are_one_line_errors(copy, capsys, edit, message):
    manifest = read_manifest(copy)
    edit(manifest)
    write_manifest(copy, manifest)
    fails(["verify", str(copy)], capsys, message)
    fails(["show", str(copy)], capsys, message)


@pytest.mark.parametrize("edit,message", [
    (lambda load: load.update(max_bytes=10**15), "manifest field `inputs.load.max_bytes` is not a loader setting the command line allows"),
    (lambda load: load.update(max_expanded_bytes=10**15), "`inputs.load.max_expanded_bytes` is not a loader setting"),
    (lambda load: load.update(key=3), "manifest field `inputs.load.key` must be a string; got 3."),
    (lambda load: load.update(label_column="text"), "must hold either `data` or `label_column`"),
])
def test_verify_refuses_loader_settings_the_command_line_cannot_give(copy, capsys, edit, message):
    manifest = read_manifest(copy)
    edit(manifest["inputs"]["load"])
    write_manifest(copy, manifest)
    fails(["verify", str(copy)], capsys, message)


def test_verify_reports_extra_and_missing_files(copy, capsys):
    (copy / "notes.txt").write_text("not part of the bundle")
    fails(["verify", str(copy)], capsys, "unexpected notes.txt")
    manifest = read_manifest(copy)
    manifest["files"]["notes.txt"] = sha256_file(copy / "notes.txt")
    write_manifest(copy, manifest)
    fails(["verify", str(copy)], capsys, "manifest field `files` must list exactly")


# ------------------------------------------------------------------ item 6: strict JSON, honest Z
def raise_on_constant(token):
    raise ValueError(f"non-JSON constant {token}")


@pytest.fixture(scope="module")
def small_fit():
    rng = np.random.default_rng(1)
    reference, data = rng.normal(size=(300, 3)), rng.normal(size=(100, 3))
    data[:10] = rng.normal(loc=1.5, scale=0.1, size=(10, 3))
    # SparKer alone (no companion test): a one-width result, a TestResult
    model = SparKer(n_kernels=3, sigma_final=1.0, max_epochs=20, seed=3, fixed_kernels=0).fit(reference, data, snapshot_every=5)
    return model, reference, data


def test_a_p_of_one_is_written_as_strict_json_and_never_printed_as_minus_inf(small_fit, tmp_path, capsys):
    model, reference, data = small_fit
    null = model.t_obs_ + 1.0 + np.arange(24.0)  # every toy above t_obs: p = 1, Z = -inf
    result = make_result(model.t_obs_, null, "permutation", 24)
    assert result.pvalue == 1.0 and result.zscore == -np.inf
    out = save_bundle(tmp_path / "b", model, result, reference, data, {"load": {}, "files": {}}, extra={"calibration_seed": 0})
    text = (out / "manifest.json").read_text()
    manifest = json.loads(text, parse_constant=raise_on_constant)  # strict JSON: no NaN / Infinity tokens
    assert manifest["result"]["zscore"] is None and manifest["result"]["zscore_nonfinite"].startswith("-inf: ")
    bundle = load_bundle(out)
    assert bundle.manifest["result"]["zscore"] == -np.inf and bundle.result.zscore == -np.inf
    assert main(["show", str(out)]) == 0
    shown = capsys.readouterr().out
    assert "inf" not in shown.replace("(p = 1", "") and "Z = below" in shown and "every toy at or above t_obs" in shown


def test_old_manifests_with_nan_tokens_are_still_read(small_fit, tmp_path):
    model, reference, data = small_fit
    result = make_result(model.t_obs_, model.t_obs_ + 1.0 + np.arange(24.0), "permutation", 24)
    out = save_bundle(tmp_path / "b", model, result, reference, data, {"load": {}, "files": {}})
    manifest = read_manifest(out)
    del manifest["result"]["zscore_nonfinite"]
    manifest["result"]["zscore"] = -np.inf
    (out / "manifest.json").write_text(json.dumps(manifest))  # "-Infinity", as bundles were written before
    assert load_bundle(out).manifest["result"]["zscore"] == -np.inf


def test_honest_z_formats_finite_values_as_floats():
    assert format_zscore(1.2345) == "1.23"
    assert format_zscore(-np.inf, bound=-0.93) == "below -0.93 at 95% (p = 1: every toy at or above t_obs)"
    assert "inf" not in format_zscore(-np.inf) and "nan" not in format_zscore(np.nan)


# ------------------------------------------------------------------ item 7: field-by-field round trip
def test_round_trip_field_by_field_and_verify_a_one_width_bundle(small_fit, tmp_path):
    model, reference, data = small_fit
    result = model.calibrate(n_toys=20, seed=4, batch=7)
    assert result.tail_fit is not None  # 20 toys: the extrapolation is saved and recomputed
    out = save_bundle(tmp_path / "b", model, result, reference, data, {"load": {}, "files": {}},
                      extra={"calibration_seed": 4})
    assert sorted(p.name for p in out.iterdir()) == sorted([*FILES, "manifest.json"])
    bundle = load_bundle(out)

    expected = model.explain()
    assert list(bundle.kernels.columns) == list(expected.columns) and len(bundle.kernels) == len(expected)
    for column in expected.columns:
        for saved, fitted in zip(bundle.kernels[column], expected[column]):
            np.testing.assert_array_equal(np.asarray(saved), np.asarray(fitted), err_msg=column)

    assert len(bundle.history) == len(model.history_) == 5
    for saved, fitted in zip(bundle.history, model.history_):
        for name in ("epoch", "sigma", "loss", "t", "centers", "amplitudes"):
            np.testing.assert_array_equal(getattr(saved, name), getattr(fitted, name), err_msg=name)

    for name in ("t_obs", "pvalue", "pvalue_ci", "zscore", "method", "n_toys", "n_toys_requested"):
        assert getattr(bundle.result, name) == getattr(result, name), name
        assert bundle.manifest["result"][name] == (list(result.pvalue_ci) if name == "pvalue_ci" else getattr(result, name))
    np.testing.assert_array_equal(bundle.result.null_distribution, result.null_distribution)
    for name in ("shape", "loc", "scale", "ks_pvalue", "pvalue", "zscore"):
        assert getattr(bundle.result.tail_fit, name) == getattr(result.tail_fit, name) == bundle.manifest["result"]["extrapolated"][name]
    np.testing.assert_array_equal(bundle.centers, (model.centers_ - model.reference_mean_) / model.reference_scale_)
    np.testing.assert_array_equal(bundle.amplitudes, model.amplitudes_)
    assert bundle.sigma == model.sigma_ and bundle.manifest["result"]["t_fit"] == model.t_obs_

    points = bundle.points
    np.testing.assert_array_equal(points["score"].to_numpy(), np.r_[model.score_samples(reference), model.score_samples(data)])

    passed = verify_bundle(out, reference, data, n_toys=2, toy_seed=0)
    assert any("2 of 20 toys retrained" in line for line in passed)


def test_a_manifest_cannot_make_the_loader_read_another_file(copy, tmp_path):
    # a forged manifest points `inputs` at a file the run never used (a secret the server can read);
    # the sha256 is checked before any parser sees the file, so no error quotes its content
    secret = tmp_path / "secret.csv"
    secret.write_text("a,b,c,d\n1,2,3,4\n3,4,5,6\n5,6,7,8\n7,password-in-a-cell,1,2\n")  # the loader would quote it
    manifest = read_manifest(copy)
    data_path = manifest["inputs"]["load"]["data"]
    manifest["inputs"]["load"]["reference"] = str(secret)
    manifest["inputs"]["files"] = {str(secret): "0" * 64, data_path: manifest["inputs"]["files"][data_path]}
    (copy / "manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(ValueError) as err:
        load_bundle_inputs(load_bundle(copy))
    assert "sha256 differs" in str(err.value) and "password" not in str(err.value)


# ------------------------------------------------------------------ where the inputs are, and how the toys were drawn
def test_a_forged_relative_path_cannot_make_the_loader_read_another_file(copy, tmp_path):
    # `inputs.relative` is one more place verify looks: the file found there is hashed before it is read
    secret = tmp_path / "secret.csv"
    secret.write_text("a,b,c,d\n1,2,3,4\n3,4,5,6\n5,6,7,8\n7,password-in-a-cell,1,2\n")
    manifest = read_manifest(copy)
    data_path = manifest["inputs"]["load"]["data"]
    manifest["inputs"]["load"]["data"] = "gone/data.csv"
    manifest["inputs"]["files"] = {**{p: d for p, d in manifest["inputs"]["files"].items() if p != data_path},
                                   "gone/data.csv": manifest["inputs"]["files"][data_path]}
    manifest["inputs"]["relative"] = {"gone/data.csv": {"to": "bundle", "path": str(secret)}}
    write_manifest(copy, manifest)
    with pytest.raises(ValueError) as err:
        load_bundle_inputs(load_bundle(copy), inputs_dir=tmp_path)
    assert "input file gone/data.csv has changed since the run (sha256 differs at" in str(err.value)
    assert "password" not in str(err.value)


@pytest.mark.parametrize("relative,message", [
    ({"to": "elsewhere", "path": "x.csv"}, "manifest field `inputs.relative` must map each input file to"),
    ({"to": "bundle", "path": 3}, "manifest field `inputs.relative` must map each input file to"),
    ({"to": "bundle", "path": "x.csv", "bytes": "12"}, "manifest field `inputs.relative` must map each input file to"),
])
def test_malformed_relative_inputs_are_one_line_errors(copy, capsys, relative, message):
    manifest = read_manifest(copy)
    manifest["inputs"]["relative"] = {next(iter(manifest["inputs"]["files"])): relative}
    write_manifest(copy, manifest)
    fails(["verify", str(copy)], capsys, message)
    fails(["show", str(copy)], capsys, message)


def test_poisson_toys_are_recorded_and_verified(tmp_path, capsys):
    rng = np.random.default_rng(2)
    reference, data = rng.normal(size=(400, 3)), rng.normal(size=(60, 3))
    data[:8] = rng.normal(loc=1.5, scale=0.1, size=(8, 3))
    model = SparKer(n_kernels=3, sigma_final=1.0, max_epochs=20, seed=3).fit(reference, data, snapshot_every=5)
    result = model.calibrate(n_toys=6, method="reference", seed=4, poisson=True)
    out = save_bundle(tmp_path / "b", model, result, reference, data, {"load": {}, "files": {}},
                      extra={"calibration_seed": 4}, poisson=True)
    assert read_manifest(out)["result"]["poisson"] is True
    passed = verify_bundle(out, reference, data, n_toys=6, toy_seed=0)
    assert "6 of 6 toys retrained (0, 1, 2, 3, 4, 5; toy seed 0, Poisson pseudo-data sizes): their t match null.npy" in passed
    manifest = read_manifest(out)
    manifest["result"]["poisson"] = False  # the toys were not drawn so: retraining them shows it
    write_manifest(out, manifest)
    with pytest.raises(ValueError, match="null.npy toy"):
        verify_bundle(out, reference, data, n_toys=6, toy_seed=0)
    manifest["result"]["poisson"] = "yes"
    write_manifest(out, manifest)
    with pytest.raises(ValueError, match=r"manifest field `result.poisson` must be true or false; got \"yes\"."):
        load_bundle(out)
