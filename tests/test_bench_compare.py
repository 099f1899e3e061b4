"""The comparison benchmark's quick mode runs in CI: every case and method produces its rows."""

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


@pytest.mark.slow
def test_quick_comparison_benchmark_prints_every_case_and_method():
    done = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "bench_compare.py"), "--quick"],
                          capture_output=True, text=True, timeout=900, cwd=ROOT)
    assert done.returncode == 0, done.stderr[-2000:]
    out = done.stdout
    assert "mode: QUICK" in out
    for case in ("nplm1d", "gauss-16", "wiki", "digits"):
        assert f"## {case}" in out
    for method in ("sparker", "mmd", "mmd-agg", "c2st", "knn", "fixed"):
        assert method in out
    assert "Rejection rate at alpha = 0.05" in out and "total " in out
