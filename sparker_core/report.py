"""One self-contained HTML file that shares a result bundle: it opens offline, with no server and no
external resource (the charts are inline SVG drawn here; no script, font or image is loaded).

Sections: the question, the data (sizes, features, input files and their sha256), the result (t, p
with its 95 % interval, Z), the null toys with t_obs, the region cards (exemplars and radial
profiles), the map with its honesty score, the parameters and the commands that reproduce and
verify the run. The full-space sections (radial profiles, the honesty score, a PCA map) need the
input vectors; without them the report says so in place of those sections.
"""

from __future__ import annotations

import html
import math
import shlex
from pathlib import Path

import numpy as np
import pandas as pd
from scipy import special

from .bundle import ResultBundle, format_zscore, load_bundle
from .config import default_params
from .honesty import map_honesty, pca_layout, radial_profiles, region_preservation
from .manifest import recorded_params
from .report_svg import histogram_svg, image_svg, map_svg, profile_svg
from .samples import SAMPLES, sample_inputs

MAP_ROWS = 4000  # points drawn on the map and scored for honesty (a seeded subsample beyond this)
N_EXEMPLARS = 3  # exemplars shown per region card
LAYOUT_COLUMNS = ("umap_x", "umap_y")  # a layout stored with the points (the bundled samples carry UMAP's)
_HIDDEN = {"split", "row", "score", "kernel", "image", *LAYOUT_COLUMNS}  # metadata not printed in an exemplar

STYLE = """
body{font-family:system-ui,sans-serif;max-width:1000px;margin:2em auto;padding:0 1em;color:#222}
h1{font-size:1.6em}h2{border-bottom:1px solid #ccc;padding-bottom:.2em;margin-top:1.6em}
table{border-collapse:collapse}td,th{border:1px solid #ddd;padding:.25em .6em;text-align:left;font-size:.9em}
code,pre{background:#f4f4f4;padding:.1em .3em}pre{padding:.6em;white-space:pre-wrap;word-break:break-all}
.card{border:1px solid #bbb;border-radius:6px;padding:.6em 1em;margin:1em 0}
.note{color:#666;font-size:.9em}.big{font-size:1.3em}svg{display:block;margin:.5em 0}
"""


def _e(value) -> str:
    return html.escape(str(value))


def _table(rows: list[tuple]) -> str:
    return "<table>" + "".join("<tr>" + "".join(f"<td>{_e(c)}</td>" for c in row) + "</tr>" for row in rows) + "</table>"


def _section(key: str, title: str, body: str) -> str:
    return f'<section id="{key}" data-section="{key}"><h2>{_e(title)}</h2>\n{body}\n</section>\n'


# The parameters ``sparker run`` sets; a run with any other one away from its default needs Python.
CLI_PARAMS = ("n_kernels", "max_epochs", "fixed_kernels", "seed", "device")


def cli_gaps(manifest: dict) -> list[str]:
    """What ``sparker run`` cannot set for this run: parameters away from their defaults that the
    command line has no option for, and a toys' seed other than the fit's (the CLI uses one seed)."""
    defaults = default_params()
    gaps = [f"{k}={v!r}" for k, v in recorded_params(manifest).items()
            if k not in CLI_PARAMS and k in defaults and v != defaults[k]]
    seeds = manifest["seeds"]
    if seeds.get("calibration") is not None and seeds["calibration"] != seeds["fit"]:
        gaps.append(f"toys' seed {seeds['calibration']} (fit seed {seeds['fit']})")
    return gaps


def reproduce_command(manifest: dict) -> str:
    """The ``sparker run`` line of the run's recorded inputs, parameters and seeds (it reproduces the run
    when ``cli_gaps(manifest)`` is empty)."""
    load, params, result = manifest["inputs"]["load"], manifest["params"], manifest["result"]
    sample = next((name for name in SAMPLES if sample_inputs(name) == load), None)
    words = ["sparker", "run"]
    if sample is not None:
        words += ["--sample", sample]
    else:
        flags = {"reference": "--reference", "data": "--data", "label_column": "--label-column",
                 "reference_value": "--reference-value", "data_value": "--data-value", "key": "--key"}
        for key, flag in flags.items():
            if key in load:
                words += [flag, str(load[key])]
        for key in ("features", "ignore"):
            if key in load:
                words += [f"--{key}", ",".join(load[key])]
    fixed = recorded_params(manifest)["fixed_kernels"]
    words += ["--fixed-kernels", str(fixed)] if fixed != default_params()["fixed_kernels"] else []
    words += ["--n-kernels", str(params.get("n_kernels")), "--epochs", str(params.get("max_epochs")),
              "--n-toys", str(result["n_toys_requested"]), "--method", str(result["method"]).partition("+")[0],
              "--seed", str(manifest["seeds"]["fit"])]
    return shlex.join(words)


