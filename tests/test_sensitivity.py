"""The sensitivity explorer: pseudo-experiments without reused rows, the shared null's p-values,
the power curve's shape on a synthetic case, streaming and stop, and ``sparker sensitivity``."""

from __future__ import annotations

import numpy as np
import pytest

from sparker_core.calibration import combined_statistics, empirical_pvalue
from sparker_core.cli import main
from sparker_core.sensitivity import (
    draw_experiment,
    estimate_cost,
    plan_sensitivity,
    sensitivity,
    sensitivity_iter,
    shared_null_test,
    split_kind,
)

FAST = {"max_epochs": 40, "n_kernels": 4}  # SparKer settings that keep each fit well under a second


def gaussian_kind(seed: int = 0, n_background: int = 900, n_candidates: int = 80, d: int = 3):
    """A standard Gaussian background and a compact bump of candidates away from its centre."""
    rng = np.random.default_rng(seed)
    background = rng.standard_normal((n_background, d)).astype(np.float32)
    candidates = (1.5 + 0.2 * rng.standard_normal((n_candidates, d))).astype(np.float32)
    return background, candidates


def test_no_row_is_reused_within_a_pseudo_experiment():
    background, candidates = gaussian_kind()
    plan = plan_sensitivity(background, candidates, [0, 5, 80], n_data=100, n_reference=800, n_experiments=3,
                            n_null=19, options=FAST)
    for unit in plan.units():
        rows = plan.experiment(unit)
        k = 0 if unit[0] == "null" else unit[0]
        assert rows.reference_rows.size == 800 and rows.data_rows.size == 100 - k and rows.injected_rows.size == k
        used = np.concatenate([rows.reference_rows, rows.data_rows])
        assert np.unique(used).size == used.size and used.max() < len(background)
        assert np.unique(rows.injected_rows).size == k and (k == 0 or rows.injected_rows.max() < len(candidates))
    # the same unit draws the same rows; other units other rows
    first = plan.experiment((5, 0))
    np.testing.assert_array_equal(first.reference_rows, plan.experiment((5, 0)).reference_rows)
    assert not np.array_equal(first.reference_rows, plan.experiment((5, 1)).reference_rows)


def test_draw_experiment_uses_every_row_at_most_once_at_the_limit():
    rows = draw_experiment(3, n_background=50, n_candidates=7, n_reference=30, n_data=27, k=7)
    np.testing.assert_array_equal(np.sort(np.concatenate([rows.reference_rows, rows.data_rows])), np.arange(50))
    np.testing.assert_array_equal(np.sort(rows.injected_rows), np.arange(7))


def test_split_kind_keeps_candidates_out_of_the_background():
    reference = np.arange(10.0)[:, None] * np.ones((1, 2))
    data = 100 + np.arange(5.0)[:, None] * np.ones((1, 2))
    mask = np.zeros(10, bool)
    mask[[2, 7]] = True
    background, candidates = split_kind(reference, data, mask, [0, 4])
    assert background.shape == (8, 2) and not np.isin([2.0, 7.0], background[:, 0]).any()
    np.testing.assert_array_equal(candidates[:, 0], [2.0, 7.0, 100.0, 104.0])


def test_shared_null_test_is_the_empirical_p_or_the_combined_min_p():
    rng = np.random.default_rng(1)
    null = rng.normal(size=(40, 3))
    assert shared_null_test([0.5], null[:, 0]) == (0.5, empirical_pvalue(0.5, null[:, 0]))
    t = np.array([0.1, 2.0, -0.3])
    stat, stat_null = combined_statistics(t, null.T, "minp")
    assert shared_null_test(t, null) == (stat, empirical_pvalue(stat, stat_null))


