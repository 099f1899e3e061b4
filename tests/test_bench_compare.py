"""The comparison benchmark's quick mode runs in CI: every case and method produces its rows, through the
same shared-null path as the full mode, and the quick mode writes nothing."""

import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

ROOT = Path(__file__).resolve().parent.parent


@pytest.mark.slow
def test_quick_comparison_benchmark_prints_every_case_and_method():
    readme = (ROOT / "benchmarks" / "README.md").read_text()
    results = sorted((ROOT / "benchmarks" / "results").glob("*")) if (ROOT / "benchmarks" / "results").exists() else []
    done = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "bench_compare.py"), "--quick"],
                          capture_output=True, text=True, timeout=900, cwd=ROOT)
    assert done.returncode == 0, done.stderr[-2000:]
    out = done.stdout
    assert "mode: QUICK" in out
    assert "shared null of sparker, fixed: 20 no-signal fits per case" in out
    for case in ("nplm1d", "gauss-16", "wiki", "digits"):
        assert f"## {case}" in out
    assert out.count("Shared null (sparker, fixed): 20 no-signal draws of the case") == 4  # the null size, per case
    assert out.count("| 0 (type I) |") == 4  # a type-I row per case
    for method in ("sparker", "mmd", "mmd-agg", "c2st", "knn", "fixed"):
        assert f"| {method} |" in out  # its row of the cost table
    assert "| sparker | shared null of 20 (timed: 20 permutations) |" in out
    assert "| c2st | binomial |" in out
    assert "Rejection rate at alpha = 0.05" in out and "total " in out
    # quick mode touches neither the README nor the results
    assert (ROOT / "benchmarks" / "README.md").read_text() == readme
    after = sorted((ROOT / "benchmarks" / "results").glob("*")) if (ROOT / "benchmarks" / "results").exists() else []
    assert after == results


def _bench():
    sys.path.insert(0, str(ROOT / "benchmarks"))
    try:
        import bench_compare
    finally:
        sys.path.pop(0)
    return bench_compare


def test_readme_block_replaces_only_the_text_between_the_markers(tmp_path):
    bench = _bench()
    readme = tmp_path / "README.md"
    text = f"# Title\n\nbefore\n{bench.BEGIN}\nold table\n{bench.END}\nafter\n"
    block = bench.readme_block("python benchmarks/bench_compare.py", ["run facts"], [("digits", "\n## digits  sizes\n\n| t |")],
                               {"digits": tmp_path / "results" / "compare-2026-01-01-digits.png"}, "speed line", "total 1 s", readme)
    new = bench.replace_between_markers(text, block)
    assert new.startswith("# Title\n\nbefore\n" + bench.BEGIN + "\n") and new.endswith(bench.END + "\nafter\n")
    assert "old table" not in new and "### digits  sizes" in new and "- run facts" in new and "speed line" in new
    assert "[results/compare-2026-01-01-digits.png](results/compare-2026-01-01-digits.png)" in new  # relative to the README
    assert bench.replace_between_markers(new, block) == new  # a second run replaces the first
    with pytest.raises(ValueError, match="must hold one"):
        bench.replace_between_markers("no markers", block)


def test_null_seeds_are_disjoint_from_every_realisation_seed():
    bench = _bench()
    largest = max(s for quick in (True, False) for case in bench.cases(quick) for s in case.signals)
    assert bench.realisation_seed(largest, bench.MAX_REALISATIONS - 1) < bench.NULL_SEED


