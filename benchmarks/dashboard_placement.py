"""Part (d) of benchmarks/bench_dashboard.py: placing kernel centres on the map per frame.

``interpolate_layout`` of 8 and 64 centres on the wiki layout (5,000 + 1,000 anchors, d = 384), with
the anchors prepared once (``LayoutIndex``) and not, against ``umap.UMAP.transform`` of the same
centres with a UMAP fitted once on the same 6,000 rows; each with the BLAS/OpenMP pools as they are
and with one thread.
"""

from __future__ import annotations

import statistics
import time

import numpy as np


def _median_ms(function, repeats: int) -> float:
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        function()
        times.append(time.perf_counter() - start)
    return statistics.median(times) * 1000.0


def placement_part(skip_umap: bool, repeats: int) -> dict:
    """ms per frame of placing 8 and 64 centres, with the BLAS/OpenMP pools as they are and with one thread."""
    from threadpoolctl import threadpool_info, threadpool_limits

    from dashboard.components.map_layout import LayoutIndex, interpolate_layout
    from dashboard.datasets import from_sample

    ds = from_sample("wiki")
    anchors = np.concatenate([ds.reference, ds.data])  # (6000, 384), as Run.center_layout builds them
    anchor_xy = np.concatenate([ds.layout_reference, ds.layout_data])  # (6000, 2)
    rng = np.random.default_rng(0)
    centers = {m: (ds.data[rng.choice(ds.data.shape[0], m, replace=False)]
                   + 0.01 * rng.standard_normal((m, anchors.shape[1]))).astype(np.float32) for m in (8, 64)}
    pools = sorted({int(info["num_threads"]) for info in threadpool_info()})
    settings = [(f"as is ({'/'.join(map(str, pools))})", None), ("1", 1)]
    out = {"anchors": anchors.shape, "settings": [name for name, _ in settings], "interp": {}, "prepared": {},
           "umap": {}}
    place = LayoutIndex(anchors, anchor_xy).place  # what Run.center_layout uses: anchors prepared once
    for c in centers.values():  # the same positions: a check of the variant, not of speed
        np.testing.assert_allclose(place(c), interpolate_layout(c, anchors, anchor_xy), rtol=1e-9, atol=1e-9)
    for name, limit in settings:
        with threadpool_limits(limits=limit):
            for m, c in centers.items():
                interpolate_layout(c, anchors, anchor_xy)  # warm-up
                out["interp"][name, m] = _median_ms(lambda c=c: interpolate_layout(c, anchors, anchor_xy), repeats)
                out["prepared"][name, m] = _median_ms(lambda c=c: place(c), repeats)
    if skip_umap:
        return out
    start = time.perf_counter()
    import umap

    out["umap import"] = time.perf_counter() - start
    # the parameters of the wiki sample's own layout (sample_data/wiki/README.md)
    reducer = umap.UMAP(n_components=2, n_neighbors=15, min_dist=0.1, metric="cosine", random_state=42, n_jobs=1)
    start = time.perf_counter()
    reducer.fit(anchors.astype(np.float32))
    out["umap fit"] = time.perf_counter() - start
    start = time.perf_counter()
    reducer.transform(centers[8])
    out["umap first transform"] = time.perf_counter() - start
    for name, limit in settings:
        with threadpool_limits(limits=limit):
            for m, c in centers.items():
                out["umap"][name, m] = _median_ms(lambda c=c: reducer.transform(c), max(3, repeats // 10))
    return out


def print_placement(p: dict) -> None:
    """The (d) section of the report."""
    n, d = p["anchors"]
    print(f"\n(d) kernel placement per frame on the wiki layout ({n:,} anchors, d = {d})")
    if "umap fit" in p:
        print(f"    umap import {p['umap import']:.1f} s; UMAP fit on the {n:,} rows {p['umap fit']:.1f} s "
              f"(with numba compilation when its cache is cold); first transform {p['umap first transform']:.1f} s")
    print(f"    {'kernels':>7}   {'BLAS/OpenMP threads':<20} {'interpolate_layout':>18}   {'anchors prepared':>16}   "
          f"{'UMAP.transform':>14}   {'UMAP / interp.':>14}")
    for name in p["settings"]:
        for m in (8, 64):
            ms, um = p["interp"][name, m], p["umap"].get((name, m))
            umap_text = f"{um:>11.1f} ms" if um is not None else f"{'skipped':>14}"
            ratio = f"{um / ms:>13.1f}x" if um is not None else ""
            print(f"    {m:>7}   {name:<20} {ms:>15.2f} ms   {p['prepared'][name, m]:>13.2f} ms   {umap_text}   {ratio}")
    print("    anchors prepared: interpolate_layout with the anchors' float64 copy and norms computed once "
          "(same positions, checked)")
