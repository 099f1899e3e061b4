"""One prepared check of SparKer on a CUDA device, in under 8 minutes on one H200:

    python benchmarks/gpu_check.py --out DIR      # writes DIR/gpu-check.txt as it goes

1. the device and the versions (torch, CUDA, whether float32 GEMMs may use TF32);
2. agreement with the CPU on a small fixed-seed case (N_R=3,000, N_D=500, d=32, 20 toys): the
   largest relative differences of t_obs and of the null, whether p is equal, score_samples and
   explain, and a save_bundle / load_bundle round trip of the CUDA fit;
3. the complete default test (fit + 100 toys, batch 64) at N_R=15,000, N_D=2,500, d=384 on CUDA,
   beside the CPU figure stored in results/calibration-2026-12-01-speed.txt (read, not rerun);
4. a complete test with a 1,000,000-row reference (d=384, N_D=2,500, 100 toys in one batch) and
   the peak GPU memory (torch.cuda.max_memory_allocated).

Each part prints its own error in one line and the next part runs. Timings synchronise the device
and start after a warm-up (the CUDA context is made before the clock starts). Without CUDA the
script says so in one line and exits 0.
"""

from __future__ import annotations

import argparse
import platform
import re
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

from sparker_core import SparKer, load_bundle, save_bundle

SPEED_FILE = Path(__file__).parent / "results" / "calibration-2026-12-01-speed.txt"
MILLION_BATCH = 100  # every toy in one batch: ~24 MB of loss weights a toy (1M rows x 3 widths x 2 x float32)


class Report:
    """Lines printed and appended to the output file at once, so a run cut short keeps what it measured."""

    def __init__(self, path: Path):
        self.path = path
        path.write_text("")

    def __call__(self, line: str = "") -> None:
        print(line, flush=True)
        with self.path.open("a") as f:
            f.write(line + "\n")


def sample(n_ref: int, n_data: int, d: int, seed: int = 1):
    """Standard normal float32 reference and data: the inputs of bench_calibration.py's complete test."""
    rng = np.random.default_rng(seed)
    return rng.standard_normal((n_ref, d), dtype=np.float32), rng.standard_normal((n_data, d), dtype=np.float32)


def timed_test(reference, data, device: str, batch: int, n_toys: int = 100):
    """(model, result, fit s, fit + toys s) of a default complete test on ``device``."""
    sync = torch.cuda.synchronize if device == "cuda" else (lambda: None)
    sync()
    start = time.perf_counter()
    model = SparKer(seed=0, device=device).fit(reference, data)
    sync()
    t_fit = time.perf_counter() - start
    result = model.calibrate(n_toys=n_toys, batch=batch, seed=0)
    sync()
    return model, result, t_fit, time.perf_counter() - start


def largest_relative(got, want) -> float:
    got, want = np.asarray(got, dtype=np.float64), np.asarray(want, dtype=np.float64)
    return float(np.max(np.abs(got - want) / np.maximum(np.abs(want), 1e-12))) if want.size else 0.0


def nulls(result) -> np.ndarray:
    """(n_scales, n_toys) null of every fitted width of a single- or multi-scale result."""
    per = getattr(result, "per_config", None) or (result,)
    return np.stack([r.null_distribution for r in per])


def part_versions(report: Report, out: Path) -> None:
    props = torch.cuda.get_device_properties(0)
    report(f"device: {torch.cuda.get_device_name(0)}, {props.total_memory / 2**30:.0f} GiB, capability {props.major}.{props.minor}")
    report(f"torch {torch.__version__}, CUDA {torch.version.cuda}, cuDNN {torch.backends.cudnn.version()}, "
           f"numpy {np.__version__}, Python {platform.python_version()}, {platform.machine()}")
    report(f"float32 GEMMs may use TF32: {torch.backends.cuda.matmul.allow_tf32}; "
           f"float32 matmul precision: {torch.get_float32_matmul_precision()}; CPU threads: {torch.get_num_threads()}")


