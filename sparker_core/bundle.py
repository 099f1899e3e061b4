"""The result bundle: one folder that holds a run, to reopen, share and re-verify.

Files (no pickle anywhere):
    manifest.json    config, seeds, versions, input files and their sha256, t_obs, p, Z, CI,
                     and the sha256 of every other file of the bundle
    null.npy         null statistics of the toys, float64: shape (n_toys,) for one width; for a
                     multi-scale fit (1 + n_scales, n_toys), the combined min-p statistic in row 0
                     and each scale's t below it, so verify recomputes the combination
    model.npz        the fitted kernels of the shown scale in working space (centres, amplitudes,
                     sigma), those of every scale (scale_centers, scale_amplitudes, scale_sigmas),
                     and the preprocessing (mean, scale): enough to recompute every t from the inputs
    history.npz      snapshots of training (epoch, sigma, loss, t, centres, amplitudes), for replay
    kernels.parquet  the explain() table, one row per kernel
    points.parquet   every reference and data point: split, row, score f(x), kernel, metadata
"""

from __future__ import annotations

import hashlib
import json
import os
import platform
import shutil
import tempfile
from dataclasses import asdict, dataclass
from datetime import datetime, timezone
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from .calibration import MultiScaleResult, TestResult, combined_statistics, make_result
from .estimator import Snapshot
from .kernels import augment_pool, evaluate
from .loss import np_loss, role_weights, t_from_loss

FORMAT = "sparker-bundle"
FORMAT_VERSION = 2  # 2: multi-scale results (2-D null.npy, result.t_fit, result.scales)
FILES = ("null.npy", "model.npz", "history.npz", "kernels.parquet", "points.parquet")
_OWN_COLUMNS = ("split", "row", "score", "kernel")


