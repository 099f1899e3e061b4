"""Launcher: `.venv/bin/python sample_data/build_teaching.py` runs sample_data/teaching/build_teaching.py (same arguments)."""

import runpy
import sys
from pathlib import Path

script = Path(__file__).resolve().parent / "teaching" / "build_teaching.py"
sys.argv[0] = str(script)
runpy.run_path(str(script), run_name="__main__")
