"""The result bundle: one folder that holds a run, to reopen, share and re-verify.

Files (no pickle anywhere):
    manifest.json    config, seeds, versions, input files and their sha256, t_obs, p, Z, CI,
                     and the sha256 of every other file of the bundle
    null.npy         null statistics of the toys, float64: shape (n_toys,) for one width; for a
                     multi-scale fit (1 + n_scales [+ 1], n_toys), the combined statistic in row 0,
                     each scale's t below it and the companion test's t last (when it ran), so
                     verify recomputes the combination
    model.npz        the fitted kernels of the shown scale in working space (centres, amplitudes,
                     sigma), those of every scale (scale_centers, scale_amplitudes, scale_sigmas),
                     and the preprocessing (mean, scale): enough to recompute every t from the inputs
    history.npz      snapshots of training (epoch, sigma, loss, t, centres, amplitudes), for replay
    kernels.parquet  the explain() table, one row per kernel
    points.parquet   every reference and data point: split, row, score f(x), kernel, metadata

manifest.json is written and checked field by field in ``sparker_core.manifest`` (strict JSON).
Nothing in a bundle is taken on trust: ``load_bundle``
recomputes every number of ``result`` from null.npy and t_obs, and ``sparker_core.verify.verify_bundle``
recomputes the rest (kernels, history, tables, t, some toys) from the inputs, the parameters and the seeds.
"""

from __future__ import annotations

import json
import math
import os
import platform
import shutil
import tempfile
import zipfile
from dataclasses import asdict, dataclass
from datetime import datetime, timezone
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from scipy import stats

from .calibration import (
    COMBINES,
    METHODS,
    MultiScaleResult,
    TestResult,
    combined_statistics,
    companion_statistics,
    make_result,
)
from .data import sha256_file
from .estimator import Snapshot
# FILES, check_files and check_folder are imported from here by verify.py, the CLI and the tests
from .manifest import FILES, FORMAT, FORMAT_VERSION, check_files, check_folder, jsonable, read_manifest, record_inputs

__all__ = ["FILES", "ResultBundle", "check_files", "check_folder", "format_zscore", "load_bundle",
           "save_bundle", "sha256_file"]

_OWN_COLUMNS = ("split", "row", "score", "kernel")
# Numbers derived in float64 from saved values (p, Z, the interval, the combined statistic) must
# agree to RECOMPUTE_RTOL; the gamma tail fit, refitted with the installed scipy, to TAIL_RTOL.
RECOMPUTE_RTOL, TAIL_RTOL = 1e-9, 1e-6


def format_zscore(z: float, spec: str = ".2f", bound: float | None = None) -> str:
    """Z as a summary prints it: ``format(z, spec)`` when finite, else what it means instead of -inf or nan.

    Z = Phi^-1(1 - p) is -inf when p = 1 (every toy at or above t_obs); ``bound``, Z at the lower
    end of the 95% interval of p, is then the value above which Z is unlikely.
    """
    if math.isfinite(z):
        return format(float(z), spec)
    if math.isnan(z):
        return "undefined (t_obs is not a number)"
    if z > 0:
        return "above 37.5 (p below 1e-308)"
    if bound is not None and math.isfinite(bound):
        return f"below {bound:.2f} at 95% (p = 1: every toy at or above t_obs)"
    return f"below {stats.norm.isf(1 - 2**-53):.1f} (p ~ 1)"


def _points_table(model, kernels: pd.DataFrame, reference_meta, data_meta, reference, data) -> pd.DataFrame:
    parts = []
    for split, meta, points, member_col in (
        ("reference", reference_meta, reference, "members_reference"),
        ("data", data_meta, data, "members_data"),
    ):
        n = points.shape[0]
        kernel = np.full(n, -1, dtype=np.int64)
        for row in kernels.itertuples():
            kernel[getattr(row, member_col)] = row.kernel
        own = pd.DataFrame({"split": split, "row": np.arange(n), "score": model.score_samples(points), "kernel": kernel})
        if meta is not None and len(meta.columns):
            meta = meta.reset_index(drop=True).rename(columns=lambda c: f"meta_{c}" if c in _OWN_COLUMNS else str(c))
            own = pd.concat([own, meta], axis=1)
        parts.append(own)
    return pd.concat(parts, ignore_index=True)


def _kernels_table(kernels: pd.DataFrame) -> pd.DataFrame:
    table = kernels.copy()
    for column in ("center", "exemplars_nearest", "exemplars_top_score", "members_data", "members_reference"):
        table[column] = table[column].map(lambda a: np.asarray(a).tolist())
    return table


