"""SparKer against the baselines on the comparison cases (run by benchmarks/bench_compare.py).

cases.py the cases and their generators; methods.py the registry of methods; rows.py the typed CSV row
and its reader; run.py the loop over cases, signal levels and realisations; report.py tables, plots and
the README section.
"""
