"""The bundled samples in ``sample_data/``: one parquet file each, split by its ``split`` column."""

from __future__ import annotations

from pathlib import Path

SAMPLE_DIR = Path(__file__).resolve().parent.parent / "sample_data"
# name -> (file under sample_data/, one-line description)
SAMPLES = {
    "wiki": ("wiki/sample.parquet", "Wikipedia sentences, all-MiniLM-L6-v2 (384-d); rare topic held out of the reference"),
    "digits": ("digits/sample.parquet", "scikit-learn 8x8 handwritten digits (64-d); digit 0 held out of the reference"),
    "bump": ("teaching/bump.parquet", "2-D teaching set: Gaussian background with a small bump"),
    "deficit": ("teaching/deficit.parquet", "2-D teaching set: a disc where the data are missing"),
    "two_bumps": ("teaching/two_bumps.parquet", "2-D teaching set: two separate small bumps"),
    "ring": ("teaching/ring.parquet", "2-D teaching set: a ring with an off-ring cluster at its centre"),
}
TEACHING_SAMPLES = ("bump", "deficit", "two_bumps", "ring")


def sample_inputs(name: str) -> dict:
    """``load_pair`` arguments of a bundled sample: ``load_pair(**sample_inputs("wiki"))``."""
    if name not in SAMPLES:
        raise ValueError(f"`sample` must be one of {', '.join(SAMPLES)}; got {name!r}.")
    path = SAMPLE_DIR / SAMPLES[name][0]
    return {"reference": str(path), "label_column": "split", "reference_value": "reference", "data_value": "data",
            "vector_column": "embedding"}
