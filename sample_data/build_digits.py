"""Launcher: `.venv/bin/python sample_data/build_digits.py` runs sample_data/digits/build_digits.py (same arguments)."""

import runpy
import sys
from pathlib import Path

script = Path(__file__).resolve().parent / "digits" / "build_digits.py"
sys.argv[0] = str(script)
runpy.run_path(str(script), run_name="__main__")
