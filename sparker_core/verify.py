"""Re-checking a result bundle from its inputs: ``verify_bundle`` and ``load_bundle_inputs``.

``load_bundle`` (sparker_core.bundle) already checks the manifest's fields, the files' sha256 and
every number of the result against null.npy. ``verify_bundle`` recomputes the rest from the inputs,
the parameters and the seeds: t of the saved kernels, the fit itself (kernels, history, tables), the
observed t of every width, and a few null toys drawn at random, so a forged file whose hash was
updated in the manifest is caught too.
"""

from __future__ import annotations

import io
import json
import math
import os
from dataclasses import asdict
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from .bundle import (
    _OWN_COLUMNS,
    ResultBundle,
    _history_arrays,
    _kernels_table,
    _model_arrays,
    _points_table,
    check_folder,
    load_bundle,
    sha256_file,
)
from .calibration import observed_statistics, scale_labels, toy_statistics
from .estimator import SparKer
from .kernels import augment_pool, evaluate
from .readers import MAX_FILE_BYTES
from .samples import SAMPLE_DIR
from .loss import np_loss, role_weights, t_from_loss
from .manifest import recorded_params

# `inputs.load` settings a manifest may hold: those the command line (`sparker run`, `--sample`) sets.
# The loader's size limits (max_bytes, max_expanded_bytes) are not among them: a manifest cannot lift them.
LOAD_KEYS = ("reference", "data", "label_column", "reference_value", "data_value", "key", "vector_column",
             "features", "ignore")
LIST_LOAD_KEYS = ("features", "ignore")  # lists of column names (`--features`, `--ignore`)
# Tolerances of verify_bundle for what it retrains (kernels, amplitudes, t, loss, f, toys' t): training
# runs in float32 and is bit-for-bit repeatable on one machine and torch version (measured difference 0);
# another CPU, BLAS or torch version reorders float32 sums (relative error ~1e-6 a step, compounded over
# the epochs), which these bounds absorb, while any edit a reader could notice (0.1 in t, 1e-3 in a
# centre in units of the data's spread) fails. Numbers derived in float64 from saved values (p, Z, the
# interval, the combined statistic) must agree to RECOMPUTE_RTOL; the gamma tail fit, refitted with
# the installed scipy, to TAIL_RTOL.
REFIT_RTOL, REFIT_ATOL = 1e-3, 1e-3
DEFAULT_VERIFY_TOYS = 3


def check_load_settings(load: dict, where: str) -> None:
    """`inputs.load` holds only what the command line can set (LOAD_KEYS), as strings, in a valid combination."""
    for key, value in load.items():
        if key not in LOAD_KEYS:
            raise ValueError(f"{where}: manifest field `inputs.load.{key}` is not a loader setting the command line "
                             f"allows ({', '.join(LOAD_KEYS)}).")
        if key in LIST_LOAD_KEYS:
            if not isinstance(value, list) or not value or not all(isinstance(v, str) for v in value):
                raise ValueError(f"{where}: manifest field `inputs.load.{key}` must be a non-empty list of column names; "
                                 f"got {json.dumps(value)[:40]}.")
        elif not isinstance(value, str):
            raise ValueError(f"{where}: manifest field `inputs.load.{key}` must be a string; got {json.dumps(value)[:40]}.")
    if "reference" not in load:
        raise ValueError(f"{where}: manifest field `inputs.load.reference` is missing.")
    if ("data" in load) == ("label_column" in load):
        raise ValueError(f"{where}: manifest field `inputs.load` must hold either `data` or `label_column`; got {sorted(load)}.")
    values = {"reference_value", "data_value"} & set(load)
    if "label_column" in load and len(values) < 2 or "data" in load and values:
        raise ValueError(f"{where}: manifest field `inputs.load` must hold `reference_value` and `data_value` exactly "
                         f"when it holds `label_column`; got {sorted(load)}.")