def test_power_curve_type_one_error_and_power_on_a_synthetic_case():
    """k = 0: the rejection rate stays within the 99 % binomial band of alpha; a large k: power near 1."""
    background, candidates = gaussian_kind(seed=2)
    plan = plan_sensitivity(background, candidates, [0, 60], n_data=150, n_reference=600, n_experiments=40,
                            n_null=39, options=FAST, seed=4)
    curve = sensitivity(plan)
    assert curve.complete and curve.null_done == 39
    for method in ("sparker", "mmd"):
        table = curve.power(method).set_index("count")
        assert table.loc[0, "n_done"] == 40
        assert table.loc[0, "n_rejected"] <= 6  # binomial(40, 0.05): P(X >= 7) < 0.01
        assert table.loc[60, "power"] >= 0.95
        assert table.loc[60, "low"] <= table.loc[60, "power"] <= table.loc[60, "high"]
    assert curve.smallest_count(0.5) == 60 and curve.smallest_count(0.9, "mmd") == 60


def test_streaming_yields_after_every_fit_and_stops_when_closed():
    background, candidates = gaussian_kind()
    plan = plan_sensitivity(background, candidates, [0, 30], n_data=100, n_reference=700, n_experiments=2,
                            n_null=19, methods=["sparker"], options=FAST)
    full = sensitivity(plan)
    stream = sensitivity_iter(plan)
    curves = [next(stream) for _ in range(21)]  # the null, then two pseudo-experiments
    stream.close()
    with pytest.raises(StopIteration):
        next(stream)
    assert [c.null_done for c in curves] == list(range(1, 20)) + [19, 19]
    assert np.isnan(curves[18].pvalues["sparker"]).all() and not curves[-1].complete
    done = curves[-1].pvalues["sparker"]
    assert np.isfinite(done[0]).all() and np.isnan(done[1]).all()  # count by count
    np.testing.assert_array_equal(done[0], full.pvalues["sparker"][0])  # a stopped run's results are final
    assert curves[-1].power()["n_done"].tolist() == [2, 0] and curves[-1].smallest_count(0.0) == 0


def test_cost_estimate_counts_every_fit():
    background, candidates = gaussian_kind()
    plan = plan_sensitivity(background, candidates, [0, 10, 20], n_data=100, n_reference=700, n_experiments=5,
                            options=FAST)
    cost = estimate_cost(plan)
    assert plan.n_null == 39 and cost.n_fits == 39 + 15
    assert set(cost.seconds_per_fit) == {"sparker", "mmd"} and cost.seconds == pytest.approx(
        cost.n_fits * sum(cost.seconds_per_fit.values()))
    assert "54 fits per method" in cost.describe()


@pytest.mark.parametrize(
    "change, match",
    [
        ({"counts": []}, r"`counts` must be a non-empty list of distinct integers >= 0; got \[\]\."),
        ({"counts": [0, 81]}, r"`counts` must be at most 80 \(the candidates, and n_data - 2\); got a count of 81\."),
        ({"n_reference": 850}, r"`n_reference \+ n_data` must be at most the 900 background rows .*; got 850 \+ 100\."),
        ({"n_null": 10}, r"`n_null` must be an integer >= 19; got 10\."),
        ({"alpha": 0.7}, r"`alpha` must be in \(0, 0.5\]; got 0.7\."),
        ({"methods": ["knn"]}, r"`methods` must be a non-empty list of 'sparker', 'mmd'; got \['knn'\]\."),
        ({"options": {"seed": 3}}, r"`options` must be SparKer arguments other than `seed`"),
        ({"n_experiments": 0}, r"`n_experiments` must be an integer >= 1; got 0\."),
    ],
)
def test_bad_input_gets_one_clear_message(change, match):
    background, candidates = gaussian_kind()
    arguments = {"counts": [0, 10], "n_data": 100, "n_reference": 700, **change}
    with pytest.raises(ValueError, match=match):
        plan_sensitivity(background, candidates, **arguments)