def part_agreement(report: Report, out: Path) -> None:
    rng = np.random.default_rng(7)
    reference = rng.standard_normal((3000, 32), dtype=np.float32)
    data = rng.standard_normal((500, 32), dtype=np.float32)
    data[:40] += 1.5  # a compact excess, so that explain has regions to compare
    runs = {}
    for device in ("cpu", "cuda"):
        model = SparKer(seed=0, device=device).fit(reference, data)
        runs[device] = (model, model.calibrate(n_toys=20, batch=20, seed=0))
    (cpu, cpu_result), (gpu, gpu_result) = runs["cpu"], runs["cuda"]
    report("agreement with the CPU: N_R=3000, N_D=500, d=32, default settings, 20 toys, seed 0")
    report(f"  t_obs per width  cpu {np.array2string(cpu.t_scales_, precision=6)}  cuda {np.array2string(gpu.t_scales_, precision=6)}")
    report(f"  max relative difference: t_obs {largest_relative(gpu.t_scales_, cpu.t_scales_):.2e}, "
           f"null {largest_relative(nulls(gpu_result), nulls(cpu_result)):.2e} "
           f"(max absolute {np.max(np.abs(nulls(gpu_result) - nulls(cpu_result))):.2e})")
    report(f"  p  cpu {cpu_result.pvalue:.6g}  cuda {gpu_result.pvalue:.6g}  equal: {cpu_result.pvalue == gpu_result.pvalue}")
    report(f"  score_samples max absolute difference: {np.max(np.abs(gpu.score_samples(data) - cpu.score_samples(data))):.2e}")
    want, got = cpu.explain().sort_values("kernel"), gpu.explain().sort_values("kernel")
    same_members = sum(set(a) == set(b) for a, b in zip(got["members_data"], want["members_data"]))
    report(f"  explain: kinds equal {list(got['kind']) == list(want['kind'])}, data members equal for "
           f"{same_members}/{len(got)} kernels, max relative difference of delta_t {largest_relative(got['delta_t'], want['delta_t']):.2e}")
    with tempfile.TemporaryDirectory(dir=out) as folder:
        bundle = load_bundle(save_bundle(Path(folder) / "bundle", gpu, gpu_result, reference, data, {"load": {}, "files": {}}))
        report(f"  save_bundle / load_bundle of the CUDA fit: p {bundle.result.pvalue:.6g} "
               f"(equal: {bundle.result.pvalue == gpu_result.pvalue}), {len(bundle.kernels)} kernels")


def stored_cpu_figure() -> str:
    """The default row of the stored CPU run: 'fit F s, fit + 100 toys T s, p P (machine)'."""
    text = SPEED_FILE.read_text()
    machine = next((line for line in text.splitlines() if line.startswith("torch ")), "machine not stated")
    row = next(line for line in text.splitlines() if "from the load" in line)
    fit, total, pvalue = re.findall(r"\d+\.\d+", row)[-3:]
    return f"fit {fit} s, fit + 100 toys {total} s, p {pvalue} ({machine}; {SPEED_FILE.name})"


def part_default_speed(report: Report, out: Path) -> None:
    reference, data = sample(15000, 2500, 384)
    _, result, t_fit, total = timed_test(reference, data, "cuda", batch=64)
    report("complete default test at N_R=15000, N_D=2500, d=384: fit + 100 toys (batch 64)")
    report(f"  cuda: fit {t_fit:.1f} s, fit + 100 toys {total:.1f} s, p {result.pvalue:.3f}")
    report(f"  cpu (stored, not rerun): {stored_cpu_figure()}")


def part_million(report: Report, out: Path) -> None:
    reference, data = sample(1_000_000, 2500, 384)
    torch.cuda.empty_cache()
    torch.cuda.reset_peak_memory_stats()
    _, result, t_fit, total = timed_test(reference, data, "cuda", batch=MILLION_BATCH)
    report(f"complete test with N_R=1,000,000, N_D=2500, d=384: fit + 100 toys (batch {MILLION_BATCH})")
    report(f"  cuda: fit {t_fit:.1f} s, fit + 100 toys {total:.1f} s, p {result.pvalue:.3f}, "
           f"peak GPU memory {torch.cuda.max_memory_allocated() / 2**30:.2f} GiB")


PARTS = [("versions", part_versions), ("agreement", part_agreement), ("default speed", part_default_speed),
         ("1,000,000 rows", part_million)]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", required=True, help="folder for gpu-check.txt (made if missing)")
    args = parser.parse_args()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    report = Report(out / "gpu-check.txt")
    if not torch.cuda.is_available():
        report(f"torch {torch.__version__}, Python {platform.python_version()}")
        report("no CUDA device: nothing to check")
        return 0
    torch.zeros(1, device="cuda").mul_(2)  # the CUDA context, before any clock starts
    torch.cuda.synchronize()
    for name, run in PARTS:
        start = time.perf_counter()
        try:
            run(report, out)
        except Exception as err:  # a failed part is reported in one line and the next one runs
            report(f"{name}: failed: {type(err).__name__}: {' '.join(str(err).split())[:300]}")
        report(f"[{name}: {time.perf_counter() - start:.1f} s]")
        report()
    return 0


if __name__ == "__main__":
    sys.exit(main())
