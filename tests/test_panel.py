"""The evaluation panel (benchmarks/panel): every case loads from its verified file, the halves cover every
modality, pools fit the declared sizes, and resplit keeps bench_compare's contract."""

import shutil
import sys
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parent.parent


def _panel():
    sys.path.insert(0, str(ROOT / "benchmarks" / "panel"))
    try:
        import panel
    finally:
        sys.path.pop(0)
    return panel


panel = _panel()
NAMES = list(panel.CASES)


def test_panel_has_ten_cases_in_three_modalities_and_every_modality_in_both_halves():
    assert len(panel.CASES) >= 10
    modalities = {case.modality for case in panel.CASES.values()}
    assert len(modalities) >= 3
    halves = panel.halves()
    assert set(halves) == {"tuning", "heldout"} and halves["tuning"] and halves["heldout"]
    assert sorted(halves["tuning"] + halves["heldout"]) == sorted(NAMES)  # a partition
    for half, names in halves.items():
        assert {panel.CASES[n].modality for n in names} == modalities, half
    assert abs(len(halves["tuning"]) - len(halves["heldout"])) <= 1


@pytest.mark.parametrize("name", NAMES)
def test_case_loads_float32_pools_that_fit_its_sizes_and_matches_the_manifest(name):
    case = panel.CASES[name]
    common, rare, meta = panel.load(name)
    assert common.dtype == rare.dtype == np.float32
    assert common.ndim == rare.ndim == 2 and common.shape[1] == rare.shape[1] == meta["d"]
    assert np.isfinite(common).all() and np.isfinite(rare).all()
    assert len(common) >= case.n_ref + case.n_data and len(rare) >= max(case.signals)
    assert case.signals[0] == 0 and list(case.signals) == sorted(set(case.signals))
    assert (meta["half"], meta["modality"], meta["n_ref"], meta["n_data"], tuple(meta["signals"])) == (
        case.half, case.modality, case.n_ref, case.n_data, case.signals)
    assert (meta["n_common"], meta["n_rare"]) == (len(common), len(rare))
    assert len(np.unique(common, axis=0)) == len(common)  # so "no row in both splits" can be checked by content
    assert not common.flags.writeable  # the cached pools are shared
    if case.modality == "text":
        assert len(meta["common_text"]) == len(common) and len(meta["rare_text"]) == len(rare)
        assert isinstance(meta["rare_text"][0], str)
        np.testing.assert_allclose(np.linalg.norm(common, axis=1), 1.0, atol=2e-3)  # normalised MiniLM, float16


@pytest.mark.parametrize("name", NAMES)
def test_resplit_is_seeded_sized_masked_and_disjoint(name):
    case = panel.CASES[name]
    k = max(case.signals)
    reference, data, is_signal = panel.resplit(7, k, name, case.n_ref, case.n_data)
    again = panel.resplit(7, k, name, case.n_ref, case.n_data)
    for a, b in zip((reference, data, is_signal), again):
        np.testing.assert_array_equal(a, b)
    assert not np.array_equal(panel.resplit(8, k, name, case.n_ref, case.n_data)[0], reference)
    d = reference.shape[1]
    assert reference.shape == (case.n_ref, d) and data.shape == (case.n_data, d) and is_signal.shape == (case.n_data,)
    assert is_signal.dtype == bool and is_signal.sum() == k and is_signal[case.n_data - k :].all()
    common, rare, _ = panel.load(name)
    reference_rows = {row.tobytes() for row in reference}
    assert not any(row.tobytes() in reference_rows for row in data[~is_signal])  # no common row in both splits
    common_rows = {row.tobytes() for row in common}
    rare_rows = {row.tobytes() for row in rare}
    assert all(row.tobytes() in common_rows for row in data[~is_signal])
    assert all(row.tobytes() in rare_rows for row in data[is_signal])
    assert len({row.tobytes() for row in data[is_signal]}) == k  # drawn without replacement
    null_reference, null_data, null_mask = panel.resplit(7, 0, name, case.n_ref, case.n_data)
    assert not null_mask.any() and null_data.shape == (case.n_data, d)


def test_resplit_follows_the_bench_compare_contract():
    common, rare, _ = panel.load("digits-5")
    reference, data, is_signal = panel.resplit(3, 10, "digits-5", 1000, 400)
    rng = np.random.default_rng(3)
    order = rng.permutation(len(common))
    np.testing.assert_array_equal(reference, common[order[:1000]])
    np.testing.assert_array_equal(data[:390], common[order[1000:1390]])
    np.testing.assert_array_equal(data[390:], rare[rng.choice(len(rare), 10, replace=False)])
    np.testing.assert_array_equal(is_signal, np.arange(400) >= 390)


def test_resplit_and_load_reject_bad_arguments():
    with pytest.raises(ValueError, match=r"`name` must be one of the panel cases .*; got 'nope'\."):
        panel.load("nope")
    with pytest.raises(ValueError, match=r"`n_signal` must be in \[0, min\(n_data, 48 rare rows\)\] for 'tab-wine'; got 49\."):
        panel.resplit(0, 49, "tab-wine", 70, 60)
    with pytest.raises(ValueError, match=r"`n_ref` \+ `n_data` - `n_signal` must be at most the 130 common rows of 'tab-wine'; got 100 \+ 40 - 2\."):
        panel.resplit(0, 2, "tab-wine", 100, 40)


@pytest.fixture
def panel_copy(tmp_path, monkeypatch):
    for name in ("manifest.json", "tab-wine.npz"):
        shutil.copy(panel.DATA_DIR / name, tmp_path / name)
    monkeypatch.setattr(panel, "DATA_DIR", tmp_path)
    return tmp_path


def test_an_altered_or_missing_data_file_is_refused(panel_copy):
    common, _, _ = panel.load("tab-wine")  # the intact copy loads
    assert len(common) == 130
    path = panel_copy / "tab-wine.npz"
    blob = bytearray(path.read_bytes())
    blob[len(blob) // 2] ^= 0xFF
    path.write_bytes(bytes(blob))
    with pytest.raises(ValueError, match=r"tab-wine\.npz does not match its sha256 in manifest\.json .*rebuild the panel"):
        panel.load("tab-wine")
    with pytest.raises(ValueError, match="does not match its sha256"):
        panel.resplit(0, 2, "tab-wine", 70, 40)
    path.unlink()
    with pytest.raises(ValueError, match=r"tab-wine\.npz is missing; rebuild the panel with"):
        panel.load("tab-wine")
    (panel_copy / "manifest.json").unlink()
    with pytest.raises(ValueError, match=r"the panel manifest .*manifest\.json is missing"):
        panel.load("tab-wine")