def test_cli_end_to_end(tmp_path, capsys):
    background, candidates = gaussian_kind(n_background=600, n_candidates=30)
    np.save(tmp_path / "reference.npy", background)
    np.save(tmp_path / "candidates.npy", candidates)
    code = main(["sensitivity", "--reference", str(tmp_path / "reference.npy"), "--candidates",
                 str(tmp_path / "candidates.npy"), "--n-data", "100", "--n-reference", "400", "--counts", "0,30",
                 "--experiments", "2", "--null", "19"])
    out = capsys.readouterr().out
    assert code == 0
    lines = out.splitlines()
    cost = next(i for i, line in enumerate(lines) if line.startswith("cost: "))
    rows = [line.split()[0] for line in lines[cost + 1:] if line.strip()[:1].isdigit()]
    assert rows == ["0", "30"] and "23 fits per method" in lines[cost]
    assert "sparker: " in out and "mmd: " in out and "90% power" in out


def test_cli_kind_from_a_label_column(tmp_path, capsys):
    import pandas as pd

    background, candidates = gaussian_kind(n_background=500, n_candidates=30)
    vectors = np.concatenate([background, candidates])
    frame = pd.DataFrame({"x": vectors[:, 0], "y": vectors[:, 1], "z": vectors[:, 2],
                          "topic": ["common"] * 500 + ["rare"] * 30})
    frame.to_csv(tmp_path / "table.csv", index=False)
    code = main(["sensitivity", "--reference", str(tmp_path / "table.csv"), "--label-column", "topic",
                 "--label-value", "rare", "--n-data", "80", "--counts", "20", "--experiments", "1", "--null", "19",
                 "--no-mmd"])
    out = capsys.readouterr().out
    assert code == 0 and "background 500 rows, 30 candidate rows" in out and "mmd" not in out


@pytest.mark.parametrize(
    "arguments, message",
    [
        (["--counts", "0,10"], "give the kind of anomaly with exactly one of"),
        (["--candidate-rows", "1,2", "--counts", "1"], "`--candidate-rows` are data rows"),
        (["--label-column", "nope", "--label-value", "x"], "`--label-column` must be a metadata column"),
        (["--candidates", "{ref}", "--counts", "a,b"], "`--counts` must be comma-separated integers"),
        (["--candidates", "{ref}"], "`--n-data` is required when there are no data"),
        (["--sample", "bump", "--candidates", "{ref}"], "`--sample` cannot be combined with `--reference`, `--data` or "
                                                         "`--split-column`"),
    ],
)
def test_cli_bad_input_is_one_line(tmp_path, capsys, arguments, message):
    np.save(tmp_path / "reference.npy", gaussian_kind(n_background=200)[0])
    arguments = [a.replace("{ref}", str(tmp_path / "reference.npy")) for a in arguments]
    code = main(["sensitivity", "--reference", str(tmp_path / "reference.npy"), *arguments])
    err = capsys.readouterr().err.strip()
    assert code == 2 and len(err.splitlines()) == 1 and message in err


class RecordingExecutor:
    """An executor object: runs the blocks here and records which ones it was given and whether it was closed."""

    def __init__(self):
        self.blocks, self.closed = [], False

    def map_blocks(self, function, shared, blocks):
        self.blocks = list(blocks)
        try:
            for block in blocks:
                yield function(*shared, block)
        finally:
            self.closed = True


def test_an_executor_runs_every_fit_and_is_closed_on_stop():
    background, candidates = gaussian_kind()
    plan = plan_sensitivity(background, candidates, [20], n_data=100, n_reference=700, n_experiments=2,
                            n_null=19, methods=["mmd"])
    executor = RecordingExecutor()
    curve = sensitivity(plan, executor)
    assert executor.blocks == plan.units() and executor.closed
    np.testing.assert_array_equal(curve.pvalues["mmd"], sensitivity(plan).pvalues["mmd"])
    executor = RecordingExecutor()
    stream = sensitivity_iter(plan, executor)
    next(stream)
    stream.close()
    assert executor.closed
    with pytest.raises(ValueError, match=r"`executor` must be one of 'local', 'ray' or an executor object"):
        sensitivity_iter(plan, "cluster")