def test_multi_width_pvalues_combine_each_test_with_the_shared_null():
    """A "sparker-multi" test row gets the min-p combination of its per-width t over the null draws'
    per-width t, ranked among all of them, and the top-kernel share of its most significant width."""
    bench = _bench()
    from sparker_core import empirical_pvalue
    from sparker_core.calibration import combined_statistics

    case = bench.Case("toy", (0, 5), {})
    rng = np.random.default_rng(0)
    null = rng.normal(size=(20, 3))
    rows = [row for j in range(20) for row in bench.fit_rows(case, "null", 0, j, j, "sparker-multi", t=list(null[j]))]
    rows += bench.fit_rows(case, "test", 5, 0, 0, "sparker-multi", t=[9.0, 9.5, 9.0], share=[0.1, 0.8, 0.3])
    rows += bench.fit_rows(case, "test", 0, 1, 1, "sparker-multi", t=[0.1, 0.2, 0.3], share=np.nan)
    rows += bench.fit_rows(case, "test", 5, 2, 2, "sparker-multi", t=[0.0, 9.0, 0.0], share=[0.1, 0.8, 0.3])
    frame = bench.shared_pvalues(bench.to_frame(rows))
    loud, quiet, middle = frame[frame.kind == "test"].itertuples()
    stat, stat_null = combined_statistics(np.array([9.0, 9.5, 9.0]), null.T, "minp")
    assert loud.pvalue == pytest.approx(empirical_pvalue(stat, stat_null)) and loud.t == pytest.approx(stat)
    assert loud.pvalue == pytest.approx(1 / 21)  # beyond every null draw at every width
    assert loud.top_kernel_signal_share == pytest.approx(0.1)  # the smallest p, all equal: the narrowest width
    assert 1 / 21 < quiet.pvalue <= 1 and np.isnan(quiet.top_kernel_signal_share)
    assert middle.top_kernel_signal_share == pytest.approx(0.8)  # the width that gave the smallest p
    assert middle.pvalue <= 3 / 21  # leading at one width ties with the null draws that lead at the others
    assert (frame[frame.kind == "null"].t.to_numpy() == null[:, 0]).all()  # null rows keep the narrowest width's t


def test_the_registry_holds_each_method_once_under_its_own_name():
    bench = _bench()  # its import puts benchmarks/ on sys.path, where the compare package is
    from compare.methods import DEFAULT_METHODS, METHODS, REGISTRY, shared_null

    assert list(REGISTRY) == list(METHODS) and len(set(METHODS)) == len(METHODS)
    assert all(REGISTRY[name].name == name for name in METHODS)
    assert len({id(method) for method in REGISTRY.values()}) == len(REGISTRY)  # no object under two names
    assert DEFAULT_METHODS == ("sparker", "mmd", "mmd-agg", "c2st", "knn", "fixed")
    assert shared_null(METHODS) == [m for m in METHODS if m == "fixed" or m.startswith("sparker")]
    assert bench.METHODS == METHODS


def test_a_row_round_trips_through_the_csv_with_its_types(tmp_path):
    import dataclasses

    bench = _bench()
    from compare.rows import FIELDS, Row, append_csv, read_csv

    case = bench.Case("toy", (0, 5), {})
    rows = bench.fit_rows(case, "test", 5, 3, 5003, "sparker-multi", t=[1.5, 2.25, 0.125], seconds=0.5,
                          calibration="shared null of 20", share=[0.1, float("nan"), 1.0])
    rows += bench.fit_rows(case, "test", 5, 3, 5003, "mmd", t=0.75, pvalue=0.04, calibration="20 permutations", seconds=0.25)
    path = tmp_path / "rows.csv"
    append_csv(rows[:2], path)
    append_csv(rows[2:], path)  # a streamed run appends unit by unit, the header once
    back = read_csv(path)
    assert list(back.columns) == FIELDS and len(back) == 4
    assert back.scale.tolist() == [0, 1, 2, 0]  # one row per width of the multi-scale fit
    for row, got in zip(rows, back.to_dict("records")):
        again = Row(**got)
        for name, value in dataclasses.asdict(row).items():
            assert type(getattr(again, name)) is type(value), name
            if isinstance(value, float) and np.isnan(value):
                assert np.isnan(getattr(again, name)), name
            else:
                assert getattr(again, name) == value, name


def test_the_older_csv_layout_is_read_as_one_row_per_width(tmp_path):
    _bench()
    from compare.rows import read_csv

    path = tmp_path / "old.csv"
    path.write_text("case,kind,n_signal,realisation,seed,method,t,pvalue,calibration,seconds,top_kernel_signal_share,"
                    "t_widths,share_widths\n"
                    "toy,test,5,0,5000,sparker,7.0,0.05,shared null of 20,1.5,0.8,1.0;2.0;3.0,0.1;0.8;0.3\n"
                    "toy,test,5,0,5000,mmd,0.5,0.01,20 permutations,0.2,,,\n")
    back = read_csv(path)
    assert back.scale.tolist() == [0, 1, 2, 0] and back.t.tolist() == [1.0, 2.0, 3.0, 0.5]
    assert back.top_kernel_signal_share.iloc[:3].tolist() == [0.1, 0.8, 0.3] and np.isnan(back.top_kernel_signal_share.iloc[3])
    assert back.pvalue.iloc[:3].isna().all() and back.pvalue.iloc[3] == 0.01  # the combined p is recomputed
    assert (back.calibration == ["shared null of 20"] * 3 + ["20 permutations"]).all()