def sha256_file(path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _jsonable(value):
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    return value


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
) -> Path:
    """Write a bundle folder at ``path`` (which must not exist or be empty); returns the path.

    ``inputs`` describes how the inputs were loaded (paths, sha256, label split), so that
    ``verify_bundle`` can reload them. The folder is written under a temporary name and moved into
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
        null = [result.null_distribution] + ([r.null_distribution for r in result.per_config] if multi else [])
        np.save(staging / "null.npy", np.asarray(np.stack(null) if multi else null[0], dtype=np.float64), allow_pickle=False)
        centers_work = (model.centers_ - model.reference_mean_) / model.reference_scale_
        to_work = lambda centers: (centers - model.reference_mean_) / model.reference_scale_  # noqa: E731
        np.savez(
            staging / "model.npz",
            centers=centers_work,
            amplitudes=model.amplitudes_,
            sigma=np.array(model.sigma_),
            scale_centers=np.stack([to_work(s.centers) for s in model.scale_snapshots_]),
            scale_amplitudes=np.stack([s.amplitudes for s in model.scale_snapshots_]),
            scale_sigmas=np.array([s.sigma for s in model.scale_snapshots_]),
            mean=model.reference_mean_,
            scale=model.reference_scale_,
        )
        history = model.history_
        np.savez(
            staging / "history.npz",
            epoch=np.array([s.epoch for s in history]),
            sigma=np.array([s.sigma for s in history]),
            loss=np.array([s.loss for s in history]),
            t=np.array([s.t for s in history]),
            centers=np.stack([s.centers for s in history]),
            amplitudes=np.stack([s.amplitudes for s in history]),
        )
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
            "inputs": inputs,
            "sizes": {"reference": int(reference.shape[0]), "data": int(data.shape[0]), "features": int(reference.shape[1])},
            "result": {
                "t_obs": result.t_obs,
                "pvalue": result.pvalue,
                "pvalue_ci": list(result.pvalue_ci),
                "zscore": result.zscore,
                "n_toys": result.n_toys,
                "n_toys_requested": result.n_toys_requested,
                "method": result.method,
                "t_fit": model.t_obs_,  # t of the saved kernels (the shown scale)
                "scale": model.scale_ if multi else None,
                "scales": [{"label": r.label, "t_obs": r.t_obs, "pvalue": r.pvalue, "method": r.method} for r in result.per_config]
                if multi else [],
                "extrapolated": None if tail is None else {
                    "note": "gamma fit of the null toys, extrapolated; not an empirical p-value",
                    "pvalue": tail.pvalue, "zscore": tail.zscore, "ks_pvalue": tail.ks_pvalue,
                    "shape": tail.shape, "loc": tail.loc, "scale": tail.scale,
                },
            },
            "extra": extra or {},
            "files": {name: sha256_file(staging / name) for name in FILES},
        }
        (staging / "manifest.json").write_text(json.dumps(_jsonable(manifest), indent=2) + "\n")
        if target.exists():
            target.rmdir()
        os.replace(staging, target)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return target


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


def _read_manifest(folder: Path) -> dict:
    path = folder / "manifest.json"
    if not folder.is_dir():
        raise ValueError(f"bundle {folder} does not exist or is not a folder.")
    if not path.is_file():
        raise ValueError(f"bundle {folder} has no manifest.json.")
    try:
        manifest = json.loads(path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as err:
        raise ValueError(f"bundle {folder}: manifest.json is not valid JSON ({err}).") from None
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT:
        raise ValueError(f"bundle {folder}: manifest.json is not a {FORMAT} manifest.")
    if manifest.get("format_version") != FORMAT_VERSION:
        raise ValueError(f"bundle {folder}: format version {manifest.get('format_version')!r} is not {FORMAT_VERSION}.")
    return manifest


def check_files(folder: Path, manifest: dict) -> None:
    """Every bundle file is present and has the sha256 the manifest records."""
    recorded = manifest.get("files", {})
    for name in FILES:
        path = folder / name
        if not path.is_file():
            raise ValueError(f"bundle {folder}: {name} is missing.")
        if recorded.get(name) != sha256_file(path):
            raise ValueError(f"bundle {folder}: {name} does not match its sha256 in the manifest (modified or truncated).")


def load_bundle(path) -> ResultBundle:
    """Open a bundle written by ``save_bundle`` (or ``sparker run``); checks the file hashes."""
    folder = Path(path)
    manifest = _read_manifest(folder)
    check_files(folder, manifest)
    null = np.load(folder / "null.npy", allow_pickle=False)
    model = np.load(folder / "model.npz", allow_pickle=False)
    history = np.load(folder / "history.npz", allow_pickle=False)
    res = manifest["result"]
    result = make_result(res["t_obs"], null[0] if null.ndim == 2 else null, res["method"], res["n_toys_requested"])
    if null.ndim == 2:
        per_scale = tuple(make_result(s["t_obs"], row, s["method"], res["n_toys_requested"], s["label"])
                          for s, row in zip(res["scales"], null[1:]))
        result = MultiScaleResult(combined=result, per_config=per_scale)
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


def load_bundle_inputs(bundle: ResultBundle):
    """Reload the inputs a bundle records (``EmbeddingPair``); ValueError when a file is missing or changed."""
    from .loaders import load_pair

    recorded = bundle.manifest["inputs"]["files"]
    for path in recorded:
        if not Path(path).is_file():
            raise ValueError(f"input file {path} recorded in the bundle is missing.")
    pair = load_pair(**bundle.manifest["inputs"]["load"])
    for path, digest in recorded.items():
        if pair.files.get(path) != digest:
            raise ValueError(f"input file {path} has changed since the run (sha256 differs).")
    return pair


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


def verify_bundle(path, reference: np.ndarray, data: np.ndarray, rtol: float = 1e-4) -> list[str]:
    """Re-check a bundle against its inputs; returns the checks that passed, raises ValueError on the first failure.

    Checks: manifest format; every file's sha256; the null and p-value agree with the manifest;
    t_obs recomputed from the saved kernels and the inputs agrees with the manifest.
    """
    bundle = load_bundle(path)
    res = bundle.manifest["result"]
    passed = ["manifest and file hashes"]
    if bundle.result.n_toys != res["n_toys"]:
        raise ValueError(f"bundle {bundle.path}: null.npy holds {bundle.result.n_toys} toys, the manifest says {res['n_toys']}.")
    if not np.isclose(bundle.result.pvalue, res["pvalue"], rtol=1e-12, atol=0):
        raise ValueError(
            f"bundle {bundle.path}: p-value recomputed from the null toys is {bundle.result.pvalue:.6g}, the manifest says {res['pvalue']:.6g}."
        )
    passed.append(f"p-value from {bundle.result.n_toys} toys")
    t_fit = res["t_obs"]
    shown, *t_scales = recompute_t(bundle, reference, data)
    if isinstance(bundle.result, MultiScaleResult):
        scales = bundle.result.per_config
        stat, stat_null = combined_statistics([r.t_obs for r in scales], np.stack([r.null_distribution for r in scales]), "minp")
        if not (np.isclose(stat, res["t_obs"], rtol=1e-12) and np.allclose(stat_null, bundle.result.null_distribution, rtol=1e-12)):
            raise ValueError(f"bundle {bundle.path}: the combined statistic recomputed from the {len(scales)} scales' t and toys "
                             "does not match the saved one.")
        t_fit = scales[res["scale"]].t_obs
        if not np.isclose(res["t_fit"], t_fit, rtol=1e-12):
            raise ValueError(f"bundle {bundle.path}: the saved kernels' t {res['t_fit']:.6g} is not scale {res['scale']}'s t {t_fit:.6g}.")
        passed.append(f"combined min-p statistic of {len(scales)} scales recomputed from their t and toys")
        for j, (new, r) in enumerate(zip(t_scales, scales)):
            if not np.isclose(new, r.t_obs, rtol=rtol, atol=1e-6):
                raise ValueError(f"bundle {bundle.path}: t of scale {j} recomputed from its saved kernels is {new:.6g}, "
                                 f"the manifest says {r.t_obs:.6g}.")
        passed.append(f"t of every scale recomputed from its saved kernels and the inputs ({', '.join(f'{t:.6g}' for t in t_scales)})")
    if not np.isclose(shown, t_fit, rtol=rtol, atol=1e-6):
        raise ValueError(f"bundle {bundle.path}: t recomputed from the saved kernels is {shown:.6g}, the manifest says {t_fit:.6g}.")
    passed.append(f"t of the saved kernels recomputed from the inputs ({shown:.6g})")
    return passed
