"""Throughput of batched full-batch training against the machine's own fp32 GEMM peak.

    python benchmarks/bench_training.py            # N_R=15000, N_D=2500, d=384, M=8
    python benchmarks/bench_training.py --quick    # a smaller size, for a smoke run

For T = 1, 8, 16, 32, 64 fits trained at once it prints ms per epoch, the GEMM FLOP rate
(counted on the unpadded width: forward logits 2*N*d*T*M plus the centre gradient 2*N*d*T*M
per epoch), the
share of the peak fp32 GEMM rate measured in the same run, and ms per fit-epoch. An autograd
implementation of the same epoch is timed beside it for comparison.
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import torch

from sparker_core import KernelEnsemble, SparKerConfig, train_iter
from sparker_core.kernels import augment
from sparker_core.loss import np_loss


def gemm_peak(repeats: int = 5) -> float:
    """Best fp32 GEMM rate (GFLOP/s) over a few large shapes."""
    best = 0.0
    for m, k, n in [(2048, 2048, 2048), (4096, 392, 1024), (2048, 392, 256)]:
        a, b = torch.randn(m, k), torch.randn(k, n)
        torch.mm(a, b)
        for _ in range(repeats):
            start = time.perf_counter()
            torch.mm(a, b)
            best = max(best, 2 * m * k * n / (time.perf_counter() - start) / 1e9)
    return best


def config(n_kernels: int, epochs: int) -> SparKerConfig:
    return SparKerConfig(
        n_kernels=n_kernels, sigma_init=20.0, sigma_final=10.0, schedule="geometric", anneal_fraction=0.7,
        sparsity=0.0, temperature=1.0, competition="softmax", amplitude_clip=5.0, positive_only=False,
        max_epochs=epochs, learning_rate=0.05, center_learning_rate=0.05, active_threshold=0.05,
    )


def time_engine(pool, ref_w, data_w, data_rows, n_fits, n_kernels, epochs, rng) -> float:
    """Seconds per epoch of train_iter for n_fits fits (first epoch excluded as warm-up)."""
    starts = torch.stack([data_rows[rng.choice(len(data_rows), n_kernels, replace=False)] for _ in range(n_fits)])
    sigmas = torch.linspace(20.0, 10.0, epochs + 1)[:, None].repeat(1, n_fits)
    cfg = config(n_kernels, epochs)
    it = train_iter(pool, ref_w.repeat(1, n_fits), data_w.repeat(1, n_fits), starts, sigmas, cfg, every=1)
    next(it)  # epoch 0 forward
    next(it)  # epoch 1: first step done (warm-up)
    start = time.perf_counter()
    for _ in it:
        pass
    return (time.perf_counter() - start) / (epochs - 1)


def time_autograd(points, ref_w, data_w, data_rows, n_fits, n_kernels, repeats, rng) -> float:
    """Seconds per epoch of the same loss and gradient through autograd (no optimiser)."""
    starts = torch.stack([data_rows[rng.choice(len(data_rows), n_kernels, replace=False)] for _ in range(n_fits)])
    model = KernelEnsemble(starts, torch.full((n_fits, n_kernels), 0.5))
    sigma = torch.full((n_fits,), 15.0)
    a, b = ref_w.repeat(1, n_fits), data_w.repeat(1, n_fits)
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        model.zero_grad()
        np_loss(model(points, sigma), a, b).sum().backward()
        best = min(best, time.perf_counter() - start)
    return best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="N_R=3000, N_D=500, d=128")
    parser.add_argument("--epochs", type=int, default=6)
    args = parser.parse_args()
    n_ref, n_data, d, n_kernels = (3000, 500, 128, 8) if args.quick else (15000, 2500, 384, 8)
    torch.manual_seed(0)
    rng = np.random.default_rng(0)
    reference, data = torch.randn(n_ref, d), torch.randn(n_data, d)
    points = torch.cat([reference, data])
    pool = augment(points)
    ref_w = torch.cat([torch.full((n_ref,), n_data / n_ref), torch.zeros(n_data)])[:, None]
    data_w = torch.cat([torch.zeros(n_ref), torch.ones(n_data)])[:, None]
    n_points, width = pool.shape

    peak = gemm_peak()
    rows = []
    for n_fits in (1, 8, 16, 32, 64):
        seconds = time_engine(pool, ref_w, data_w, data, n_fits, n_kernels, args.epochs, rng)
        flops = 4 * n_points * d * n_fits * n_kernels
        rows.append((n_fits, seconds, flops))
    peak = max(peak, gemm_peak())  # measured before and after; the larger is the honest reference

    print(f"N_R={n_ref} N_D={n_data} d={d} (padded {width}) M={n_kernels}; torch {torch.__version__}, "
          f"{torch.get_num_threads()} threads; fp32 GEMM peak measured here: {peak:.0f} GFLOP/s")
    print(f"{'fits':>5} {'ms/epoch':>9} {'GFLOP/s':>8} {'% peak':>7} {'ms/fit-epoch':>13}")
    for n_fits, seconds, flops in rows:
        rate = flops / seconds / 1e9
        print(f"{n_fits:>5} {seconds * 1e3:>9.1f} {rate:>8.1f} {100 * rate / peak:>6.1f}% {seconds * 1e3 / n_fits:>13.2f}")

    print("\nautograd (same loss and gradients, one block, no optimiser step) vs the fused engine:")
    print(f"{'fits':>5} {'autograd ms':>12} {'fused ms':>9} {'speed-up':>9}")
    fused = {n_fits: seconds for n_fits, seconds, _ in rows}
    for n_fits in (8, 64):
        seconds = time_autograd(points, ref_w, data_w, data, n_fits, n_kernels, 3, rng)
        print(f"{n_fits:>5} {seconds * 1e3:>12.1f} {fused[n_fits] * 1e3:>9.1f} {seconds / fused[n_fits]:>8.2f}x")


if __name__ == "__main__":
    main()
