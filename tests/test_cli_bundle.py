"""The `sparker` command line and the result bundle: run, show, verify, tampering, bad input."""

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from sparker_core.bundle import FILES, load_bundle
from sparker_core.cli import main

FAST = ["--n-kernels", "3", "--epochs", "40", "--n-toys", "19", "--quiet"]


def write_inputs(folder, seed=0, n_ref=800, n_data=200, d=4, bump=15):
    rng = np.random.default_rng(seed)
    reference = rng.normal(size=(n_ref, d))
    data = rng.normal(size=(n_data, d))
    data[:bump] = rng.normal(loc=1.7, scale=0.1, size=(bump, d))
    names = [str(i) for i in range(d)]
    ref_df = pd.DataFrame(reference, columns=names).assign(text=[f"background {i}" for i in range(n_ref)])
    data_df = pd.DataFrame(data, columns=names).assign(
        text=[f"{'anomaly' if i < bump else 'background'} {i}" for i in range(n_data)]
    )
    ref_path, data_path = folder / "reference.csv", folder / "data.csv"
    ref_df.to_csv(ref_path, index=False)
    data_df.to_csv(data_path, index=False)
    return ref_path, data_path


@pytest.fixture(scope="module")
def finished_run(tmp_path_factory):
    folder = tmp_path_factory.mktemp("run")
    return folder, *run_on_inputs(folder)


def run_on_inputs(folder, fast=FAST):
    """(reference path, data path, bundle) of ``sparker run`` on ``write_inputs``' files in ``folder``."""
    ref_path, data_path = write_inputs(folder)
    out = folder / "bundle"
    assert main(["run", "--reference", str(ref_path), "--data", str(data_path), "--out", str(out), *fast]) == 0
    return ref_path, data_path, out


def test_run_writes_a_complete_bundle(finished_run):
    _, ref_path, data_path, out = finished_run
    assert sorted(p.name for p in out.iterdir()) == sorted([*FILES, "manifest.json"])
    bundle = load_bundle(out)
    m = bundle.manifest
    assert m["sizes"] == {"reference": 800, "data": 200, "features": 4}
    assert m["params"]["n_kernels"] == 3 and m["seeds"]["fit"] == 0
    assert set(m["inputs"]["files"]) == {str(ref_path), str(data_path)}
    assert m["result"]["n_toys"] == 19 and bundle.result.n_toys == 19
    assert bundle.result.pvalue == pytest.approx(m["result"]["pvalue"])
    assert m["result"]["pvalue"] == pytest.approx(1 / 20)  # the planted bump beats every toy
    assert len(bundle.kernels) == 3 and len(bundle.history) == 5  # epochs 0, 10, 20, 30, 40
    # the default fits three final widths; the bundle keeps the scale with the smallest p and every scale's t and toys
    # rows: the combined statistic, the three widths, the companion test
    assert len(m["result"]["scales"]) == 3 and np.load(out / "null.npy").shape == (5, 19)
    assert m["result"]["companion"]["label"].startswith("fixed-centre companion")
    shown = m["result"]["scale"]
    assert m["result"]["scales"][shown]["pvalue"] == min(s["pvalue"] for s in m["result"]["scales"])
    assert bundle.history[-1].t == pytest.approx(m["result"]["t_fit"]) == pytest.approx(m["result"]["scales"][shown]["t_obs"])
    points = bundle.points
    assert len(points) == 1000 and set(points["split"]) == {"reference", "data"}
    data_points = points[points["split"] == "data"]
    assert data_points["text"].iloc[0] == "anomaly 0"  # metadata travels with the points
    assert data_points["score"].iloc[:15].mean() > data_points["score"].iloc[15:].mean() + 1.0


def test_run_prints_summary_with_exemplar_metadata(tmp_path, capsys):
    ref_path, data_path = write_inputs(tmp_path)
    main(["run", "--reference", str(ref_path), "--data", str(data_path), "--out", str(tmp_path / "b"), *FAST])
    out = capsys.readouterr().out
    assert "min-p statistic over 3 width(s) and the companion test =" in out and "p = 0.05" in out and "Z =" in out and "<- shown below" in out
    assert "fixed-centre companion (200 kernels" in out
    assert "anomaly" in out  # the top kernel's exemplars are the planted rows, shown by their text


