"""``sparker sensitivity``: the power curve of the test for k anomalies of a chosen kind.

The inputs load as for ``sparker run`` (``--sample``, or ``--reference`` with ``--data`` or a split
column), or from ``--reference`` alone with ``--n-data``. The kind is ``--candidates FILE`` (a
separate file of rows), ``--candidate-rows`` (data rows by index) or ``--label-column`` with
``--label-value`` (the reference and data rows with that metadata value). The cost estimate is
printed before any pseudo-experiment runs, then one table row per count as its pseudo-experiments
finish, then the smallest counts detected at 50 % and 90 % power.
"""

from __future__ import annotations

import argparse
from types import SimpleNamespace

import numpy as np
import pandas as pd

from ._validation import fail
from .samples import SAMPLES
from .sensitivity import LEVELS, METHODS, estimate_cost, plan_sensitivity, sensitivity_iter, split_kind


# the inputs, as `sparker run` reads them (its --label-column is --split-column here), and the kind
INPUT_OPTIONS = (
    ("--reference", "reference embeddings (any format `sparker run` reads)"),
    ("--data", "data embeddings; their size is the pseudo-data's (default --n-data)"),
    ("--split-column", "column of the --reference file saying reference or data"),
    ("--reference-value", "--split-column value of reference rows"),
    ("--data-value", "--split-column value of data rows"),
    ("--key", "array / dataset / tensor name inside .npz, .h5 or .pt files"),
    ("--features", "comma-separated columns of a table that form the vectors"),
    ("--ignore", "comma-separated columns of a table to leave out of the vectors"),
    ("--sample", f"a bundled sample instead of files: {', '.join(SAMPLES)}"),
    ("--candidates", "a file of candidate rows (the kind of anomaly)"),
    ("--candidate-rows", "comma-separated data row indices forming the kind"),
    ("--label-column", "metadata column whose --label-value marks the kind"),
    ("--label-value", "value of --label-column marking the kind (compared as text)"),
)


def add_parser(sub) -> None:
    """The ``sensitivity`` subcommand on the ``sparker`` parser's subparsers."""
    p = sub.add_parser("sensitivity", help="power curve: would the test have found k anomalies of this kind?")
    for flag, text in INPUT_OPTIONS:
        p.add_argument(flag, help=text)
    p.add_argument("--counts", default="5,10,20,40", help="comma-separated candidate rows injected (default 5,10,20,40)")
    p.add_argument("--experiments", type=int, default=20, help="pseudo-experiments per count")
    p.add_argument("--null", type=int, help="no-injection fits in the shared null (default: twice --experiments)")
    p.add_argument("--n-data", type=int, help="pseudo-data rows (default: the data's size)")
    p.add_argument("--n-reference", type=int, help="pseudo-reference rows (default: the rest of the reference)")
    p.add_argument("--alpha", type=float, default=0.05, help="level of each test")
    p.add_argument("--no-mmd", action="store_true", help="SparKer only, without the MMD baseline's curve")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--ray", nargs="?", const="", metavar="ADDRESS",
                   help="run the fits as Ray tasks: on the cluster at ADDRESS, else at RAY_ADDRESS, else on a new local one")
    p.set_defaults(func=sensitivity_command)


def _ints(name: str, text: str) -> list[int]:
    try:
        return [int(part) for part in text.split(",") if part.strip()]
    except ValueError:
        fail(name, "comma-separated integers", text)


def _load_inputs(args) -> tuple[np.ndarray, np.ndarray | None, pd.DataFrame | None, pd.DataFrame | None]:
    """(reference, data or None, their metadata): as ``sparker run`` loads them, or the reference file alone."""
    from .cli import _load, _names
    from .loaders import load_embeddings

    if args.sample and (args.reference or args.data or args.split_column):
        raise ValueError("`--sample` cannot be combined with `--reference`, `--data` or `--split-column`.")
    if args.sample or args.data or args.split_column:
        run_args = SimpleNamespace(**{**vars(args), "label_column": args.split_column})
        _, pair = _load(run_args)
        return pair.reference, pair.data, pair.reference_metadata, pair.data_metadata
    if not args.reference:
        raise ValueError("`--reference` is required (or `--sample NAME`).")
    table = load_embeddings(args.reference, key=args.key, features=_names(args.features), ignore=_names(args.ignore),
                            name="reference")
    return table.vectors, None, table.metadata, None


