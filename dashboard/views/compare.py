"""Compare: the baselines on the loaded data, with as many permutations as SparKer had null toys."""

from __future__ import annotations

import pandas as pd
import streamlit as st

from dashboard import state
from dashboard.baseline_runs import BASELINES, Comparison

FRAME_SECONDS = 0.5

st.header("Compare with other two-sample tests")
st.caption("Each baseline is calibrated like SparKer (p = (1 + #{null >= observed}) / (1 + n), never 0) with the same "
           "number of permutations or toys. A smaller p means stronger evidence that the data differ from the "
           "reference; only SparKer also says *where*. Benchmarks of power and calibration: benchmarks/README.md.")
ds = state.dataset()
run = state.active_run()
default_toys = run.result.n_toys if run is not None and run.result is not None else 100
n_toys = st.number_input("permutations / toys per test", min_value=1, max_value=10_000, value=default_toys, key="compare_toys")
seed = st.number_input("seed", min_value=0, value=0, key="compare_seed")
key = f"compare_{ds.fingerprint}"
comparison: Comparison | None = st.session_state.get(key)
busy = comparison is not None and comparison.running

c1, c2 = st.columns(2)
if c1.button("Run the baselines", type="primary", disabled=busy, key="compare_run"):
    comparison = Comparison(int(n_toys), int(seed))
    comparison.start(ds.reference, ds.data)
    st.session_state[key] = comparison
    st.rerun()
c2.button("Stop after the current test", disabled=not busy, key="compare_stop",
          on_click=lambda: comparison.stop() if comparison is not None else None)

LIVE = busy


@st.fragment(run_every=FRAME_SECONDS if LIVE else None)
def table() -> None:
    current = st.session_state.get(key)
    if current is None:
        st.info("Press *Run the baselines* to test the loaded data with each method.")
        return
    if LIVE and not current.running:
        st.rerun()
    rows = []
    if run is not None and run.result is not None:
        r = run.result
        job_seconds = run.calibration.seconds if run.calibration is not None else None
        rows.append({"method": f"SparKer ({run.label.split(':')[0]})", "p-value": r.pvalue, "Z": r.zscore,
                     "toys": r.n_toys, "null": f"{r.n_toys} null toys",
                     "seconds": round(run.fit_seconds + job_seconds, 1) if job_seconds is not None else None,
                     "note": "fit + null toys" if job_seconds is not None else "opened from a bundle: not timed here"})
    for name in BASELINES:
        if name in current.results:
            r = current.results[name]
            rows.append({"method": name, "p-value": r.pvalue, "Z": r.zscore, "toys": r.n_toys,
                         "null": f"{r.n_toys} null samples" if r.n_toys else "exact, no toys",
                         "seconds": round(current.seconds[name], 1), "note": r.method})
        elif name in current.errors:
            rows.append({"method": name, "note": current.errors[name]})
        elif name == current.current and not current.running:  # a worker that died mid-test never leaves it "running"
            rows.append({"method": name, "note": "failed: the test ended without a result"})
    if rows:
        st.dataframe(pd.DataFrame(rows), hide_index=True, width="stretch")
    st.caption("seconds: each method's complete test (its fit and its permutations or null toys), wall time.")
    if current.running:
        done = len(current.results) + len(current.errors)
        st.info(f"running: {current.current} ({done} of {len(BASELINES)} baselines done)...")


table()
