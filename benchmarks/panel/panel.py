"""The evaluation panel: real two-sample cases with a known anomaly mask, in a tuning and a held-out half.

Each case is a pool of "common" rows (never anomalous) and a pool of "rare" rows (the anomaly). A benchmark
re-splits a case many times with ``resplit``: the reference is ``n_ref`` common rows, the data is
``n_data - k`` other common rows plus ``k`` rare rows, for ``k`` in the case's ``signals`` (0 = no anomaly).

    import panel                                   # with benchmarks/panel on sys.path
    reference, data, is_signal = panel.resplit(seed, 12, "mnist-pixels-3", n_ref=2000, n_data=500)

Defaults are chosen on the tuning half only; results are reported on both halves (see README.md here).
Needs numpy only: the data files were built by build_panel.py (gensim, the MiniLM model and scikit-learn
are needed there, not here), and each is checked against its sha256 in data/manifest.json when read.
"""

from __future__ import annotations

import hashlib
import json
from collections import OrderedDict
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np

DATA_DIR = Path(__file__).resolve().parent / "data"
REBUILD = ".venv-build/bin/python benchmarks/panel/build_panel.py"


@dataclass(frozen=True)
class PanelCase:
    name: str  # the file stem in data/ and the key of CASES
    half: str  # "tuning" (defaults may be chosen on it) or "heldout" (reported only)
    modality: str  # "text", "image", "generative" or "tabular"
    description: str  # one line: what the common and the rare rows are
    n_ref: int  # reference rows of a re-split (all common)
    n_data: int  # data rows of a re-split (n_data - k common + k rare)
    signals: tuple[int, ...]  # anomaly counts k of the benchmark; 0 is the no-anomaly version


# Fixed before any test was run on the panel. Signals: 0, then about 2.5 % and 5.5 % of n_data
# (the tabular sets are too small for that: one anomalous row is no signal, so they use 3 % / 6 % and 5 % / 10 %).
CASES: OrderedDict[str, PanelCase] = OrderedDict(
    (case.name, case)
    for case in (
        PanelCase("text-topic-a", "tuning", "text",
                  "Wikipedia sentences (MiniLM); rare = sentences of the held-out article 'Aikido'", 2000, 500, (0, 12, 28)),
        PanelCase("text-topic-b", "heldout", "text",
                  "Wikipedia sentences (MiniLM); rare = sentences of the held-out article 'Abacus'", 2000, 500, (0, 12, 28)),
        PanelCase("text-news-offdomain", "tuning", "text",
                  "Lee news-corpus sentences (MiniLM); rare = Wikipedia sentences (off-domain)", 1500, 400, (0, 10, 22)),
        PanelCase("text-wiki-offdomain", "heldout", "text",
                  "Wikipedia sentences (MiniLM); rare = Lee news-corpus sentences (off-domain)", 2000, 500, (0, 12, 28)),
        PanelCase("mnist-pixels-3", "tuning", "image",
                  "MNIST raw pixels in [0, 1] (d = 784); rare = digit 3", 2000, 500, (0, 12, 28)),
        PanelCase("mnist-pca-7", "heldout", "image",
                  "MNIST pixels in [0, 1], PCA-32 fitted on the common pool only; rare = digit 7", 2000, 500, (0, 12, 28)),
        PanelCase("digits-5", "tuning", "image",
                  "scikit-learn 8x8 digits, raw pixels / 16 (d = 64); rare = digit 5", 1000, 400, (0, 10, 22)),
        PanelCase("mnist-pixels-9", "heldout", "image",
                  "MNIST raw pixels in [0, 1] (d = 784); rare = digit 9", 2000, 500, (0, 12, 28)),
        PanelCase("gen-gmm-mode", "tuning", "generative",
                  "samples of a 10-component GMM fitted to PCA-16 of the 8x8 digits; rare = extra samples of its "
                  "median-weight component (a generator over-producing one mode)", 2000, 500, (0, 12, 28)),
        PanelCase("gen-pca-artefact", "heldout", "generative",
                  "8-bit samples of a PCA-32 Gaussian generator fitted to MNIST (d = 784); rare = its samples with a "
                  "saturated 2x2 patch at rows 6-7, columns 24-25", 2000, 500, (0, 12, 28)),
        PanelCase("tab-wine", "tuning", "tabular",
                  "scikit-learn wine (d = 13), standardised by the common pool; common = cultivars 0 and 1, rare = 2",
                  70, 40, (0, 2, 4)),
        PanelCase("tab-breast-cancer", "heldout", "tabular",
                  "scikit-learn breast cancer (d = 30), standardised by the common pool; common = benign, rare = malignant",
                  200, 100, (0, 3, 6)),
    )
)


def halves() -> dict[str, list[str]]:
    """The case names of each half, in CASES order."""
    return {half: [name for name, case in CASES.items() if case.half == half] for half in ("tuning", "heldout")}


