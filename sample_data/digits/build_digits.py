"""Build sample_data/digits/sample.parquet: scikit-learn's 8x8 digits with one class held out of the reference.

Run from the repository root (after ``.venv/bin/pip install -r sample_data/requirements-build.txt``):

    .venv/bin/python sample_data/build_digits.py

Offline and deterministic: the images ship inside scikit-learn, every random choice comes from one
seeded numpy Generator, and the UMAP layout uses a fixed ``random_state``. See sample_data/digits/README.md.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

HERE = Path(__file__).resolve().parent
OUT = HERE / "sample.parquet"

SEED = 20240611
RARE_DIGIT = 0  # held out of the reference; a small share of the data
N_DATA_COMMON = 456  # data rows from the other nine classes
N_RARE = 24  # data rows of RARE_DIGIT: 24 / 480 = 5 %
UMAP_RANDOM_STATE = 42
UMAP_NEIGHBORS = 15
UMAP_MIN_DIST = 0.1


def choose_rows(target: np.ndarray, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Row indices into load_digits for the reference and the data (data rows in random order).

    The data take N_DATA_COMMON rows of the nine other classes (a uniform draw, so the class mix
    matches the reference) plus N_RARE rows of RARE_DIGIT; every other row of the nine classes is
    the reference. The remaining RARE_DIGIT rows are not used.
    """
    common = np.flatnonzero(target != RARE_DIGIT)
    rare = np.flatnonzero(target == RARE_DIGIT)
    perm = rng.permutation(common.size)
    data_common = common[perm[:N_DATA_COMMON]]
    reference = np.sort(common[perm[N_DATA_COMMON:]])
    data_rare = rare[rng.choice(rare.size, N_RARE, replace=False)]
    data = np.concatenate([data_common, data_rare])
    return reference, data[rng.permutation(data.size)]


def umap_layout(vectors: np.ndarray) -> np.ndarray:
    import umap

    reducer = umap.UMAP(
        n_components=2, n_neighbors=UMAP_NEIGHBORS, min_dist=UMAP_MIN_DIST, metric="euclidean",
        random_state=UMAP_RANDOM_STATE, n_jobs=1,
    )
    return reducer.fit_transform(vectors).astype(np.float32)


def main() -> None:
    from sklearn.datasets import load_digits

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=OUT)
    args = parser.parse_args()
    t0 = time.perf_counter()
    digits = load_digits()
    pixels = digits.data.astype(np.int64)  # (1797, 64), integers 0..16
    target = digits.target.astype(np.int64)
    reference, data = choose_rows(target, np.random.default_rng(SEED))
    rows = np.concatenate([reference, data])
    split = ["reference"] * reference.size + ["data"] * data.size
    vectors = pixels[rows].astype(np.float32)
    t1 = time.perf_counter()
    layout = umap_layout(vectors)
    print(f"UMAP layout in {time.perf_counter() - t1:.1f} s")
    table = pa.table(
        {
            "split": pa.array(split, type=pa.string()),
            "embedding": pa.FixedSizeListArray.from_arrays(pa.array(vectors.reshape(-1), type=pa.float32()), 64),
            "is_anomaly": pa.array(np.r_[np.zeros(reference.size, bool), target[data] == RARE_DIGIT], type=pa.bool_()),
            "umap_x": pa.array(layout[:, 0], type=pa.float32()),
            "umap_y": pa.array(layout[:, 1], type=pa.float32()),
            "digit": pa.array(target[rows], type=pa.int64()),
            "image": pa.FixedSizeListArray.from_arrays(pa.array(pixels[rows].reshape(-1), type=pa.uint8()), 64),
        }
    ).replace_schema_metadata(
        {
            "sparker.sample": "digits",
            "sparker.rare_digit": str(RARE_DIGIT),
            "sparker.seed": str(SEED),
            "sparker.source": "sklearn.datasets.load_digits (UCI optical recognition of handwritten digits, test set)",
            "sparker.umap": f"umap-learn n_neighbors={UMAP_NEIGHBORS} min_dist={UMAP_MIN_DIST} metric=euclidean random_state={UMAP_RANDOM_STATE}",
        }
    )
    args.out.parent.mkdir(parents=True, exist_ok=True)
    pq.write_table(table, args.out, compression="zstd")
    n_rare = int((target[data] == RARE_DIGIT).sum())
    print(
        f"wrote {args.out} ({args.out.stat().st_size / 1e6:.2f} MB): reference {reference.size}, data {data.size} "
        f"({n_rare} of digit {RARE_DIGIT}, {n_rare / data.size:.1%}); total {time.perf_counter() - t0:.1f} s"
    )


if __name__ == "__main__":
    main()