def test_show_reprints_the_summary(finished_run, capsys):
    *_, out = finished_run
    assert main(["show", str(out)]) == 0
    text = capsys.readouterr().out
    assert "min-p statistic over 3 width(s) and the companion test =" in text and "regions, excesses first" in text and "anomaly" in text


def test_verify_passes_on_an_untouched_bundle(finished_run, capsys):
    *_, out = finished_run
    assert main(["verify", str(out)]) == 0
    text = capsys.readouterr().out
    assert "combined min-p statistic of 3 scales and the companion test recomputed" in text and "t of the saved kernels recomputed" in text


def copy_bundle(out, target):
    import shutil

    shutil.copytree(out, target)
    return target


@pytest.mark.parametrize("damage", ["edit_null", "delete_points", "truncate_kernels", "edit_t_obs", "edit_pvalue", "edit_scale_t",
                                    "edit_t_fit", "bad_json"])
def test_verify_fails_on_a_tampered_bundle(finished_run, tmp_path, capsys, damage):
    *_, out = finished_run
    bundle = copy_bundle(out, tmp_path / "copy")
    if damage == "edit_null":
        null = np.load(bundle / "null.npy")
        np.save(bundle / "null.npy", null * 0.5)
    elif damage == "delete_points":
        (bundle / "points.parquet").unlink()
    elif damage == "truncate_kernels":
        raw = (bundle / "kernels.parquet").read_bytes()
        (bundle / "kernels.parquet").write_bytes(raw[: len(raw) // 2])
    elif damage in ("edit_t_obs", "edit_pvalue"):
        manifest = json.loads((bundle / "manifest.json").read_text())
        key = "t_obs" if damage == "edit_t_obs" else "pvalue"
        manifest["result"][key] *= 1.5
        (bundle / "manifest.json").write_text(json.dumps(manifest))
    elif damage in ("edit_scale_t", "edit_t_fit"):
        manifest = json.loads((bundle / "manifest.json").read_text())
        if damage == "edit_scale_t":
            manifest["result"]["scales"][0]["t_obs"] += 50.0
        else:
            manifest["result"]["t_fit"] *= 1.5
        (bundle / "manifest.json").write_text(json.dumps(manifest))
    else:
        (bundle / "manifest.json").write_text("{not json")
    assert main(["verify", str(bundle)]) != 0
    err = capsys.readouterr().err.strip()
    assert err.startswith("error:") and "\n" not in err


def test_verify_fails_when_an_input_changed(finished_run, tmp_path, capsys):
    folder, ref_path, data_path, out = finished_run
    original = data_path.read_bytes()
    try:
        data_path.write_bytes(original.replace(b"anomaly 3", b"anomaly 4"))
        assert main(["verify", str(out)]) != 0
        assert "has changed since the run" in capsys.readouterr().err
    finally:
        data_path.write_bytes(original)


def test_one_file_with_label_column(tmp_path):
    ref_path, data_path = write_inputs(tmp_path)
    both = pd.concat([pd.read_csv(ref_path).assign(role=0), pd.read_csv(data_path).assign(role=1)])
    both.to_csv(tmp_path / "both.csv", index=False)
    out = tmp_path / "labelled"
    code = main(["run", "--reference", str(tmp_path / "both.csv"), "--label-column", "role",
                 "--reference-value", "0", "--data-value", "1", "--out", str(out), *FAST])
    assert code == 0
    assert load_bundle(out).manifest["sizes"] == {"reference": 800, "data": 200, "features": 4}


@pytest.mark.parametrize(
    "args,message",
    [
        (["--reference", "missing.csv", "--data", "missing.csv"], "does not exist"),
        (["--reference", "REF", "--data", "REF", "--n-kernels", "0"], "`n_kernels` must be an integer >= 1; got 0."),
        (["--reference", "REF", "--data", "REF", "--fixed-kernels", "-1"], "`fixed_kernels` must be an integer >= 0; got -1."),
        (["--reference", "REF", "--data", "REF", "--method", "bootstrap"], "`--method` must be one of"),
        (["--reference", "REF", "--data", "REF", "--n-toys", "0"], "`--n-toys` must be an integer >= 1; got 0."),
        (["--reference", "REF"], "give either `--data PATH` or `--label-column COL`"),
        (["--reference", "REF", "--data", "REF", "--n-kernels", "abc"], "invalid int value"),
        (["--reference", "REF", "--data", "REF", "--out", "EXISTING"], "already exists and is not an empty folder"),
        (["--sample", "nope"], "`--sample` must be one of"),
    ],
)
def test_run_errors_are_one_line_and_write_nothing(tmp_path, capsys, args, message):
    ref_path, _ = write_inputs(tmp_path)
    existing = tmp_path / "existing"
    existing.mkdir()
    (existing / "keep.txt").write_text("user file")
    out = tmp_path / "out"
    args = [str(ref_path) if a == "REF" else str(existing) if a == "EXISTING" else a for a in args]
    if "--out" not in args:
        args += ["--out", str(out)]
    code = main(["run", *args, "--quiet"])
    err = capsys.readouterr().err.strip()
    assert code != 0 and err.startswith("error:") and "\n" not in err
    assert message in err
    assert not out.exists()
    assert (existing / "keep.txt").read_text() == "user file" and len(list(existing.iterdir())) == 1
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".out.")]  # no staging left behind