def _kind(args, reference, data, reference_meta, data_meta) -> tuple[np.ndarray, np.ndarray]:
    """(background, candidates) from the one kind option given."""
    from .loaders import load_embeddings

    given = [name for name in ("candidates", "candidate_rows", "label_column") if getattr(args, name) is not None]
    if len(given) != 1:
        raise ValueError("give the kind of anomaly with exactly one of `--candidates FILE`, `--candidate-rows I,J,...` "
                         f"or `--label-column COL --label-value V`; got {len(given)}.")
    if args.candidates:
        return reference, load_embeddings(args.candidates, key=args.key, name="candidates").vectors
    if args.candidate_rows:
        if data is None:
            raise ValueError("`--candidate-rows` are data rows: give `--data` or `--sample`.")
        rows = np.array(_ints("--candidate-rows", args.candidate_rows), dtype=int)
        if rows.size == 0 or rows.min() < 0 or rows.max() >= len(data) or np.unique(rows).size < rows.size:
            fail("--candidate-rows", f"distinct data row indices in [0, {len(data) - 1}]", args.candidate_rows)
        return split_kind(reference, data, data_rows=rows)
    if args.label_value is None:
        raise ValueError("`--label-column` needs `--label-value`.")
    tables = [meta for meta in (reference_meta, data_meta) if meta is not None]
    if not any(args.label_column in meta.columns for meta in tables):
        fail("--label-column", "a metadata column of the inputs", args.label_column)

    def mask(meta, n):
        if meta is None or args.label_column not in meta.columns:
            return np.zeros(n, bool)
        return (meta[args.label_column].astype(str) == args.label_value).to_numpy()

    data_mask = mask(data_meta, 0 if data is None else len(data))
    return split_kind(reference, data if data is not None else reference[:0], mask(reference_meta, len(reference)),
                      data_mask)


def _row(k: int, tables: dict) -> str:
    """One count's line: per method, rejections / done, the power and its interval."""
    cells = []
    for table in tables.values():
        row = table[table["count"] == k].iloc[0]
        cells.append(f"{row.power:.2f} [{row.low:.2f}, {row.high:.2f}] ({int(row.n_rejected)}/{int(row.n_done)})")
    return f"{k:>6}  " + "  ".join(f"{cell:<32}" for cell in cells)


def sensitivity_command(args: argparse.Namespace) -> int:
    from .cli import _executor

    counts = _ints("--counts", args.counts)
    reference, data, reference_meta, data_meta = _load_inputs(args)
    background, candidates = _kind(args, reference, data, reference_meta, data_meta)
    if args.n_data is None and data is None:
        raise ValueError("`--n-data` is required when there are no data (give `--data`, `--sample` or `--n-data`).")
    n_data = args.n_data if args.n_data is not None else len(data)
    methods = ("sparker",) if args.no_mmd else METHODS
    plan = plan_sensitivity(background, candidates, counts, n_data, args.n_reference, args.experiments, args.null,
                            methods, args.alpha, args.seed)
    print(f"background {len(plan.background)} rows, {len(plan.candidates)} candidate rows of the kind; each "
          f"pseudo-experiment: {plan.n_reference} reference rows, {plan.n_data} data rows of which k are candidates")
    executor = _executor(args.ray)
    cost = estimate_cost(plan)
    print(f"cost: {cost.describe()} ({plan.n_null} null fits + {len(plan.counts)} counts x {plan.n_experiments} "
          "pseudo-experiments)", flush=True)
    print(f"\n{'count':>6}  " + "  ".join(f"{m + ' power [95% CI] (rejected)':<32}" for m in methods))
    curve, printed = None, set()
    try:
        for curve in sensitivity_iter(plan, executor):
            tables = {m: curve.power(m) for m in methods}
            first = tables[methods[0]]
            for k in first["count"][first.n_done == plan.n_experiments]:
                if k not in printed:
                    printed.add(k)
                    print(_row(int(k), tables), flush=True)
    except KeyboardInterrupt:
        print("interrupted; the counts above are complete, the others were not measured.")
        return 130
    for m in methods:
        found = [curve.smallest_count(level, m) for level in LEVELS]
        text = ", ".join(f"{level:.0%} power at k = {k}" if k is not None else f"{level:.0%} power not reached"
                         for level, k in zip(LEVELS, found))
        print(f"{m}: {text} (alpha = {plan.alpha:g}, {plan.n_experiments} pseudo-experiments per count)")
    print(f"finished in {curve.seconds:.0f} s")
    return 0
