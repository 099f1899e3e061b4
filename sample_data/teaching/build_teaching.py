"""Build the four 2-D teaching sets in sample_data/teaching/: bump, deficit, two_bumps, ring.

Run from the repository root (numpy and pyarrow from requirements.txt are enough):

    .venv/bin/python sample_data/build_teaching.py

Each set has its own fixed seed, so the files are identical on every rebuild. See sample_data/teaching/README.md.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

HERE = Path(__file__).resolve().parent
N_REFERENCE = 5000
N_DATA = 1000

# ---- the sets: every number a README reader might want lives here
BUMP = dict(seed=101, n_planted=40, center=(1.5, 1.0), width=0.15)
DEFICIT = dict(seed=102, center=(1.0, -0.5), radius=0.5, keep=0.2)
TWO_BUMPS = dict(seed=103, n_planted=(25, 25), centers=((-1.5, 1.2), (1.4, -1.3)), width=0.15)
RING = dict(seed=104, n_planted=40, radius=2.0, radial_width=0.15, center=(0.0, 0.0), width=0.2)


def gaussian_background(rng: np.random.Generator, n: int) -> np.ndarray:
    """Standard 2-D normal."""
    return rng.standard_normal((n, 2))


def blob(rng: np.random.Generator, n: int, center, width: float) -> np.ndarray:
    return np.asarray(center, float) + width * rng.standard_normal((n, 2))


def ring(rng: np.random.Generator, n: int, radius: float, radial_width: float) -> np.ndarray:
    angle = rng.uniform(0.0, 2.0 * np.pi, n)
    r = radius + radial_width * rng.standard_normal(n)
    return np.column_stack([r * np.cos(angle), r * np.sin(angle)])


def thinned_background(rng: np.random.Generator, n: int, center, radius: float, keep: float) -> np.ndarray:
    """n background points after keeping only a fraction `keep` of those inside the disc (rejection)."""
    out, have = [], 0
    while have < n:
        x = gaussian_background(rng, 2 * n)
        inside = np.linalg.norm(x - np.asarray(center, float), axis=1) < radius
        x = x[~inside | (rng.uniform(size=x.shape[0]) < keep)]
        out.append(x)
        have += x.shape[0]
    return np.concatenate(out)[:n]


def with_planted(rng: np.random.Generator, background: np.ndarray, planted: np.ndarray):
    """Data = background + planted rows, shuffled; returns points and the planted mask."""
    points = np.concatenate([background, planted])
    mask = np.r_[np.zeros(background.shape[0], bool), np.ones(planted.shape[0], bool)]
    order = rng.permutation(points.shape[0])
    return points[order], mask[order]


def make_bump():
    p = BUMP
    rng = np.random.default_rng(p["seed"])
    reference = gaussian_background(rng, N_REFERENCE)
    data, planted = with_planted(
        rng, gaussian_background(rng, N_DATA - p["n_planted"]), blob(rng, p["n_planted"], p["center"], p["width"])
    )
    return reference, data, planted


def make_deficit():
    p = DEFICIT
    rng = np.random.default_rng(p["seed"])
    reference = gaussian_background(rng, N_REFERENCE)
    data = thinned_background(rng, N_DATA, p["center"], p["radius"], p["keep"])
    return reference, data, np.zeros(N_DATA, bool)  # a deficit has no planted points


def make_two_bumps():
    p = TWO_BUMPS
    rng = np.random.default_rng(p["seed"])
    reference = gaussian_background(rng, N_REFERENCE)
    bumps = np.concatenate([blob(rng, n, c, p["width"]) for n, c in zip(p["n_planted"], p["centers"])])
    data, planted = with_planted(rng, gaussian_background(rng, N_DATA - sum(p["n_planted"])), bumps)
    return reference, data, planted


def make_ring():
    p = RING
    rng = np.random.default_rng(p["seed"])
    reference = ring(rng, N_REFERENCE, p["radius"], p["radial_width"])
    data, planted = with_planted(
        rng,
        ring(rng, N_DATA - p["n_planted"], p["radius"], p["radial_width"]),
        blob(rng, p["n_planted"], p["center"], p["width"]),
    )
    return reference, data, planted


SETS = {"bump": make_bump, "deficit": make_deficit, "two_bumps": make_two_bumps, "ring": make_ring}
PARAMS = {"bump": BUMP, "deficit": DEFICIT, "two_bumps": TWO_BUMPS, "ring": RING}


def to_table(name: str, reference: np.ndarray, data: np.ndarray, planted: np.ndarray) -> pa.Table:
    points = np.concatenate([reference, data]).astype(np.float32)
    table = pa.table(
        {
            "split": pa.array(["reference"] * reference.shape[0] + ["data"] * data.shape[0], type=pa.string()),
            "embedding": pa.FixedSizeListArray.from_arrays(pa.array(points.reshape(-1), type=pa.float32()), 2),
            "is_anomaly": pa.array(np.r_[np.zeros(reference.shape[0], bool), planted], type=pa.bool_()),
        }
    )
    return table.replace_schema_metadata({"sparker.sample": f"teaching/{name}", "sparker.params": repr(PARAMS[name])})


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out-dir", type=Path, default=HERE)
    args = parser.parse_args()
    t0 = time.perf_counter()
    args.out_dir.mkdir(parents=True, exist_ok=True)
    for name, make in SETS.items():
        reference, data, planted = make()
        path = args.out_dir / f"{name}.parquet"
        pq.write_table(to_table(name, reference, data, planted), path, compression="zstd")
        print(f"wrote {path} ({path.stat().st_size / 1e3:.0f} kB): reference {reference.shape[0]}, data {data.shape[0]}, planted {int(planted.sum())}")
    print(f"total {time.perf_counter() - t0:.1f} s")


if __name__ == "__main__":
    main()
