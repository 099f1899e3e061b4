"""Launcher: `.venv/bin/python sample_data/build_wiki.py` runs sample_data/wiki/build_wiki.py (same arguments)."""

import runpy
import sys
from pathlib import Path

script = Path(__file__).resolve().parent / "wiki" / "build_wiki.py"
sys.argv[0] = str(script)
runpy.run_path(str(script), run_name="__main__")
