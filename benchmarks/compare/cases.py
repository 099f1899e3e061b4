"""The comparison cases: synthetic generators, re-splits of sample_data, and the evaluation panel.

Every generator takes (seed, n_signal, **sizes) and returns (reference, data, is_signal): arrays of
shape (n_ref, d) and (n_data, d) and a bool mask of shape (n_data,) marking the signal rows.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "benchmarks" / "panel"))
import panel  # noqa: E402  (benchmarks/panel/panel.py: the evaluation panel's cases)

# Realisation seeds are 1000 * n_signal + r (r < 1000, n_signal < 1000), so below NULL_SEED; null draw j uses NULL_SEED + j.
NULL_SEED = 1_000_000
MAX_REALISATIONS = 1000


@dataclass(frozen=True)
class Case:
    name: str
    signals: tuple  # signal counts; 0 is the no-signal setting
    sizes: dict  # keyword arguments of the generator


def nplm1d(seed: int, n_signal: int, n_ref: int, n_data: int):
    rng = np.random.default_rng(seed)
    reference = rng.exponential(1.0, (n_ref, 1))
    background = rng.exponential(1.0, (rng.poisson(n_data), 1))
    signal = rng.normal(6.4, 0.16, (n_signal, 1))
    return reference, np.vstack([background, signal]), np.r_[np.zeros(len(background), bool), np.ones(n_signal, bool)]


def gauss(seed: int, n_signal: int, d: int, n_ref: int, n_data: int):
    rng = np.random.default_rng(seed)
    reference = rng.standard_normal((n_ref, d), dtype=np.float32)
    data = rng.standard_normal((n_data, d), dtype=np.float32)
    data[:n_signal] = 1.0 + 0.25 * rng.standard_normal((n_signal, d), dtype=np.float32)
    return reference, data, np.arange(n_data) < n_signal


@lru_cache(maxsize=None)
def sample(name: str):
    """The common rows (reference and data splits together) and the rare rows; read once per process."""
    frame = pd.read_parquet(ROOT / "sample_data" / name / "sample.parquet")
    vectors = np.stack(frame["embedding"].to_numpy()).astype(np.float32)
    rare = frame["is_anomaly"].to_numpy()
    return vectors[~rare], vectors[rare]


def resplit(seed: int, n_signal: int, name: str, n_ref: int, n_data: int):
    common, rare = sample(name)
    rng = np.random.default_rng(seed)
    order = rng.permutation(len(common))
    reference = common[order[:n_ref]]
    data = np.vstack([common[order[n_ref : n_ref + n_data - n_signal]], rare[rng.choice(len(rare), n_signal, replace=False)]])
    return reference, data, np.arange(n_data) >= n_data - n_signal


GENERATORS = {"nplm1d": nplm1d, "gauss": gauss, "wiki": resplit, "digits": resplit}


def cases(quick: bool) -> list[Case]:
    if quick:  # smaller sizes and one signal level: a smoke run, not a measurement of power
        return [
            Case("nplm1d", (0, 10), dict(n_ref=4000, n_data=400)),
            Case("gauss-16", (0, 10), dict(d=16, n_ref=1000, n_data=200)),
            Case("wiki", (0, 30), dict(name="wiki", n_ref=2000, n_data=400)),
            Case("digits", (0, 20), dict(name="digits", n_ref=1100, n_data=400)),
        ]
    return [
        Case("nplm1d", (0, 10, 20), dict(n_ref=20000, n_data=2000)),
        *[Case(f"gauss-{d}", (0, 10, 20), dict(d=d, n_ref=4000, n_data=500)) for d in (2, 16, 128)],
        Case("wiki", (0, 15, 30), dict(name="wiki", n_ref=4000, n_data=600)),
        Case("digits", (0, 10, 20), dict(name="digits", n_ref=1100, n_data=400)),
        *panel_cases(),
    ]


def panel_cases() -> list[Case]:
    """The evaluation panel (benchmarks/panel): real cases in a tuning and a held-out half."""
    return [Case(name, c.signals, dict(name=name, n_ref=c.n_ref, n_data=c.n_data)) for name, c in panel.CASES.items()]


def groups(known: list[str]) -> dict[str, list[str]]:
    """The group names of ``--cases``: the panel's halves "tuning" and "heldout", and "old" (the cases before the panel)."""
    return {**panel.halves(), "old": [n for n in known if n not in panel.CASES]}


def generate(case: Case, seed: int, n_signal: int):
    if case.name in panel.CASES:
        return panel.resplit(seed, n_signal, **case.sizes)
    return GENERATORS[case.name.split("-")[0]](seed, n_signal, **case.sizes)


def realisation_seed(n_signal: int, r: int) -> int:
    """Seed of realisation r at a signal level: the data draw and the method's own randomness."""
    return 1000 * n_signal + r
