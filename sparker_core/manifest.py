"""manifest.json of a result bundle: how it is written (strict JSON) and how it is read and checked.

manifest.json is strict JSON (no NaN or Infinity tokens): a non-finite number is written as null
with a sibling "<name>_nonfinite" holding "-inf: why" (e.g. Z = -inf at p = 1). Older manifests
that hold the bare tokens are still read. ``record_inputs`` adds where the inputs are relative to the
bundle folder. ``read_manifest`` checks every field that show,
``load_bundle`` or ``verify_bundle`` reads and raises one ``ValueError`` naming the first one
missing or malformed; ``check_files`` and ``check_folder`` check the files it lists.
"""

from __future__ import annotations

import json
import math
import os
from pathlib import Path

import numpy as np

from .data import sha256_file
from .samples import SAMPLE_DIR


FORMAT = "sparker-bundle"
FORMAT_VERSION = 2  # 2: multi-scale results (2-D null.npy, result.t_fit, result.scales)
FILES = ("null.npy", "model.npz", "history.npz", "kernels.parquet", "points.parquet")
NONFINITE = "_nonfinite"  # suffix of the key that explains a non-finite number written as null
# `inputs.relative` says where each input file is relative to something that travels with it: the
# bundle folder, or the package's sample_data/ for its bundled samples (so a shared bundle of a sample
# finds it in any installation). `inputs.load` and `inputs.files` keep the paths as they were given.
INPUT_BASES = ("bundle", "samples")


def record_inputs(inputs: dict, folder: Path) -> dict:
    """``inputs`` as a bundle at ``folder`` records them: `load` and `files` (sha256) as given, and in
    `relative`, for each file, its path relative to ``folder`` (or to sample_data/ for a bundled sample)
    and its size in bytes, so that the bundle moved together with its inputs, or shared, finds them."""
    samples, root = SAMPLE_DIR.resolve(), Path(folder).resolve()
    relative = {}
    for path in inputs.get("files", {}):
        resolved = Path(path).resolve()
        to = "samples" if resolved.is_relative_to(samples) else "bundle"
        relative[path] = {"to": to, "path": Path(os.path.relpath(resolved, samples if to == "samples" else root)).as_posix()}
        if resolved.is_file():
            relative[path]["bytes"] = resolved.stat().st_size
    return {**inputs, "relative": relative} if relative else dict(inputs)


def jsonable(value):
    """Plain JSON values; a non-finite number in an object becomes null plus a "<key>_nonfinite" reason."""
    if isinstance(value, dict):
        out = {}
        for key, item in value.items():
            item = jsonable(item)
            if isinstance(item, float) and not math.isfinite(item):
                out[str(key)], out[f"{key}{NONFINITE}"] = None, _nonfinite_reason(str(key), item)
            else:
                out[str(key)] = item
        return out
    if isinstance(value, (list, tuple)):
        return [None if isinstance(v, float) and not math.isfinite(v) else v for v in map(jsonable, value)]
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return jsonable(value.tolist())
    return value


def _nonfinite_reason(key: str, value: float) -> str:
    token = "nan" if math.isnan(value) else "inf" if value > 0 else "-inf"
    why = {("zscore", "-inf"): "Z = Phi^-1(1 - p) is -infinity at p = 1 (no toy below t_obs)",
           ("zscore", "inf"): "p underflows to 0"}.get((key, token), "not a finite number")
    return f"{token}: {why}"


_KIND_NAMES = {float: "a number", int: "an integer", str: "a string", dict: "an object", list: "a list", None: "null",
               "pair": "a list of two numbers"}