def locate_input(recorded: str, digest: str, relative: dict | None, bundle_dir: Path, inputs_dir=None) -> str:
    """Where the input file ``recorded`` (its path as given to the run) is now: the first of its path
    relative to the bundle (or sample_data/, per ``relative``, the manifest's `inputs.relative` entry),
    ``recorded`` itself, and ``inputs_dir / its name`` that is a file of the recorded size and sha256.
    Every candidate is hashed before any parser sees it: a manifest cannot make the loader read, and
    quote in its errors, a file other than the one the run used (the dashboard opens bundles)."""
    relative = relative or {}
    base = SAMPLE_DIR if relative.get("to") == "samples" else bundle_dir
    candidates = ([base / relative["path"]] if "path" in relative else []) + [Path(recorded)]
    candidates += [Path(inputs_dir) / Path(recorded).name] if inputs_dir else []
    looked, rejected = [], None
    for path in map(Path, map(os.path.abspath, candidates)):  # absolute and without `..`, as errors name them
        if str(path) in looked:
            continue
        looked.append(str(path))
        if not path.is_file():
            continue
        size = path.stat().st_size
        if size > MAX_FILE_BYTES:
            rejected = rejected or f"input file {recorded} recorded in the bundle is over the {MAX_FILE_BYTES:,}-byte limit at {path}."
        elif size != relative.get("bytes", size) or sha256_file(path) != digest:
            rejected = rejected or f"input file {recorded} has changed since the run (sha256 differs at {path})."
        else:
            return str(path)
    if rejected:
        raise ValueError(rejected)
    hint = "" if inputs_dir else "; `--inputs DIR` names a folder that holds it"
    raise ValueError(f"input file {recorded} recorded in the bundle is missing (looked for {', '.join(looked)}){hint}.")


def load_bundle_inputs(bundle: ResultBundle, inputs_dir=None):
    """Reload the inputs a bundle records (``EmbeddingPair``), each found by ``locate_input`` (relative to
    the bundle, as recorded, or in ``inputs_dir``); ValueError when a file is missing or changed, or when
    `inputs.load` holds a setting the command line could not have given."""
    from .loaders import load_pair

    where = f"bundle {bundle.path}"
    inputs = bundle.manifest["inputs"]
    load, recorded = inputs["load"], inputs["files"]
    check_load_settings(load, where)
    reads = {load["reference"], *([load["data"]] if "data" in load else [])}
    if reads != set(recorded):
        raise ValueError(f"{where}: manifest field `inputs.files` lists {sorted(recorded)}, but `inputs.load` reads {sorted(reads)}.")
    found = {path: locate_input(path, digest, inputs.get("relative", {}).get(path), bundle.path, inputs_dir)
             for path, digest in recorded.items()}
    pair = load_pair(**{key: found.get(value, value) if key in ("reference", "data") else value for key, value in load.items()})
    expected = {found[path]: digest for path, digest in recorded.items()}
    if pair.files != expected:
        raise ValueError(f"{where}: input files {sorted(found.values())} have changed while they were read (sha256 differs).")
    return pair


# ------------------------------------------------------------------------------------ recomputing
def recompute_t(bundle: ResultBundle, reference: np.ndarray, data: np.ndarray) -> np.ndarray:
    """t = -2 L computed afresh (float64) from the inputs, in one pass: of the shown kernels, then of
    every scale's saved kernels: array of shape (1 + n_scales,)."""
    config = bundle.manifest["config"]
    pool = augment_pool([reference, data], bundle.mean, bundle.scale, torch.float64, "cpu")
    centers = torch.as_tensor(np.concatenate([bundle.centers[None], bundle.scale_centers]), dtype=torch.float64)  # (K, M, d)
    amplitudes = torch.as_tensor(np.concatenate([bundle.amplitudes[None], bundle.scale_amplitudes]), dtype=torch.float64)
    sigma = torch.as_tensor(np.r_[bundle.sigma, bundle.scale_sigmas], dtype=torch.float64)  # (K,)
    f = evaluate(pool, centers, amplitudes, sigma, config["temperature"], config["competition"])  # (N, K)
    a, b = role_weights(reference.shape[0], data.shape[0])
    k = centers.shape[0]
    loss = np_loss(f.T, torch.as_tensor(a)[:, None].expand(-1, k), torch.as_tensor(b)[:, None].expand(-1, k))
    return np.atleast_1d(t_from_loss(loss.numpy()))


def refit(bundle: ResultBundle, reference: np.ndarray, data: np.ndarray) -> SparKer:
    """The fit redone on the CPU from the manifest's parameters (seed included), showing the saved scale."""
    where = f"bundle {bundle.path}"
    epochs = [s.epoch for s in bundle.history]
    try:
        model = SparKer(**{**recorded_params(bundle.manifest), "device": "cpu"})
        model.fit(reference, data, snapshot_every=max(1, epochs[1] - epochs[0]) if len(epochs) > 1 else 10)
    except (TypeError, ValueError) as err:
        raise ValueError(f"{where}: refitting from manifest field `params` failed: {err}".splitlines()[0]) from None
    n_scales = max(1, len(bundle.manifest["result"]["scales"]))
    if len(model.scale_snapshots_) != n_scales or bundle.scale_sigmas.shape != (n_scales,):
        raise ValueError(f"{where}: manifest field `params` gives {len(model.scale_snapshots_)} widths; the result holds {n_scales}.")
    if bundle.manifest["result"]["scale"] is not None:
        model.show_scale(bundle.manifest["result"]["scale"])
    return model


