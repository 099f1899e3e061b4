"""What a comparison run reports: p-values from the shared nulls, power tables with Clopper-Pearson
intervals, cost tables, plots, and the section of a README between the compare markers."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pandas as pd

from sparker_core import clopper_pearson, empirical_pvalue
from sparker_core.sensitivity import shared_null_test

from .cases import NULL_SEED
from .methods import REGISTRY, shared_null
from .rows import KEYS, n_widths, width_matrix

ALPHA = 0.05
BEGIN, END = "<!-- compare:begin -->", "<!-- compare:end -->"


def shared_pvalues(rows: pd.DataFrame) -> pd.DataFrame:
    """One row per fit or test (the scale-0 rows of ``rows``, in order), with the p-values of the
    shared-null methods' tests filled from their case's null rows.

    A multi-scale method's test: its per-width t and the null draws' per-width t are combined by
    ``sensitivity.shared_null_test`` (min p, the test ranked among all of them); t becomes that combined
    statistic, and the top-kernel share is the one of the width with the smallest p (the narrowest on
    ties). Its null rows keep the narrowest width's t."""
    fits = rows[rows.scale == 0].copy()
    for m in fits.method.unique():
        null_rows = (fits.kind == "null") & (fits.method == m)
        tests = (fits.kind == "test") & (fits.method == m)
        if not null_rows.any():
            continue
        mine = rows[rows.method == m]
        if n_widths(mine) == 1:
            null = fits.loc[null_rows, "t"].to_numpy()
            fits.loc[tests, "pvalue"] = [shared_null_test(t, null)[1] for t in fits.loc[tests, "t"]]
            continue
        t_all, share_all = width_matrix(mine), width_matrix(mine, "top_kernel_signal_share")
        kinds = fits.loc[fits.method == m, "kind"].to_numpy()
        null = t_all[kinds == "null"].T  # (widths, n_null)
        for i, t, shares in zip(fits.index[tests], t_all[kinds == "test"], share_all[kinds == "test"]):
            stat, pvalue = shared_null_test(t, null.T)
            best = int(np.argmin([empirical_pvalue(t[j], null[j]) for j in range(t.size)]))
            fits.loc[i, ["t", "pvalue", "top_kernel_signal_share"]] = stat, pvalue, shares[best]
    return fits


def with_pvalues(rows: pd.DataFrame) -> pd.DataFrame:
    """``rows`` with every test's p-value filled: a multi-scale fit's combined p stands on each of its width rows."""
    keys = KEYS + ["method"]
    pvalues = shared_pvalues(rows).set_index(keys).pvalue
    out = rows.copy()
    out["pvalue"] = pvalues.reindex(pd.MultiIndex.from_frame(rows[keys])).to_numpy()
    return out


def rate(pvalues) -> tuple[float, float, float]:
    k, n = int(np.sum(np.asarray(pvalues) <= ALPHA)), len(pvalues)
    low, high = clopper_pearson(k, n)
    return k / n, low, high


def power_table(fits: pd.DataFrame, methods) -> str:
    """Rejection rate [95% CI] per signal level and method, and each rate over SparKer's."""
    tests = fits[fits.kind == "test"]
    lines = [f"| n_signal | {' | '.join(methods)} | " + " | ".join(f"{m}/sparker" for m in methods[1:]) + " |",
             "|---:|" + "---|" * (2 * len(methods) - 1)]
    for n_signal, group in tests.groupby("n_signal"):
        rates = {m: rate(group[group.method == m].pvalue) for m in methods}
        cells = [f"{r[0]:.2f} [{r[1]:.2f}, {r[2]:.2f}]" for r in rates.values()]
        ratios = [f"{rates[m][0] / rates['sparker'][0]:.2f}" if rates["sparker"][0] > 0 else "-" for m in methods[1:]]
        what = f"{n_signal} (type I)" if n_signal == 0 else str(n_signal)
        lines.append(f"| {what} | " + " | ".join(cells) + " | " + " | ".join(ratios) + " |")
    return "\n".join(lines)


def cost_table(rows: pd.DataFrame, fits: pd.DataFrame, methods, memory: dict) -> str:
    """Median seconds of one complete test (and of one fit, for the shared-null methods) and peak memory."""
    lines = ["| method | calibration in the power table | median s / complete test | ratio to sparker | complete tests timed "
             "| median s / fit (power run) | peak MiB above inputs (fresh process) |",
             "|---|---|---:|---:|---:|---:|---:|"]
    seconds, cells = {}, {}
    for m in methods:
        mine, shared = fits[fits.method == m], REGISTRY[m].shared_null
        complete = mine[mine.kind == ("timing" if shared else "test")]
        seconds[m] = complete.seconds.median()
        fit = f"{mine[mine.kind != 'timing'].seconds.median():.2f}" if shared else "-"
        widths = n_widths(rows[rows.method == m])
        fit += f" ({widths} widths in one fit)" if widths > 1 else ""
        cells[m] = (mine[mine.kind == "test"].calibration.iloc[0], complete.calibration.iloc[0] if len(complete) else "-",
                    len(complete), fit)
    for m in methods:
        calibration, timed_as, count, fit = cells[m]
        mem = f"{memory[m]:.0f}" if m in memory else "not measured"
        ratio = f"{seconds[m] / seconds['sparker']:.2f}" if seconds["sparker"] > 0 else "-"
        what = f"{calibration} (timed: {timed_as})" if REGISTRY[m].shared_null else calibration
        lines.append(f"| {m} | {what} | {seconds[m]:.2f} | {ratio} | {count} | {fit} | {mem} |")
    return "\n".join(lines)