def _split(points: pd.DataFrame, split: str) -> pd.DataFrame:
    return points[points["split"] == split].sort_values("row").reset_index(drop=True)


def _layout(bundle: ResultBundle, pool: np.ndarray | None) -> tuple[np.ndarray | None, str]:
    """The map's layout over [reference; data]: stored with the points, the 2-D data themselves, or PCA."""
    ref, data = _split(bundle.points, "reference"), _split(bundle.points, "data")
    if all(c in ref.columns for c in LAYOUT_COLUMNS) and not pd.concat([ref, data])[list(LAYOUT_COLUMNS)].isna().any().any():
        layout = pd.concat([ref, data])[list(LAYOUT_COLUMNS)].to_numpy(dtype=np.float64)
        return layout, "UMAP layout stored with the points (umap_x, umap_y)"
    if pool is None:
        return None, ""
    if pool.shape[1] == 2:
        return pool.astype(np.float64), "the data space itself (2-D): the map is the data"
    return pca_layout(pool), "PCA of the points (a linear projection, computed for this report)"


def _exemplar(meta: pd.Series, vector: np.ndarray | None) -> str:
    """One data row as the report shows it: its image, its text, its coordinates or its metadata."""
    image = image_svg(np.asarray(meta["image"], dtype=float)) if "image" in meta.index and meta["image"] is not None else ""
    if "text" in meta.index:
        title = f"<b>{_e(meta['title'])}</b>: " if "title" in meta.index else ""
        return f"{image}{title}{_e(meta['text'])}"
    shown = [f"{_e(c)} = {_e(meta[c])}" for c in meta.index if c not in _HIDDEN][:4]
    if vector is not None and vector.size <= 4:
        shown.insert(0, "(" + ", ".join(f"{v:.3g}" for v in vector) + ")")
    return image + (", ".join(shown) or f"data row {int(meta['row'])}")


def _summary(bundle: ResultBundle) -> tuple[str, str]:
    m, sizes = bundle.manifest, bundle.manifest["sizes"]
    names = ", ".join(Path(p).name for p in m["inputs"]["files"]) or "(no files recorded)"
    question = (f"<p class='big'>Does the data sample ({sizes['data']:,} points) hold regions where it departs from the "
                f"reference sample ({sizes['reference']:,} points), in the full {sizes['features']}-dimensional space?</p>"
                f"<p>Inputs: {_e(names)}. SparKer moves Gaussian kernels to where the data outnumber (or fall short of) "
                "the reference; the test statistic t measures the departure, and null pseudo-experiments say how often "
                "chance alone reaches it.</p>")
    rows = [("reference points", f"{sizes['reference']:,}"), ("data points", f"{sizes['data']:,}"),
            ("features", sizes["features"]), ("created", m["created"]),
            ("versions", ", ".join(f"{k} {v}" for k, v in m["versions"].items()))]
    rows += [(f"input {Path(p).name}", f"sha256 {digest}") for p, digest in m["inputs"]["files"].items()]
    return question, _table(rows)


def _result(bundle: ResultBundle) -> str:
    r, res = bundle.result, bundle.manifest["result"]
    low, high = r.pvalue_ci
    z_bound = float(np.clip(-special.ndtri(high), -40, 40)) if high < 1 else None
    state = "" if r.complete else f" (incomplete: {r.n_toys} of {r.n_toys_requested} toys)"
    statistic = f"t = {res['t_obs']:.3f}" if not res["scales"] else \
        f"combined statistic over {len(res['scales'])} width(s){' and the companion test' if res.get('companion') else ''} = " \
        f"{res['t_obs']:.3f} (t of the shown width {res['t_fit']:.2f})"
    text = (f"<p class='big'>{statistic}, p = {r.pvalue:.3g} (95 % interval [{low:.3g}, {high:.3g}]), "
            f"Z = {_e(format_zscore(r.zscore, bound=z_bound))}</p>"
            f"<p>{r.n_exceeding} of {r.n_toys} null toys reached t_obs{_e(state)}; method {_e(res['method'])}. "
            "p = (1 + #{t_null &ge; t_obs}) / (1 + n_toys), never 0.</p>")
    if res.get("companion"):
        c = res["companion"]
        text += (f"<p>The p-value combines SparKer's widths (by their minimum p) with the {_e(c['label'])}: t = "
                 f"{c['t_obs']:.2f}, p = {c['pvalue']:.3g} on the same toys. Many small kernels fixed on data rows add "
                 "up the evidence of a rare group; the regions below are SparKer's.</p>")
    if res.get("extrapolated"):
        x = res["extrapolated"]
        text += f"<p class='note'>Gamma tail fit of the null (an extrapolation, not an empirical p): p = {x['pvalue']:.3g}, Z = {x['zscore']:.2f}.</p>"
    return text