def save_bundle(
    path,
    model,
    result: TestResult | MultiScaleResult,
    reference: np.ndarray,
    data: np.ndarray,
    inputs: dict,
    reference_metadata: pd.DataFrame | None = None,
    data_metadata: pd.DataFrame | None = None,
    extra: dict | None = None,
    poisson: bool = False,
) -> Path:
    """Write a bundle folder at ``path`` (which must not exist or be empty); returns the path.

    ``inputs`` describes how the inputs were loaded (``{"load": load_pair arguments, "files": {path: sha256}}``),
    so that ``verify_bundle`` can reload them; ``manifest.record_inputs`` rewrites the paths relative to
    the bundle folder, so a bundle moved or shared with its inputs still finds them. ``poisson``: the
    ``calibrate(poisson=)`` the toys were trained with, recorded so that verify retrains them alike. The folder is written under a temporary name and moved into
    place at the end: a failure leaves nothing at ``path``.
    """
    target = Path(path)
    if target.exists() and (not target.is_dir() or any(target.iterdir())):
        raise ValueError(f"`--out` {target} already exists and is not an empty folder; choose a new folder.")
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{target.name}.", dir=target.parent))
    try:
        kernels = model.explain()
        multi = isinstance(result, MultiScaleResult)
        companion = result.companion if multi else None
        null = [result.null_distribution] + ([r.null_distribution for r in result.per_config] if multi else [])
        null += [companion.null_distribution] if companion is not None else []
        np.save(staging / "null.npy", np.asarray(np.stack(null) if multi else null[0], dtype=np.float64), allow_pickle=False)
        np.savez(staging / "model.npz", **_model_arrays(model))
        np.savez(staging / "history.npz", **_history_arrays(model.history_))
        _kernels_table(kernels).to_parquet(staging / "kernels.parquet", index=False)
        _points_table(model, kernels, reference_metadata, data_metadata, reference, data).to_parquet(
            staging / "points.parquet", index=False
        )
        tail = result.tail_fit
        manifest = {
            "format": FORMAT,
            "format_version": FORMAT_VERSION,
            "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
            "versions": {
                "sparker_core": _package_version(),
                "torch": torch.__version__,
                "numpy": np.__version__,
                "python": platform.python_version(),
            },
            "params": model.get_params(),
            "config": asdict(model.config_),
            "seeds": {"fit": model.seed, "calibration": (extra or {}).get("calibration_seed")},
            "inputs": record_inputs(inputs, target),
            "sizes": {"reference": int(reference.shape[0]), "data": int(data.shape[0]), "features": int(reference.shape[1])},
            "result": {
                "t_obs": result.t_obs,
                "pvalue": result.pvalue,
                "pvalue_ci": list(result.pvalue_ci),
                "zscore": result.zscore,
                "n_toys": result.n_toys,
                "n_toys_requested": result.n_toys_requested,
                "method": result.method,
                "poisson": bool(poisson),
                "t_fit": model.t_obs_,  # t of the saved kernels (the shown scale)
                "scale": model.scale_ if multi else None,
                "scales": [{"label": r.label, "t_obs": r.t_obs, "pvalue": r.pvalue, "method": r.method} for r in result.per_config]
                if multi else [],
                "companion": None if companion is None else {
                    "label": companion.label, "t_obs": companion.t_obs, "pvalue": companion.pvalue, "method": companion.method},
                "extrapolated": None if tail is None else {
                    "note": "gamma fit of the null toys, extrapolated; not an empirical p-value",
                    "pvalue": tail.pvalue, "zscore": tail.zscore, "ks_pvalue": tail.ks_pvalue,
                    "shape": tail.shape, "loc": tail.loc, "scale": tail.scale,
                },
            },
            "extra": extra or {},
            "files": {name: sha256_file(staging / name) for name in FILES},
        }
        (staging / "manifest.json").write_text(json.dumps(jsonable(manifest), indent=2, allow_nan=False) + "\n")
        if target.exists():
            target.rmdir()
        os.replace(staging, target)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return target


def _model_arrays(model) -> dict:
    """model.npz: the shown and every scale's kernels in working space, and the preprocessing."""
    to_work = lambda centers: (centers - model.reference_mean_) / model.reference_scale_  # noqa: E731
    return {
        "centers": to_work(model.centers_),
        "amplitudes": model.amplitudes_,
        "sigma": np.array(model.sigma_),
        "scale_centers": np.stack([to_work(s.centers) for s in model.scale_snapshots_]),
        "scale_amplitudes": np.stack([s.amplitudes for s in model.scale_snapshots_]),
        "scale_sigmas": np.array([s.sigma for s in model.scale_snapshots_]),
        "mean": model.reference_mean_,
        "scale": model.reference_scale_,
    }