# Every manifest field that show, load_bundle or verify_bundle reads, parents before children.
_SCHEMA = (
    ("created", str), ("versions", dict), ("versions.sparker_core", str), ("params", dict), ("config", dict),
    ("config.n_kernels", int), ("config.sigma_init", float), ("config.sigma_final", float),
    ("config.temperature", float), ("config.competition", str),
    ("seeds", dict), ("seeds.fit", int), ("seeds.calibration", (int, None)),
    ("inputs", dict), ("inputs.load", dict), ("inputs.files", dict),
    ("sizes", dict), ("sizes.reference", int), ("sizes.data", int), ("sizes.features", int),
    ("result", dict), ("result.t_obs", float), ("result.pvalue", float), ("result.pvalue_ci", "pair"),
    ("result.zscore", float), ("result.n_toys", int), ("result.n_toys_requested", int), ("result.method", str),
    ("result.t_fit", float), ("result.scale", (int, None)), ("result.scales", list), ("result.extrapolated", (dict, None)),
    ("files", dict),
)
_SCALE_SCHEMA = (("label", str), ("t_obs", float), ("pvalue", float), ("method", str))
_TAIL_SCHEMA = (("pvalue", float), ("zscore", float), ("ks_pvalue", float), ("shape", float), ("loc", float), ("scale", float))


def _kind_ok(value, kind) -> bool:
    if isinstance(kind, tuple):
        return any(_kind_ok(value, k) for k in kind)
    if kind is None:
        return value is None
    if kind is float:
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    if kind is int:
        return isinstance(value, int) and not isinstance(value, bool)
    if kind == "pair":
        return isinstance(value, list) and len(value) == 2 and all(_kind_ok(v, float) for v in value)
    return isinstance(value, kind)


def _check_fields(tree: dict, schema, where: str, prefix: str = "") -> None:
    """Each (dotted name, kind) of ``schema`` is present in ``tree`` and of its kind; else one ValueError naming it."""
    for dotted, kind in schema:
        node = tree
        for part in dotted.split("."):
            if part not in node:
                raise ValueError(f"{where}: manifest field `{prefix}{dotted}` is missing.")
            node = node[part]
        if not _kind_ok(node, kind):
            want = " or ".join(_KIND_NAMES[k] for k in (kind if isinstance(kind, tuple) else (kind,)))
            raise ValueError(f"{where}: manifest field `{prefix}{dotted}` must be {want}; got {json.dumps(node)[:40]}.")


def _restore_nonfinite(node, where: str, prefix: str = "") -> None:
    """Put back the numbers written as null + "<key>_nonfinite" (in place)."""
    if isinstance(node, list):
        for i, item in enumerate(node):
            _restore_nonfinite(item, where, f"{prefix}[{i}].")
        return
    if not isinstance(node, dict):
        return
    for key in [k for k in node if k.endswith(NONFINITE)]:
        base, reason = key[: -len(NONFINITE)], node[key]
        token = reason.split(":")[0] if isinstance(reason, str) else None
        if token not in ("inf", "-inf", "nan") or node.get(base, 0) is not None:
            raise ValueError(f"{where}: manifest field `{prefix}{key}` must explain a null `{base}` and start with "
                             f"inf, -inf or nan; got {reason!r}.")
        node[base] = float(token)
    for key, value in node.items():
        _restore_nonfinite(value, where, f"{prefix}{key}.")


def read_manifest(folder: Path) -> dict:
    path = folder / "manifest.json"
    if not folder.is_dir():
        raise ValueError(f"bundle {folder} does not exist or is not a folder.")
    if not path.is_file():
        raise ValueError(f"bundle {folder} has no manifest.json.")
    try:
        manifest = json.loads(path.read_text())  # also reads the NaN / -Infinity tokens of older bundles
    except (json.JSONDecodeError, UnicodeDecodeError) as err:
        raise ValueError(f"bundle {folder}: manifest.json is not valid JSON ({err}).") from None
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT:
        raise ValueError(f"bundle {folder}: manifest.json is not a {FORMAT} manifest.")
    if manifest.get("format_version") != FORMAT_VERSION:
        raise ValueError(f"bundle {folder}: format version {manifest.get('format_version')!r} is not {FORMAT_VERSION}.")
    where = f"bundle {folder}"
    _restore_nonfinite(manifest, where)
    _check_fields(manifest, _SCHEMA, where)
    for j, scale in enumerate(manifest["result"]["scales"]):
        if not isinstance(scale, dict):
            raise ValueError(f"{where}: manifest field `result.scales[{j}]` must be an object; got {json.dumps(scale)[:40]}.")
        _check_fields(scale, _SCALE_SCHEMA, where, f"result.scales[{j}].")
    if manifest["result"]["extrapolated"] is not None:
        _check_fields(manifest["result"]["extrapolated"], _TAIL_SCHEMA, where, "result.extrapolated.")
    _check_optional(manifest, where)
    for field in ("files", "inputs.files"):
        table = manifest["files"] if field == "files" else manifest["inputs"]["files"]
        for name, digest in table.items():
            if not isinstance(digest, str):
                raise ValueError(f"{where}: manifest field `{field}.{name}` must be a sha256 string; got {json.dumps(digest)[:40]}.")
    return manifest


