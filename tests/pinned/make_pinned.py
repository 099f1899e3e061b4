"""Record the numbers that tests/test_pinned.py holds fixed: ``python tests/pinned/make_pinned.py``.

Run it only when a change of behaviour is intended (and say so in the commit); a refactor must
leave every number in pinned.json bit-for-bit equal.
"""

import json
import sys
from pathlib import Path

import numpy as np
import torch

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))

from synthetic import gaussian  # noqa: E402

from sparker_core import SparKer  # noqa: E402
from sparker_core.baselines.fixed_centers import fixed_centers_np_test  # noqa: E402
from sparker_core.bundle import load_bundle, save_bundle  # noqa: E402


def hexes(values) -> list[str]:
    return [float(v).hex() for v in np.asarray(values, dtype=np.float64).ravel()]


def result_numbers(result) -> dict:
    return {"t_obs": hexes(np.atleast_1d(result.t_obs)), "null": hexes(result.null_distribution), "pvalue": hexes([result.pvalue])}


def pinned_numbers(tmp: Path) -> dict:
    """Every pinned number, computed with one torch thread."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        reference, data = gaussian(0, n_ref=400, n_data=150, d=6, bump=12)
        out = {}
        # SparKer alone (fixed_kernels=0) in every case but "companion": its own numbers predate the companion test
        one = SparKer(n_kernels=4, sigma_final=1.0, max_epochs=30, seed=3, fixed_kernels=0).fit(reference, data)
        out["one_width"] = result_numbers(one.calibrate(n_toys=8, seed=1))
        out["one_width"]["scores"] = hexes(one.score_samples(data[:5]))
        out["one_width"]["centers"] = hexes(one.centers_)
        out["one_width"]["amplitudes"] = hexes(one.amplitudes_)
        out["reference_method"] = result_numbers(
            SparKer(n_kernels=4, sigma_final=1.0, max_epochs=30, seed=3, fixed_kernels=0).fit(reference, data[:90]).calibrate(n_toys=6, method="reference", seed=2)
        )
        multi = SparKer(n_kernels=4, max_epochs=30, seed=5, fixed_kernels=0).fit(reference, data)
        out["multi_scale"] = result_numbers(multi.calibrate(n_toys=6, seed=4))
        out["multi_scale"]["shown_scale"] = int(multi.calibrate(n_toys=6, seed=4).scale)
        out["configs"] = result_numbers(one.calibrate(n_toys=6, seed=6, configs=[{"sigma_final": "p20"}, {"n_kernels": 2}], combine="fisher"))
        out["fixed_centers"] = result_numbers(fixed_centers_np_test(reference, data, n_centers=20, n_toys=8, seed=7))
        companion = SparKer(n_kernels=4, max_epochs=30, seed=5, fixed_kernels=20).fit(reference, data).calibrate(n_toys=6, seed=4)
        out["companion"] = result_numbers(companion)
        out["companion"]["companion"] = result_numbers(companion.companion)
        result = one.calibrate(n_toys=8, seed=1)
        save_bundle(tmp / "bundle", one, result, reference, data, inputs={"load": {}, "files": {}}, extra={"calibration_seed": 1})
        reloaded = load_bundle(tmp / "bundle")
        out["bundle"] = result_numbers(reloaded.result)
        out["bundle"]["scores"] = hexes(reloaded.points["score"].to_numpy()[:5])
        out["bundle"]["kernels_delta_t"] = hexes(reloaded.kernels["delta_t"])
        out["capability"] = torch.backends.cpu.get_cpu_capability()
        return out
    finally:
        torch.set_num_threads(threads)


if __name__ == "__main__":
    import tempfile

    with tempfile.TemporaryDirectory() as tmp:
        numbers = pinned_numbers(Path(tmp))
    (HERE / "pinned.json").write_text(json.dumps(numbers, indent=1) + "\n")
    print("wrote", HERE / "pinned.json")