def _compare(where: str, what: str, saved, fresh, rtol: float = REFIT_RTOL, atol: float = REFIT_ATOL) -> None:
    saved, fresh = np.asarray(saved, dtype=float), np.asarray(fresh, dtype=float)
    if saved.shape != fresh.shape:
        raise ValueError(f"{where}: {what} has shape {saved.shape}; recomputed it has {fresh.shape}.")
    bad = np.flatnonzero(~np.isclose(fresh, saved, rtol=rtol, atol=atol, equal_nan=True))
    if bad.size:
        i = bad[0]
        raise ValueError(f"{where}: {what} differs from its recomputation at {np.unravel_index(i, saved.shape)}: "
                         f"{saved.flat[i]:.6g} saved, {fresh.flat[i]:.6g} recomputed (rtol {rtol:g}, atol {atol:g}).")


def _compare_frame(where: str, name: str, saved: pd.DataFrame, fresh: pd.DataFrame) -> None:
    """Column by column: floats to the refit tolerance, everything else (ints, text, index lists) exactly."""
    buffer = io.BytesIO()
    fresh.to_parquet(buffer, index=False)  # through parquet, so both sides have the same dtypes
    fresh = pd.read_parquet(io.BytesIO(buffer.getvalue()))
    if list(saved.columns) != list(fresh.columns) or len(saved) != len(fresh):
        raise ValueError(f"{where}: {name} has columns {list(saved.columns)[:8]} and {len(saved)} rows; "
                         f"recomputed it has {list(fresh.columns)[:8]} and {len(fresh)}.")
    for column in saved.columns:
        what = f"{name} column {column!r}"
        a, b = saved[column].to_numpy(), fresh[column].to_numpy()
        if a.dtype.kind == "f" or b.dtype.kind == "f":
            _compare(where, what, a, b)
            continue
        for row, (x, y) in enumerate(zip(a, b)):
            if isinstance(x, np.ndarray) or isinstance(y, np.ndarray):
                x, y = np.asarray(x), np.asarray(y)
                if x.dtype.kind == "f" or y.dtype.kind == "f":
                    _compare(where, f"{what} row {row}", x, y)
                    continue
                same = x.shape == y.shape and np.array_equal(x, y)
            else:
                same = x == y or (_is_missing(x) and _is_missing(y))
            if not same:
                raise ValueError(f"{where}: {what} row {row} is {str(x)[:40]!r} saved, {str(y)[:40]!r} recomputed.")


def _is_missing(value) -> bool:
    return value is None or (isinstance(value, float) and math.isnan(value))