def _check_optional(manifest: dict, where: str) -> None:
    """The fields older bundles lack, when present: `inputs.relative`, `result.companion` and `result.poisson`."""
    relative = manifest["inputs"].get("relative", {})
    entries = relative.items() if isinstance(relative, dict) else [(None, relative)]
    for name, entry in entries:
        ok = (isinstance(entry, dict) and entry.get("to") in INPUT_BASES and isinstance(entry.get("path"), str)
              and set(entry) <= {"to", "path", "bytes"} and _kind_ok(entry.get("bytes", 0), int))
        if not ok:
            raise ValueError(f"{where}: manifest field `inputs.relative` must map each input file to "
                             f'{{"to": {" or ".join(INPUT_BASES)}, "path": ..., "bytes": ...}}; got {json.dumps(entry)[:40]}.')
    companion = manifest["result"].get("companion")
    if companion is not None:
        if not isinstance(companion, dict):
            raise ValueError(f"{where}: manifest field `result.companion` must be an object or null; got {json.dumps(companion)[:40]}.")
        _check_fields(companion, _SCALE_SCHEMA, where, "result.companion.")
    if not isinstance(manifest["result"].get("poisson", False), bool):
        raise ValueError(f"{where}: manifest field `result.poisson` must be true or false; "
                         f"got {json.dumps(manifest['result']['poisson'])[:40]}.")


def check_files(folder: Path, manifest: dict) -> None:
    """Every bundle file is present and has the sha256 the manifest records."""
    recorded = manifest.get("files", {})
    for name in FILES:
        path = folder / name
        if not path.is_file():
            raise ValueError(f"bundle {folder}: {name} is missing.")
        if recorded.get(name) != sha256_file(path):
            raise ValueError(f"bundle {folder}: {name} does not match its sha256 in the manifest (modified or truncated).")


def check_folder(folder: Path, manifest: dict) -> None:
    """The folder holds the bundle's files and nothing else, and the manifest lists exactly those."""
    listed = sorted(set(manifest["files"]) ^ set(FILES))
    if listed:
        raise ValueError(f"bundle {folder}: manifest field `files` must list exactly {', '.join(FILES)}; "
                         f"it differs in {', '.join(listed)}.")
    present = {p.name for p in folder.iterdir()}
    missing, extra = sorted(set(FILES) - present), sorted(present - set(FILES) - {"manifest.json"})
    if missing or extra:
        parts = ([f"missing {', '.join(missing)}"] if missing else []) + ([f"unexpected {', '.join(extra)}"] if extra else [])
        raise ValueError(f"bundle {folder}: the folder does not hold exactly the bundle's files: {'; '.join(parts)}.")


# What a parameter was before it existed: bundles written before init="excess" were fitted from random
# data rows, and those written before the companion test calibrated SparKer's widths alone.
_BEFORE = {"init": "random", "fixed_kernels": 0}


def recorded_params(manifest: dict) -> dict:
    """The parameters of a bundle's run: ``params`` as recorded, with the value every parameter had
    before it existed where an older bundle lacks it."""
    return {**_BEFORE, **manifest["params"]}
