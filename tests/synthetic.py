"""Synthetic samples shared by the tests."""

import numpy as np


def gaussian(seed, n_ref=300, n_data=100, d=3, bump=0, loc=1.6):
    """Standard-normal reference (n_ref, d) and data (n_data, d); ``bump`` data rows replaced by a
    compact cluster (sd 0.15) at (loc, ..., loc)."""
    rng = np.random.default_rng(seed)
    reference, data = rng.normal(size=(n_ref, d)), rng.normal(size=(n_data, d))
    if bump:
        data[:bump] = rng.normal(loc=loc, scale=0.15, size=(bump, d))
    return reference, data