def verify_bundle(path, reference: np.ndarray | None = None, data: np.ndarray | None = None, rtol: float = 1e-4,
                  n_toys: int = DEFAULT_VERIFY_TOYS, toy_seed: int | None = None, metadata=None,
                  inputs_dir=None) -> list[str]:
    """Recompute everything a bundle states from what it derives from; returns the checks that passed and
    raises one ValueError at the first failure.

    reference, data: the inputs (arrays of shape (n, n_features)); when omitted they are reloaded from the
    recorded files (``load_bundle_inputs``, which also looks in ``inputs_dir``), with their metadata. metadata: (reference, data) metadata
    frames when the inputs are given, for the metadata columns of points.parquet (else only its own
    columns are checked). n_toys: how many null toys to retrain, drawn at random with ``toy_seed``
    (a fresh seed when None; the passed line says which). The refit costs one fit, and each toy
    one fit per width, on the CPU.
    """
    bundle = load_bundle(path)
    m, res = bundle.manifest, bundle.manifest["result"]
    where = f"bundle {bundle.path}"
    passed = ["manifest fields and file hashes",
              f"p, its interval, Z and the tail fit recomputed from null.npy and t_obs ({bundle.result.n_toys} toys)"]
    if res["scales"]:
        combine = res["method"].partition("+")[2].replace("minp", "min-p")
        companion = " and the companion test" if res.get("companion") else ""
        passed.append(f"combined {combine} statistic of {len(res['scales'])} scales{companion} recomputed from their t and toys")
    check_folder(bundle.path, m)
    passed.append("the folder holds exactly the bundle's files")
    if reference is None or data is None:
        pair = load_bundle_inputs(bundle, inputs_dir)
        reference, data, metadata = pair.reference, pair.data, (pair.reference_metadata, pair.data_metadata)
        passed.append("input files match their recorded sha256; loader settings are the command line's")
    sizes = {"reference": int(reference.shape[0]), "data": int(data.shape[0]), "features": int(reference.shape[1])}
    if m["sizes"] != sizes:
        raise ValueError(f"{where}: manifest field `sizes` is {m['sizes']}; the inputs are {sizes}.")

    shown, *t_kernels = recompute_t(bundle, reference, data)
    model = refit(bundle, reference, data)
    _compare(where, "t of the saved kernels (float64)", res["t_fit"], shown, rtol, 1e-6)
    _compare(where, "t of every scale's saved kernels (float64)", model.t_scales_, t_kernels, rtol, 1e-6)
    passed.append(f"t of the saved kernels recomputed from the inputs ({shown:.6g})")

    _compare(where, "manifest field `result.t_fit`", res["t_fit"], model.t_obs_)
    for name, value in _model_arrays(model).items():
        _compare(where, f"model.npz {name}", getattr(bundle, name), value)
    for name, value in _history_arrays(model.history_).items():
        _compare(where, f"history.npz {name}", np.stack([getattr(s, name) for s in bundle.history]), value)
    fresh_config = asdict(model.config_)
    if set(fresh_config) != set(m["config"]):
        raise ValueError(f"{where}: manifest field `config` has keys {sorted(m['config'])}; the refit's are {sorted(fresh_config)}.")
    for key, value in fresh_config.items():
        if isinstance(value, float):
            _compare(where, f"manifest field `config.{key}`", m["config"][key], value)
        elif m["config"][key] != value:
            raise ValueError(f"{where}: manifest field `config.{key}` is {m['config'][key]!r}; the refit's is {value!r}.")
    labels = scale_labels(model)
    if res["scales"] and [s["label"] for s in res["scales"]] != labels:
        raise ValueError(f"{where}: manifest field `result.scales` labels {[s['label'] for s in res['scales']]} are not "
                         f"the refit's widths {labels}.")
    passed.append(f"kernels, history and config refitted from the inputs, `params` and seed {m['seeds']['fit']}")

    kernels = model.explain()
    _compare_frame(where, "kernels.parquet", bundle.kernels, _kernels_table(kernels))
    ref_meta, data_meta = metadata if metadata is not None else (None, None)
    points = _points_table(model, kernels, ref_meta, data_meta, reference, data)
    saved_points = bundle.points if metadata is not None else bundle.points[list(_OWN_COLUMNS)]
    _compare_frame(where, "points.parquet", saved_points, points)
    passed.append("kernels.parquet and points.parquet recomputed from the refit")

    method = res["scales"][0]["method"] if res["scales"] else res["method"]
    seed = m["seeds"]["calibration"]
    needs_seed = n_toys > 0 or method != "permutation"
    if needs_seed and seed is None:
        raise ValueError(f"{where}: manifest field `seeds.calibration` is null, so the toys cannot be recomputed "
                         "(verify with 0 toys to skip them).")
    observed = observed_statistics(model, method, seed)
    saved_observed = [s["t_obs"] for s in res["scales"]] if res["scales"] else [res["t_obs"]]
    saved_observed += [res["companion"]["t_obs"]] if res.get("companion") else []
    _compare(where, "manifest field `result.scales[*].t_obs`" if res["scales"] else "manifest field `result.t_obs`",
             saved_observed, observed)
    companion = " and of the fixed-centre companion test" if res.get("companion") else ""
    passed.append(f"observed t of {len(res['scales']) or 1} width(s){companion} recomputed ({method} method)")

    null = np.load(bundle.path / "null.npy", allow_pickle=False)
    null = null[1:] if null.ndim == 2 else null[None]  # (n_scales, n_toys): each scale's toys
    k = min(int(n_toys), null.shape[1])
    if k > 0:
        toy_seed = int(np.random.SeedSequence().entropy % 2**31) if toy_seed is None else int(toy_seed)
        picked = np.sort(np.random.default_rng(toy_seed).choice(null.shape[1], k, replace=False))
        fresh = toy_statistics(model, [int(i) for i in picked], method, seed, res.get("poisson", False))
        for j, i in enumerate(picked):
            _compare(where, f"null.npy toy {i}", null[:, i], fresh[:, j])
        poisson = ", Poisson pseudo-data sizes" if res.get("poisson", False) else ""
        passed.append(f"{k} of {null.shape[1]} toys retrained ({', '.join(map(str, picked))}; toy seed {toy_seed}{poisson}): "
                      "their t match null.npy")
    return passed