def _cards(bundle: ResultBundle, data: np.ndarray | None, honesty_by_kernel: dict, profiles) -> str:
    kernels, data_points = bundle.kernels, _split(bundle.points, "data")
    active = kernels[kernels["active"]]
    if active.empty:
        return "<p>No kernel is active (|a| below the threshold): nothing stands out.</p>"
    out = [f"<p>{len(active)} active kernels of {len(kernels)}, excess regions first, then deficits, each by its local Z "
           "(delta_t: the drop in t without the kernel). The local Z is pre-trial: the kernel was placed using these very points.</p>"]
    for rank, (i, row) in enumerate(active.iterrows()):
        score = honesty_by_kernel.get(int(row["kernel"]))
        score_text = "" if score is None or math.isnan(score) else \
            f"<p>Map honesty of its members: {score:.2f} (share of full-space neighbours kept on the map).</p>"
        exemplars = "".join(
            f"<li>{_exemplar(data_points.iloc[int(r)], None if data is None else data[int(r)])}</li>"
            for r in list(row["exemplars_nearest"])[:N_EXEMPLARS])
        profile = ""
        if profiles is not None:
            m = kernels.index.get_loc(i)
            profile = profile_svg(profiles.edges, profiles.n_data[m], profiles.expected[m], profiles.f_mean[m],
                                  title=f"kernel {int(row['kernel'])}: counts by distance to its centre (full space)")
        out.append(
            f"<div class='card' data-kernel='{int(row['kernel'])}'><h3>#{rank + 1} kernel {int(row['kernel'])} "
            f"({_e(row['kind'])}, a = {row['amplitude']:.2f}, delta_t = {row['delta_t']:.1f})</h3>"
            f"<p>{row['n_data']:.0f} data members vs {row['expected']:.1f} expected from the reference "
            f"(excess {row['excess']:+.1f}, local Z {row['significance']:+.1f}).</p>{score_text}"
            f"<p>Exemplars (data members nearest the centre):</p><ul>{exemplars or '<li>no members</li>'}</ul>{profile}</div>")
    return "\n".join(out)


def _map_rows(n: int, seed: int = 0) -> np.ndarray:
    return np.arange(n) if n <= MAP_ROWS else np.sort(np.random.default_rng(seed).choice(n, MAP_ROWS, replace=False))


