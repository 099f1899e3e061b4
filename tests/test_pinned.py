"""Behaviour pinned bit for bit: fixed-seed t_obs, null toys and p-values of the observed fit, the
reference method, a multi-scale fit, `configs=`, the fixed-centre baseline and a bundle reload.

A refactor must leave them equal. The numbers were recorded by tests/pinned/make_pinned.py with one
torch thread; on a CPU with another instruction set than the recording's (float sums may round
differently) they are compared to 1e-5 relative instead, and the test says so.
"""

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from pinned.make_pinned import pinned_numbers

PINNED = json.loads((Path(__file__).parent / "pinned" / "pinned.json").read_text())


@pytest.fixture(scope="module")
def numbers(tmp_path_factory):
    return pinned_numbers(tmp_path_factory.mktemp("pinned"))


@pytest.mark.parametrize("case", [k for k in PINNED if k != "capability"])
def test_fixed_seed_results_are_unchanged(numbers, case):
    exact = torch.backends.cpu.get_cpu_capability() == PINNED["capability"]
    for key, recorded in PINNED[case].items():
        got = numbers[case][key]
        if not isinstance(recorded, list):
            assert got == recorded, f"{case}.{key}"
        elif exact:
            assert got == recorded, f"{case}.{key}: not bit-for-bit equal to the recorded run"
        else:
            want = np.array([float.fromhex(v) for v in recorded])
            np.testing.assert_allclose([float.fromhex(v) for v in got], want, rtol=1e-5, err_msg=f"{case}.{key} (compared to 1e-5: other CPU)")
