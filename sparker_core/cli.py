"""The command line: ``sparker run | show | verify | report | sensitivity | demo`` (also ``python -m sparker_core``).

Every error ends the command with exit code 2 and one line on stderr; ``run`` writes nothing
to ``--out`` unless it succeeds.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import textwrap
import time
from pathlib import Path

import numpy as np
import pandas as pd

from .bundle import load_bundle, save_bundle
from .calibration import METHODS, check_method_sizes, toys_needed
from ._validation import check_choice, check_int, check_params
from .config import PARAMS
from .estimator import SparKer
from .problem import resolve_device
from .samples import SAMPLES, sample_inputs
# show / verify / printing: the summary and the bundle's inputs
from .summary import check_png, image_rows, print_summary, text_columns
from .verify import DEFAULT_VERIFY_TOYS, load_bundle_inputs, verify_bundle

def planted_bump(seed: int, n_reference: int = 20000, n_data: int = 2000, n_anomalies: int = 60, d: int = 5):
    """Gaussian reference and data in d dimensions; the first ``n_anomalies`` data rows form a compact bump."""
    rng = np.random.default_rng(seed)
    reference = rng.normal(size=(n_reference, d))
    data = rng.normal(size=(n_data, d))
    data[:n_anomalies] = rng.normal(loc=1.5, scale=0.2, size=(n_anomalies, d))
    return reference, data


# ------------------------------------------------------------------------------------ commands
def _load(args):
    from .loaders import load_pair

    if args.sample:
        if args.reference or args.data or args.label_column:
            raise ValueError("`--sample` cannot be combined with `--reference`, `--data` or `--label-column`.")
        if args.sample not in SAMPLES:
            raise ValueError(f"`--sample` must be one of {', '.join(SAMPLES)}; got {args.sample!r}.")
        spec = sample_inputs(args.sample)
    else:
        if not args.reference:
            raise ValueError("`--reference` is required (or `--sample NAME`).")
        if bool(args.data) == bool(args.label_column):
            raise ValueError("give either `--data PATH` or `--label-column COL` with `--reference-value` and `--data-value`.")
        if args.label_column and (args.reference_value is None or args.data_value is None):
            raise ValueError("`--label-column` needs both `--reference-value` and `--data-value`.")
        spec = {"reference": args.reference, "data": args.data, "label_column": args.label_column,
                "reference_value": args.reference_value, "data_value": args.data_value}
    spec = {k: v for k, v in spec.items() if v is not None}
    if args.key:
        spec["key"] = args.key
    spec.update({k: v for k, v in {"features": _names(args.features), "ignore": _names(args.ignore)}.items() if v})
    return spec, load_pair(**spec)


def _names(text: str | None) -> list[str] | None:
    """A comma-separated list of column names from the command line."""
    return [name.strip() for name in text.split(",") if name.strip()] if text else None


def _check_out(text: str) -> Path:
    """The bundle folder, checked before any work: new or empty, and its nearest existing parent writable."""
    out = Path(text)
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise ValueError(f"`--out` {text} already exists and is not an empty folder; choose a new folder.")
    parent = out.absolute().parent
    while not parent.exists():
        parent = parent.parent
    try:  # a real probe: permission bits do not tell for root or for read-only file systems
        tempfile.TemporaryDirectory(prefix=".sparker-probe-", dir=parent).cleanup()
    except OSError as err:
        raise ValueError(f"`--out` {text} cannot be written: {parent} is not a writable folder ({err.strerror}).") from None
    return out


def _check_run_args(args: argparse.Namespace) -> SparKer:
    """Every argument of ``run`` that can be checked without the inputs, before any loading or fitting."""
    check_int("--n-toys", args.n_toys, 1)
    check_int("--batch", args.batch, 1)
    check_choice("--method", args.method, METHODS)
    model = SparKer(n_kernels=args.n_kernels, max_epochs=args.epochs, seed=args.seed, device=args.device,
                    fixed_kernels=args.fixed_kernels)
    check_params(PARAMS, model.get_params())
    resolve_device(args.device)
    return model


def _executor(ray_address: str | None):
    """Where the toys run: this process, or a Ray cluster joined now, so a bad address fails before the fit."""
    if ray_address is None:
        return "local"
    from .executors import RayExecutor

    executor = RayExecutor(address=ray_address or None)
    executor.connect()
    return executor


def run(args: argparse.Namespace) -> int:
    from tqdm import tqdm

    model = _check_run_args(args)
    executor = _executor(args.ray)
    if args.out is None:  # a fresh folder named after the input and the time
        stem = args.sample or Path(args.reference or "run").stem
        args.out = f"sparker-runs/{stem}-{time.strftime('%Y%m%d-%H%M%S')}"
    out = _check_out(args.out)
    spec, pair = _load(args)
    if args.png:  # show / verify / printing: refuse before the fit
        check_png(pair.data_metadata, pair.data)
    print(f"reference {pair.reference.shape[0]} x {pair.reference.shape[1]}, data {pair.data.shape[0]} x {pair.data.shape[1]}")
    if pair.columns:
        print(textwrap.shorten(f"columns used ({len(pair.columns)}): {', '.join(map(str, pair.columns))}", width=300, placeholder=" ..."))
    check_method_sizes(args.method, pair.reference.shape[0], pair.data.shape[0])
    start = time.perf_counter()
    try:
        with tqdm(total=args.epochs, desc="training", unit="epoch", file=sys.stderr, disable=args.quiet) as bar:
            for snap in model.fit_iter(pair.reference, pair.data, every=10):
                bar.update(snap.epoch - bar.n)
                bar.set_postfix(t=f"{snap.t:.1f}", sigma=f"{snap.sigma:.3g}")
    except KeyboardInterrupt:
        print("interrupted during the fit; nothing written.", file=sys.stderr)
        return 130
    result = None
    try:
        with tqdm(total=args.n_toys, desc="null toys", unit="toy", file=sys.stderr, disable=args.quiet) as bar:
            for result in model.calibrate_iter(n_toys=args.n_toys, method=args.method, batch=args.batch, seed=args.seed,
                                               executor=executor):
                bar.update(result.n_toys - bar.n)
    except KeyboardInterrupt:
        if result is None:
            print("interrupted before the first block of toys finished; nothing written.", file=sys.stderr)
            return 130
        print(f"interrupted after {result.n_toys} of {args.n_toys} toys; writing the bundle with those toys, "
              "marked incomplete (Ctrl-C again to stop without writing).", file=sys.stderr)
    seconds = time.perf_counter() - start
    inputs = {"load": spec, "files": pair.files}
    extra = {"calibration_seed": args.seed, "seconds": round(seconds, 2)}
    if not result.complete:
        extra["incomplete"] = True
        if hasattr(result, "scale"):
            model.show_scale(result.scale)  # as a complete run would: the width with the smallest p so far
    folder = save_bundle(out, model, result, pair.reference, pair.data, inputs, pair.reference_metadata,
                         pair.data_metadata, extra=extra)
    bundle = load_bundle(folder)
    state = "finished" if result.complete else f"stopped after {result.n_toys} of {args.n_toys} toys (incomplete)"
    print(f"{state} in {seconds:.1f} s; bundle written to {folder}\n")
    print_summary(_result_dict(bundle), bundle.kernels, pair.data_metadata, data=pair.data, png=args.png)
    return 0 if result.complete else 130


def _result_dict(bundle) -> dict:
    return bundle.manifest["result"]


def _data_metadata(bundle) -> pd.DataFrame:
    points = bundle.points
    meta = points[points["split"] == "data"].drop(columns=["split", "row", "score", "kernel"])
    return meta.reset_index(drop=True)


# ------------------------------------------------------------------------------------ show / verify / printing
def show(args: argparse.Namespace) -> int:
    bundle = load_bundle(args.bundle)
    m = bundle.manifest
    print(f"bundle {bundle.path} (created {m['created']}, sparker_core {m['versions']['sparker_core']})")
    print(f"reference {m['sizes']['reference']} x {m['sizes']['features']}, data {m['sizes']['data']}; "
          f"n_kernels={m['config']['n_kernels']}, sigma {m['config']['sigma_init']:.3g} -> {m['config']['sigma_final']:.3g}")
    meta = _data_metadata(bundle)
    print_summary(_result_dict(bundle), bundle.kernels, meta, data=_image_vectors(bundle, meta, args), png=args.png)
    z = max(3.0, np.ceil(bundle.result.zscore))
    print(f"\n(claiming Z = {z:.0f} from toys alone needs {toys_needed(z)} toys)")
    print("(p, Z and the interval were recomputed from null.npy; `sparker verify` recomputes the fit, the tables, "
          "t and some toys from the inputs)")
    return 0


def _image_vectors(bundle, meta: pd.DataFrame, args: argparse.Namespace) -> np.ndarray | None:
    """The data vectors, reloaded only when they may be the images to show (square rows; no text or image
    metadata); None when they are not needed, or cannot be found (then coordinates are shown)."""
    side = int(np.sqrt(bundle.manifest["sizes"]["features"]))
    if side * side != bundle.manifest["sizes"]["features"] or text_columns(meta) or image_rows(meta, None) is not None:
        return None
    try:
        return load_bundle_inputs(bundle, args.inputs).data
    except ValueError as err:
        if args.png:
            raise
        print(f"(the rows are not drawn as images: their input files were not found: {err})")
        return None


def verify(args: argparse.Namespace) -> int:
    check_int("--toys", args.toys, 0)
    if args.toy_seed is not None:
        check_int("--toy-seed", args.toy_seed, 0)
    if args.inputs is not None and not Path(args.inputs).is_dir():
        raise ValueError(f"`--inputs` must be a folder; got {args.inputs}.")
    # load_bundle_inputs, the refit, the tables and the toys all run inside verify_bundle
    passed = verify_bundle(args.bundle, n_toys=args.toys, toy_seed=args.toy_seed, inputs_dir=args.inputs)
    for line in passed:
        print(f"ok: {line}")
    print(f"bundle {args.bundle} verified")
    return 0
# ------------------------------------------------------------------------------------ end of show / verify / printing


def demo(args: argparse.Namespace) -> int:
    reference, data = planted_bump(args.seed, n_anomalies=args.anomalies)
    print(f"reference {reference.shape}, data {data.shape}; data rows 0..{args.anomalies - 1} are a planted bump")
    start = time.perf_counter()
    model = SparKer(n_kernels=args.n_kernels, seed=args.seed).fit(reference, data)
    result = model.calibrate(n_toys=args.n_toys, seed=args.seed)
    print(f"fit + {args.n_toys} toys in {time.perf_counter() - start:.1f} s: p = {result.pvalue:.3g}, "
          f"Z = {result.zscore:.2f}; shown: sigma_final {model.sigma_final_:.3g}, t = {model.t_obs_:.1f}")
    table = model.explain()
    print(f"\n{'kernel':>6} {'kind':>8} {'amplitude':>9} {'n_data':>7} {'expected':>8} {'local Z':>7} {'delta_t':>8} {'planted':>8}")
    for row in table.itertuples():
        planted = f"{np.mean(row.members_data < args.anomalies):.0%}" if len(row.members_data) else "-"
        print(f"{row.kernel:>6} {row.kind:>8} {row.amplitude:>9.2f} {row.n_data:>7.0f} {row.expected:>8.1f} "
              f"{row.significance:>7.1f} {row.delta_t:>8.1f} {planted:>8}")
    return 0


class _Parser(argparse.ArgumentParser):
    """argparse with one-line usage errors."""

    def error(self, message):
        print(f"error: {self.prog}: {message}", file=sys.stderr)
        raise SystemExit(2)


PNG_HELP = "save the exemplars of the top excess regions as a PNG grid (image rows only)"
INPUTS_HELP = ("folder that holds the bundle's input files when they are neither beside the bundle as recorded "
               "nor at their recorded paths (matched by name, checked by sha256)")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="sparker", description="SparKer: find and locate rare anomalies in embeddings.")
    sub = parser.add_subparsers(dest="command", required=True)

    p_run = sub.add_parser("run", help="fit, calibrate and write a result bundle")
    p_run.add_argument("--reference", help="reference embeddings (.npy .npz .csv .tsv .parquet .h5 .hdf5 .pt .pth)")
    p_run.add_argument("--data", help="data embeddings (or use --label-column on the reference file)")
    p_run.add_argument("--label-column", help="column of the --reference file saying reference or data")
    p_run.add_argument("--reference-value", help="label value of reference rows")
    p_run.add_argument("--data-value", help="label value of data rows")
    p_run.add_argument("--key", help="array / dataset / tensor name inside .npz, .h5 or .pt files")
    p_run.add_argument("--features", help="comma-separated columns of a table that form the vectors (default: the numeric ones)")
    p_run.add_argument("--ignore", help="comma-separated columns of a table to leave out of the vectors")
    p_run.add_argument("--sample", help=f"a bundled sample instead of files: {', '.join(SAMPLES)}")
    p_run.add_argument("--n-kernels", type=int, default=8)
    p_run.add_argument("--epochs", type=int, default=SparKer().max_epochs)
    p_run.add_argument("--fixed-kernels", type=int, default=SparKer().fixed_kernels,
                       help="kernels of the fixed-centre companion test in the p-value (0: SparKer alone)")
    p_run.add_argument("--n-toys", type=int, default=100)
    p_run.add_argument("--method", default="permutation", help=f"null construction: {' or '.join(METHODS)}")
    p_run.add_argument("--batch", type=int, default=32, help="toys trained together (memory ~ batch)")
    p_run.add_argument("--seed", type=int, default=0)
    p_run.add_argument("--device", default="cpu", help="cpu, cuda or auto")
    p_run.add_argument("--ray", nargs="?", const="", metavar="ADDRESS",
                       help="run the null toys as Ray tasks, --batch toys each: on the cluster at ADDRESS, "
                            "else at RAY_ADDRESS, else on a new local cluster")
    p_run.add_argument("--out", help="folder for the result bundle (must not exist or be empty; "
                                     "default sparker-runs/NAME-TIME)")
    p_run.add_argument("--quiet", action="store_true", help="no progress bars")
    p_run.add_argument("--png", help=PNG_HELP)
    p_run.set_defaults(func=run)

    p_show = sub.add_parser("show", help="print the summary of a saved run")
    p_show.add_argument("bundle")
    p_show.add_argument("--png", help=PNG_HELP)
    p_show.add_argument("--inputs", help=INPUTS_HELP)
    p_show.set_defaults(func=show)

    p_verify = sub.add_parser("verify", help="recompute a bundle from its inputs: fit, tables, t, p, Z and some toys")
    p_verify.add_argument("bundle")
    p_verify.add_argument("--toys", type=int, default=DEFAULT_VERIFY_TOYS,
                          help="null toys to retrain and compare with null.npy, drawn at random (0: none)")
    p_verify.add_argument("--toy-seed", type=int, help="seed that picks the toys (default: a fresh one, printed)")
    p_verify.add_argument("--inputs", help=INPUTS_HELP)
    p_verify.set_defaults(func=verify)

    p_demo = sub.add_parser("demo", help="fit and calibrate on a generated 5-d sample with a planted bump")
    p_demo.add_argument("--n-kernels", type=int, default=8)
    p_demo.add_argument("--anomalies", type=int, default=60)
    p_demo.add_argument("--n-toys", type=int, default=50)
    p_demo.add_argument("--seed", type=int, default=0)
    p_demo.set_defaults(func=demo)

    from .cli_sensitivity import add_parser as add_sensitivity  # the subcommand lives in its own module
    add_sensitivity(sub)
    from .cli_report import add_parser as add_report  # sparker report: the HTML report of a bundle
    add_report(sub, INPUTS_HELP)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exit_:  # argparse already printed its one-line usage error
        return int(exit_.code or 0)
    try:
        return args.func(args)
    except KeyboardInterrupt:
        print("interrupted; nothing written.", file=sys.stderr)
        return 130
    except (ValueError, TypeError, OSError) as err:
        print(f"error: {err}".splitlines()[0], file=sys.stderr)
        return 2
    except Exception as err:  # noqa: BLE001 - the CLI promises one line, never a traceback
        if os.environ.get("SPARKER_DEBUG"):
            raise
        print(f"error: internal error {type(err).__name__}: {err} (set SPARKER_DEBUG=1 for the traceback)".splitlines()[0],
              file=sys.stderr)
        return 3


if __name__ == "__main__":
    sys.exit(main())