def _history_arrays(history) -> dict:
    """history.npz: the training snapshots of the shown scale, centres in input space."""
    return {
        "epoch": np.array([s.epoch for s in history]),
        "sigma": np.array([s.sigma for s in history]),
        "loss": np.array([s.loss for s in history]),
        "t": np.array([s.t for s in history]),
        "centers": np.stack([s.centers for s in history]),
        "amplitudes": np.stack([s.amplitudes for s in history]),
    }


def _package_version() -> str:
    from . import __version__

    return __version__


@dataclass(frozen=True)
class ResultBundle:
    """A saved run, as ``load_bundle`` returns it."""

    path: Path
    manifest: dict  # manifest.json as a dict
    result: TestResult | MultiScaleResult  # rebuilt from t_obs and the null toys
    kernels: pd.DataFrame  # the explain() table
    points: pd.DataFrame  # split, row, score, kernel and the metadata of every point
    history: tuple[Snapshot, ...]  # training snapshots, centres in input space
    centers: np.ndarray  # (M, d) working space
    amplitudes: np.ndarray  # (M,)
    sigma: float  # final width
    scale_centers: np.ndarray  # (n_scales, M, d) working space: the kernels of every fitted width
    scale_amplitudes: np.ndarray  # (n_scales, M)
    scale_sigmas: np.ndarray  # (n_scales,)
    mean: np.ndarray  # (d,) preprocessing: working space is (x - mean) / scale
    scale: np.ndarray  # (d,)


def _same(got, saved, rtol: float) -> bool:
    return bool(np.all(np.isclose(got, saved, rtol=rtol, atol=0.0, equal_nan=True)))


def _agree(where: str, field: str, saved, got, rtol: float = RECOMPUTE_RTOL) -> None:
    if not _same(got, saved, rtol):
        raise ValueError(f"{where}: manifest field `{field}` is {saved}, but recomputed from null.npy and t_obs it is {got}.")