def test_show_and_verify_on_missing_bundle(tmp_path, capsys):
    assert main(["show", str(tmp_path / "nothing")]) != 0
    assert main(["verify", str(tmp_path / "nothing")]) != 0
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 2 and all("does not exist" in line for line in lines)


def test_installed_entry_point_runs_without_traceback(tmp_path):
    # the `sparker` script pip installs beside this interpreter (requirements.txt installs the project)
    script = Path(sys.executable).parent / "sparker"
    assert script.is_file(), f"no installed `sparker` entry point at {script}"
    for command in ([str(script), "show", str(tmp_path / "none")], [sys.executable, "-m", "sparker_core", "show", str(tmp_path / "none")]):
        result = subprocess.run(command, capture_output=True, text=True)
        assert result.returncode == 2
        assert result.stderr.count("\n") == 1 and "does not exist" in result.stderr and "Traceback" not in result.stderr


def test_run_on_a_bundled_sample_writes_to_a_fresh_default_folder(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    assert main(["run", "--sample", "bump", *FAST]) == 0
    (folder,) = (tmp_path / "sparker-runs").iterdir()
    assert folder.name.startswith("bump-")
    bundle = load_bundle(folder)
    assert bundle.manifest["inputs"]["load"]["vector_column"] == "embedding"
    assert main(["verify", str(folder)]) == 0  # the recorded sample file is reloaded and matches
    assert "verified" in capsys.readouterr().out


# ------------------------------------------------------------------ exemplars of the top excess regions, whatever the data are
def summary_regions(text):
    """The region table of a printed summary: (kind, lines printed under the row) per kernel."""
    lines = text[text.index("regions, excesses first"):].splitlines()[2:]
    regions = []
    for line in lines:
        if not line.strip() or line.startswith("("):
            break
        if line[:6].strip().isdigit():
            regions.append((line.split()[1], []))
        else:
            regions[-1][1].append(line)
    return regions


def check_ranking(regions):
    kinds = [kind for kind, _ in regions]
    assert kinds[0] == "excess" and kinds == sorted(kinds, key=lambda k: {"excess": 0, "deficit": 1, "inactive": 2}[k])
    for kind, shown in regions:
        assert bool(shown) == (kind == "excess"), (kind, shown)  # exemplars under excesses only (the top 3)


def test_summary_shows_text_exemplars_of_excess_regions(finished_run, capsys):
    *_, out = finished_run
    assert main(["show", str(out)]) == 0
    text = capsys.readouterr().out
    assert "exemplars of the top 3 excesses as text" in text
    regions = summary_regions(text)
    check_ranking(regions)
    assert all(line.strip().startswith("- anomaly") for line in regions[0][1])


def test_summary_shows_coordinates_of_plain_numeric_data(tmp_path, capsys):
    ref_path, data_path = write_inputs(tmp_path)
    for path in (ref_path, data_path):
        np.save(path.with_suffix(".npy"), pd.read_csv(path).drop(columns="text").to_numpy())
    out = tmp_path / "b"
    assert main(["run", "--reference", str(ref_path.with_suffix(".npy")), "--data", str(data_path.with_suffix(".npy")),
                 "--out", str(out), *FAST]) == 0
    text = capsys.readouterr().out
    assert "exemplars of the top 3 excesses as coordinates" in text
    regions = summary_regions(text)
    check_ranking(regions)
    (line,) = regions[0][1]
    center = load_bundle(out).kernels["center"].iloc[0]
    assert line.strip().startswith(f"centre ({center[0]:.3g}, {center[1]:.3g}, {center[2]:.3g}, {center[3]:.3g}); nearest data rows ")
    rows = [int(r) for r in line.split("nearest data rows ")[1].split(", ")]
    assert len(rows) == 3 and all(r < 15 for r in rows)  # the planted bump's rows
    assert main(["run", "--reference", str(ref_path.with_suffix(".npy")), "--data", str(data_path.with_suffix(".npy")),
                 "--out", str(tmp_path / "png"), "--png", str(tmp_path / "x.png"), *FAST]) == 2
    err = capsys.readouterr().err.strip()
    assert err == ("error: `--png` needs image rows (square non-negative pixels, at least 8x8, or a metadata column of "
                   "them); these data have none.")
    assert not (tmp_path / "png").exists() and not (tmp_path / "x.png").exists()


def read_png(path):
    """An 8-bit greyscale PNG as an array, decoded by hand (filter type 0 on every row, as written)."""
    import struct
    import zlib

    raw = path.read_bytes()
    assert raw[:8] == b"\x89PNG\r\n\x1a\n"
    chunks, at = {}, 8
    while at < len(raw):
        (length,), tag = struct.unpack(">I", raw[at:at + 4]), raw[at + 4:at + 8]
        chunks[tag] = chunks.get(tag, b"") + raw[at + 8:at + 8 + length]
        at += 12 + length
    width, height, depth, colour = struct.unpack(">IIBB", chunks[b"IHDR"][:10])
    assert (depth, colour) == (8, 0)
    rows = np.frombuffer(zlib.decompress(chunks[b"IDAT"]), dtype=np.uint8).reshape(height, width + 1)
    assert (rows[:, 0] == 0).all()
    return rows[:, 1:]


def test_summary_draws_digit_images_as_ascii_art_and_png(tmp_path, capsys):
    from sklearn.datasets import load_digits

    from sparker_core.summary import ASCII_RAMP, png_grid

    digits = load_digits()
    others = digits.data[digits.target != 0]
    reference, data = others[:1200], np.concatenate([digits.data[digits.target == 0][:60], others[1200:]])
    np.save(tmp_path / "reference.npy", reference)
    np.save(tmp_path / "data.npy", data)
    out, png = tmp_path / "b", tmp_path / "regions.png"
    assert main(["run", "--reference", str(tmp_path / "reference.npy"), "--data", str(tmp_path / "data.npy"),
                 "--out", str(out), "--png", str(png), *FAST]) == 0
    text = capsys.readouterr().out
    assert "exemplars of the top 3 excesses as images" in text and f"written to {png}" in text
    regions = summary_regions(text)
    check_ranking(regions)
    kernels = load_bundle(out).kernels
    header, *art = regions[0][1]
    nearest = [int(i) for i in kernels["exemplars_nearest"].iloc[0]]
    assert header.strip() == f"data rows {', '.join(map(str, nearest[:3]))} (nearest the centre):"
    assert len(art) == 8 and all(set(line) <= set(ASCII_RAMP) for line in art)  # 8x8 pixels, two characters each
    assert sum(i < 60 for i in nearest) > len(nearest) / 2  # the held-out zeros
    # the first image's top row, pixel by pixel: value / 16 (the data's maximum) on the ramp
    first = np.round(data[nearest[0]].reshape(8, 8)[0] / data.max() * 9).astype(int)
    assert art[0].strip("\n")[8:8 + 16] == "".join(ASCII_RAMP[v] * 2 for v in first)
    excess = kernels[kernels["kind"] == "excess"].head(3)
    expected = png_grid([data.reshape(-1, 8, 8)[list(rows)] for rows in excess["exemplars_nearest"]], data.max())
    np.testing.assert_array_equal(read_png(png), expected)
    assert main(["show", str(out)]) == 0  # show reloads the inputs to draw them
    assert summary_regions(capsys.readouterr().out)[0][1] == [header, *art]