def null_line(rows: pd.DataFrame, n_null: int, methods) -> str:
    shared = shared_null(methods)
    if not shared:
        return "No shared null (neither sparker nor fixed selected)."
    nulls = rows[rows.kind == "null"]
    parts, multi = [], []
    for m in shared:
        mine = nulls[nulls.method == m]
        by_width = np.median(width_matrix(mine), axis=0)  # (widths,)
        if by_width.size == 1:
            parts.append(f"{m}: median t_null {by_width[0]:.3g}")
            continue
        parts.append(f"{m}: median t_null " + " / ".join(f"{v:.3g}" for v in by_width) + " by width")
        multi.append(m)
    floor = 1.0 / (1 + n_null)
    note = (f" ({', '.join(multi)}: one fit of several widths, whose p-values are combined by min p over the same null "
            "draws, calibrated with combined_statistics)") if multi else ""
    warn = f" NOTE: with {n_null} null fits the smallest p is {floor:.3f} > alpha: these methods cannot reject." \
        if floor > ALPHA else ""
    return (f"Shared null ({', '.join(shared)}): {n_null} no-signal draws of the case, one fit each (seeds "
            f"{NULL_SEED}-{NULL_SEED + n_null - 1}); each realisation is one fit with p = (1 + #{{t_null >= t}}) / "
            f"(1 + {n_null}){note}; {'; '.join(parts)}.{warn}")


def location_line(rows: pd.DataFrame, fits: pd.DataFrame, methods) -> str:
    """Per SparKer method: the share of signal rows among the top region's data members, over every
    test with signal and over the tests that rejected (the target: >= 70 % where the test rejects)."""
    lines = []
    for m in [m for m in methods if REGISTRY[m].reports_regions]:
        tests = fits[(fits.kind == "test") & (fits.method == m) & (fits.n_signal > 0)]
        parts = []
        for k, group in tests.groupby("n_signal"):
            rejected = group[group.pvalue <= ALPHA].top_kernel_signal_share
            parts.append(f"n_signal={k}: {group.top_kernel_signal_share.mean():.0%} (where rejected: "
                         + (f"{rejected.mean():.0%} over {len(rejected)})" if len(rejected) else "none rejected)"))
        which = ", the width with the smallest p" if n_widths(rows[rows.method == m]) > 1 else ""
        name = "SparKer" if m == "sparker" else m
        lines.append(f"{name} top region (first excess region of the single fit{which}), mean share of its data members "
                     "that are signal rows: " + ", ".join(parts))
    return "\n\n".join(lines)


def case_section(name: str, sizes: dict, rows: pd.DataFrame, n_null: int, methods, memory: dict) -> str:
    """The report of one case: its shared null, power table, cost table and where SparKer points."""
    fits = shared_pvalues(rows)
    return "\n".join([f"\n## {name}  sizes {sizes}", "", null_line(rows, n_null, methods), "",
                      "Rejection rate at alpha = 0.05 [95% CI]:", "", power_table(fits, methods), "",
                      cost_table(rows, fits, methods, memory), "", location_line(rows, fits, methods)])


def plot(fits: pd.DataFrame, case: str, methods, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    tests = fits[fits.kind == "test"]
    fig, ax = plt.subplots(figsize=(5.5, 3.8))
    levels = sorted(tests.n_signal.unique())
    nudge = 0.012 * (max(levels) - min(levels) or 1)  # side by side, so equal rates stay visible
    for i, m in enumerate(methods):
        stats = np.array([rate(tests[(tests.method == m) & (tests.n_signal == s)].pvalue) for s in levels])
        ax.errorbar(np.array(levels) + (i - (len(methods) - 1) / 2) * nudge, stats[:, 0],
                    yerr=[stats[:, 0] - stats[:, 1], stats[:, 2] - stats[:, 0]], marker="o", capsize=3, label=m)
    ax.axhline(ALPHA, color="grey", lw=0.8, ls="--")
    ax.set(xlabel="signal rows in the data", ylabel=f"rejection rate at alpha={ALPHA}", ylim=(-0.02, 1.02), title=case)
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def replace_between_markers(text: str, block: str) -> str:
    """``text`` with everything between BEGIN and END replaced by ``block`` (markers kept)."""
    if text.count(BEGIN) != 1 or text.count(END) != 1 or text.index(BEGIN) > text.index(END):
        raise ValueError(f"the README must hold one {BEGIN} followed by one {END}")
    head, rest = text.split(BEGIN)
    return head + BEGIN + "\n" + block.strip("\n") + "\n" + END + rest.split(END, 1)[1]


def readme_block(command: str, header: list[str], sections: list[tuple[str, str]], pngs: dict, speed: str | None,
                 footer: str, readme: Path) -> str:
    """The README's comparison text: command, run facts, per-case tables with links to their PNGs, speed line."""
    lines = [f"Produced by `{command}`; do not edit between the markers, the next full run replaces it.", ""]
    lines += [f"- {line}" for line in header + [footer]]
    for name, text in sections:
        lines += ["", text.replace("\n## ", "\n### ").lstrip("\n")]
        if name in pngs:
            link = Path(os.path.relpath(pngs[name], readme.parent)).as_posix()
            lines += ["", f"Power against signal rows: [{link}]({link})"]
    if speed:
        lines += ["", speed]
    return "\n".join(lines)