def _rebuild_result(manifest: dict, null: np.ndarray, where: str) -> TestResult | MultiScaleResult:
    """The result recomputed from null.npy and the observed t with calibration's own functions; every
    number the manifest's ``result`` states is checked against it."""
    res = manifest["result"]
    scales, n, requested = res["scales"], res["n_toys"], res["n_toys_requested"]
    companion = res.get("companion")
    if companion is not None and not scales:
        raise ValueError(f"{where}: manifest field `result.companion` needs `result.scales`; a one-width result has none.")
    k = len(scales)
    shape = (1 + k + (companion is not None), n) if scales else (n,)
    if null.shape != shape:
        raise ValueError(f"{where}: null.npy has shape {null.shape}; `result.n_toys` and `result.scales` say {shape}.")
    if requested < n:
        raise ValueError(f"{where}: manifest field `result.n_toys_requested` ({requested}) is below `result.n_toys` ({n}).")
    method, _, combine = res["method"].partition("+")
    if method not in METHODS or (combine not in COMBINES if scales else combine):
        want = f"METHOD+COMBINE with METHOD in {METHODS} and COMBINE in {COMBINES}" if scales else f"one of {METHODS}"
        raise ValueError(f"{where}: manifest field `result.method` must be {want}; got {res['method']!r}.")
    if not scales:
        if res["scale"] is not None:
            raise ValueError(f"{where}: manifest field `result.scale` must be null for a one-width result; got {res['scale']}.")
        result = make_result(res["t_obs"], null, method, requested)
    else:
        t_scales = [s["t_obs"] for s in scales]
        if companion is None:
            stat, stat_null = combined_statistics(t_scales, null[1:], combine)
        else:
            stat, stat_null = companion_statistics(t_scales, null[1 : 1 + k], combine, companion["t_obs"], null[1 + k])
        _agree(where, "result.t_obs", res["t_obs"], stat)
        if not _same(stat_null, null[0], RECOMPUTE_RTOL):
            raise ValueError(f"{where}: null.npy row 0 is not the combined statistic of the scales' toys (rows 1..).")
        per_config = []
        for j, (scale, row) in enumerate(zip(scales, null[1 : 1 + k])):
            if scale["method"] != method:
                raise ValueError(f"{where}: manifest field `result.scales[{j}].method` must be {method!r}; got {scale['method']!r}.")
            per_config.append(make_result(scale["t_obs"], row, method, requested, scale["label"]))
            _agree(where, f"result.scales[{j}].pvalue", scale["pvalue"], per_config[-1].pvalue)
        companion_result = None
        if companion is not None:
            if companion["method"] != method:
                raise ValueError(f"{where}: manifest field `result.companion.method` must be {method!r}; got {companion['method']!r}.")
            companion_result = make_result(companion["t_obs"], null[1 + k], method, requested, companion["label"])
            _agree(where, "result.companion.pvalue", companion["pvalue"], companion_result.pvalue)
        combined = make_result(stat, stat_null, res["method"], requested, "combined", with_tail=False)
        result = MultiScaleResult(combined=combined, per_config=tuple(per_config), companion=companion_result)
        # a complete calibration shows the scale with the smallest p; an incomplete one that, or the fit's middle scale
        shown = (result.scale,) if result.complete else (result.scale, len(scales) // 2)
        if res["scale"] not in shown:
            raise ValueError(f"{where}: manifest field `result.scale` is {res['scale']}, but the scale with the smallest p "
                             f"for these toys is {result.scale}.")
    _agree(where, "result.pvalue", res["pvalue"], result.pvalue)
    _agree(where, "result.pvalue_ci", res["pvalue_ci"], list(result.pvalue_ci))
    _agree(where, "result.zscore", res["zscore"], result.zscore)
    tail, saved = result.tail_fit, res["extrapolated"]
    if (tail is None) != (saved is None):
        raise ValueError(f"{where}: manifest field `result.extrapolated` is {'absent' if saved is None else 'present'}, "
                         f"but recomputed from null.npy there is {'no' if tail is None else 'a'} tail fit.")
    for name in () if tail is None else ("pvalue", "zscore", "ks_pvalue", "shape", "loc", "scale"):
        _agree(where, f"result.extrapolated.{name}", saved[name], getattr(tail, name), TAIL_RTOL)
    return result


def _load_arrays(folder: Path, name: str, keys: tuple):
    """np.load of a bundle file (no pickle), with one ValueError naming the file or its missing array."""
    try:
        arrays = np.load(folder / name, allow_pickle=False)
        if keys:
            arrays = {key: arrays[key] for key in keys}
    except KeyError as err:
        raise ValueError(f"bundle {folder}: {name} has no array {err}.") from None
    except (ValueError, OSError, EOFError, zipfile.BadZipFile) as err:
        raise ValueError(f"bundle {folder}: {name} cannot be read ({err}).".splitlines()[0]) from None
    return arrays


def load_bundle(path) -> ResultBundle:
    """Open a bundle written by ``save_bundle`` (or ``sparker run``).

    Checks every manifest field it reads (one ValueError naming the first missing or malformed one),
    the file hashes, and recomputes p, its interval, Z, the tail fit and the combined statistic from
    null.npy and t_obs: a manifest whose numbers do not follow from its toys is refused.
    """
    folder = Path(path)
    manifest = read_manifest(folder)
    check_files(folder, manifest)
    where = f"bundle {folder}"
    null = _load_arrays(folder, "null.npy", ())
    if null.dtype.kind not in "fiu":
        raise ValueError(f"{where}: null.npy must hold numbers; got dtype {null.dtype}.")
    null = null.astype(np.float64)
    model = _load_arrays(folder, "model.npz", ("centers", "amplitudes", "sigma", "scale_centers", "scale_amplitudes",
                                               "scale_sigmas", "mean", "scale"))
    history = _load_arrays(folder, "history.npz", ("epoch", "sigma", "loss", "t", "centers", "amplitudes"))
    result = _rebuild_result(manifest, null, where)
    mean, scale = model["mean"], model["scale"]
    snapshots = tuple(
        Snapshot(
            epoch=int(history["epoch"][i]),
            sigma=float(history["sigma"][i]),
            loss=float(history["loss"][i]),
            t=float(history["t"][i]),
            centers=history["centers"][i],
            amplitudes=history["amplitudes"][i],
        )
        for i in range(history["epoch"].shape[0])
    )
    return ResultBundle(
        path=folder,
        manifest=manifest,
        result=result,
        kernels=pd.read_parquet(folder / "kernels.parquet"),
        points=pd.read_parquet(folder / "points.parquet"),
        history=snapshots,
        centers=model["centers"],
        amplitudes=model["amplitudes"],
        sigma=float(model["sigma"]),
        scale_centers=model["scale_centers"],
        scale_amplitudes=model["scale_amplitudes"],
        scale_sigmas=model["scale_sigmas"],
        mean=mean,
        scale=scale,
    )