def build_report(bundle: ResultBundle, reference: np.ndarray | None = None, data: np.ndarray | None = None) -> str:
    """The HTML report of ``bundle``; its input vectors ``reference`` and ``data`` (arrays of shape
    (n_reference, n_features) and (n_data, n_features)) enable the full-space sections: radial profiles,
    the honesty score and a PCA map when no layout is stored."""
    full_space = reference is not None and data is not None
    m, kernels = bundle.manifest, bundle.kernels
    n_ref = m["sizes"]["reference"]
    pool = np.concatenate([reference, data]).astype(np.float64) if full_space else None
    layout, layout_note = _layout(bundle, pool)
    honesty_by_kernel, map_body = {}, "<p class='note'>No layout is stored with the points and the input vectors " \
                                       "were not found, so no map is drawn.</p>"
    if layout is not None:
        rows = _map_rows(layout.shape[0])
        split = np.where(rows < n_ref, 0, 1)
        scores = honesty = None
        if pool is not None:
            honesty = map_honesty(pool[rows] / bundle.scale, layout[rows])
            scores, every = honesty.scores, np.full(layout.shape[0], np.nan)  # points not drawn are not scored
            every[rows] = scores
            honesty_by_kernel = dict(zip(kernels["kernel"].astype(int), region_preservation(every, kernels, n_ref)))
        centers = [(int(k), layout[np.concatenate([np.asarray(r, dtype=int), n_ref + np.asarray(d, dtype=int)])])
                   for k, r, d, a in zip(kernels["kernel"], kernels["members_reference"], kernels["members_data"],
                                         kernels["active"]) if a and len(r) + len(d)]
        centers = [(k, np.median(xy, axis=0)) for k, xy in centers]
        map_body = (f"<p>Layout: {_e(layout_note)}. {len(rows):,} of {layout.shape[0]:,} points drawn"
                    f"{' (a random subsample)' if len(rows) < layout.shape[0] else ''}; kernels at the median map "
                    "position of their members.</p>")
        if honesty is not None:
            map_body += (f"<p class='big'>Map honesty: {honesty.mean:.2f} of each point's {honesty.k} nearest full-space "
                         f"neighbours are among its {honesty.k} nearest on the map (mean over the points drawn); "
                         f"trustworthiness {honesty.trustworthiness:.3f}.</p><p class='note'>Points are coloured by their "
                         "own score: where it is low the map tears the full-space neighbourhood apart. The statistics "
                         "are computed in the full space, never on this map.</p>")
        else:
            map_body += "<p class='note'>The input vectors were not found: the map's honesty cannot be scored.</p>"
        map_body += map_svg(layout[rows], split, scores, centers)
    profiles = None
    if full_space and len(kernels):
        profiles = radial_profiles(reference, data, np.stack([np.asarray(c) for c in kernels["center"]]),
                                   bundle.sigma, bundle.scale, _split(bundle.points, "reference")["score"].to_numpy(),
                                   _split(bundle.points, "data")["score"].to_numpy())
    question, data_table = _summary(bundle)
    null = bundle.result.per_config[bundle.result.scale] if hasattr(bundle.result, "per_config") else bundle.result
    missing = "" if full_space else ("<p class='note'>The input files were not found next to the bundle: the "
                                           "radial profiles and the map's honesty score need the vectors.</p>")
    command, gaps = reproduce_command(m), cli_gaps(m)
    sections = [
        _section("question", "The question", question),
        _section("data", "The data", data_table),
        _section("result", "The result", _result(bundle)),
        _section("null", "The null toys", histogram_svg(np.asarray(null.null_distribution, dtype=float), null.t_obs)
                 + "<p class='note'>t of the pseudo-experiments without signal, and the observed t (red line)"
                 + (" of the shown width." if m["result"]["scales"] else ".") + "</p>"),
        _section("regions", "The regions", missing + _cards(bundle, data if full_space else None, honesty_by_kernel, profiles)),
        _section("map", "The map", map_body),
        _section("parameters", "The parameters", _table(sorted((k, v) for k, v in m["params"].items()))),
        _section("reproduce", "Reproduce and verify",
                 (f"<pre>{_e(command)}</pre>" if not gaps else
                  f"<p>This run set what <code>sparker run</code> has no option for ({_e(', '.join(gaps))}): "
                  "reproduce it in Python with <code>SparKer(**parameters)</code> and the seeds of manifest.json, or "
                  f"start from</p><pre>{_e(command)}</pre>")
                 + "<p>and check the bundle (BUNDLE: its folder) against its inputs:</p><pre>sparker verify BUNDLE</pre>"),
    ]
    return ("<!DOCTYPE html>\n<html lang='en'><head><meta charset='utf-8'><title>SparKer report</title>"
            f"<style>{STYLE}</style></head><body>\n<h1>SparKer report: {_e(Path(bundle.path).name)}</h1>\n"
            + "".join(sections) + "</body></html>\n")


def write_report(path, out=None, inputs_dir=None) -> tuple[Path, str]:
    """Write the report of the bundle at ``path`` to ``out`` (default: report.html beside the bundle
    folder, named after it); returns (the file, a note when the inputs were not found, else "")."""
    from .verify import load_bundle_inputs

    bundle = load_bundle(path)
    target = Path(out) if out is not None else Path(bundle.path).with_name(f"{Path(bundle.path).name}-report.html")
    if target.suffix.lower() not in (".html", ".htm"):
        raise ValueError(f"`--out` must name an .html file; got {target}.")
    try:
        pair, note = load_bundle_inputs(bundle, inputs_dir), ""
    except ValueError as err:
        pair, note = None, f"the input files were not found, so the report has no full-space sections: {err}"
    vectors = (None, None) if pair is None else (pair.reference, pair.data)
    target.write_text(build_report(bundle, *vectors), encoding="utf-8")
    return target, note