def study_arguments(parser, n_null: int, realisations: int, argv=None):
    """The arguments every panel study takes (--cases, --n-null, --realisations, --jobs, --heldout), parsed;
    held-out cases only with --heldout, since defaults are chosen on the tuning half."""
    parser.add_argument("--cases", nargs="+", required=True, choices=list(CASES))
    parser.add_argument("--n-null", type=int, default=n_null)
    parser.add_argument("--realisations", type=int, default=realisations)
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument("--heldout", action="store_true", help="allow held-out cases (reporting only)")
    args = parser.parse_args(argv)
    tuning = set(halves()["tuning"])
    if not args.heldout and not set(args.cases) <= tuning:
        parser.error(f"held-out cases {sorted(set(args.cases) - tuning)} choose nothing: pass --heldout to report them")
    return args


def _check_name(name: str) -> PanelCase:
    if name not in CASES:
        raise ValueError(f"`name` must be one of the panel cases {list(CASES)}; got {name!r}.")
    return CASES[name]


def manifest() -> dict:
    """data/manifest.json: per case its half, sizes, source, dtype and the sha256 of its data file."""
    path = DATA_DIR / "manifest.json"
    if not path.is_file():
        raise ValueError(f"the panel manifest {path} is missing; rebuild the panel with `{REBUILD}`.")
    return json.loads(path.read_text())


@lru_cache(maxsize=None)
def _read(path: str, mtime_ns: int, size: int, sha256: str) -> dict[str, np.ndarray]:
    """The arrays of one verified data file; cached per file state, so an altered file is read (and refused) again."""
    blob = Path(path).read_bytes()
    got = hashlib.sha256(blob).hexdigest()
    if got != sha256:
        raise ValueError(
            f"the panel data file {path} does not match its sha256 in manifest.json (got {got[:12]}..., "
            f"expected {sha256[:12]}...); rebuild the panel with `{REBUILD}`."
        )
    with np.load(path, allow_pickle=False) as npz:
        arrays = {key: npz[key] for key in npz.files}
    scale = np.float32(arrays.pop("scale"))  # uint8 pixels are stored as counts; floats have scale 1
    for key in ("common", "rare"):
        arrays[key] = arrays[key].astype(np.float32) * scale if scale != 1 else arrays[key].astype(np.float32)
    for value in arrays.values():
        value.setflags(write=False)  # shared by every caller of this process
    return arrays


def load(name: str) -> tuple[np.ndarray, np.ndarray, dict]:
    """The common and rare pools of a case, float32 arrays of shape (n_common, d) and (n_rare, d), and its metadata.

    The arrays are read-only (they are cached). The metadata holds the manifest entry and, where the case
    has them, per-row ``common_text``/``rare_text`` (lists of str), ``common_title``/``rare_title`` (article or
    corpus), ``common_label``/``rare_label`` (class) or ``common_component`` (GMM component).
    Raises ValueError if the data file is missing or does not match its sha256 in data/manifest.json.
    """
    _check_name(name)
    entry = manifest().get("cases", {}).get(name)
    if entry is None:
        raise ValueError(f"the panel manifest has no entry for {name!r}; rebuild the panel with `{REBUILD}`.")
    path = DATA_DIR / entry["file"]
    if not path.is_file():
        raise ValueError(f"the panel data file {path} is missing; rebuild the panel with `{REBUILD}`.")
    stat = path.stat()
    arrays = _read(str(path), stat.st_mtime_ns, stat.st_size, entry["sha256"])
    meta = dict(entry)
    for key, value in arrays.items():
        if key not in ("common", "rare"):
            meta[key] = value.tolist() if value.dtype.kind == "U" else value
    return arrays["common"], arrays["rare"], meta


def resplit(seed: int, n_signal: int, name: str, n_ref: int, n_data: int):
    """One re-split of a case, with the contract of ``resplit`` in benchmarks/bench_compare.py.

    reference = common[order[:n_ref]] for a seeded permutation ``order`` of the common pool; data = the next
    n_data - n_signal common rows, then n_signal rare rows drawn without replacement by the same Generator.
    Returns (reference, data, is_signal): float32 arrays of shape (n_ref, d) and (n_data, d), and a bool mask
    of shape (n_data,) that is True on the rare rows (the last n_signal).
    """
    common, rare, _ = load(name)
    if not 0 <= n_signal <= min(n_data, len(rare)):
        raise ValueError(f"`n_signal` must be in [0, min(n_data, {len(rare)} rare rows)] for {name!r}; got {n_signal}.")
    if n_ref < 1 or n_ref + n_data - n_signal > len(common):
        raise ValueError(
            f"`n_ref` + `n_data` - `n_signal` must be at most the {len(common)} common rows of {name!r}; "
            f"got {n_ref} + {n_data} - {n_signal}."
        )
    rng = np.random.default_rng(seed)
    order = rng.permutation(len(common))
    reference = common[order[:n_ref]]
    data = np.vstack([common[order[n_ref : n_ref + n_data - n_signal]], rare[rng.choice(len(rare), n_signal, replace=False)]])
    return reference, data, np.arange(n_data) >= n_data - n_signal
