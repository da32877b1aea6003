"""Chip (simulated) vs integer golden vs float model: ``python golden/compare.py``.

A thin entry point; the command lives in the orchestration layer,
``squeezefire.compare`` (it joins golden, rtl_gen and sim).
"""
import sys
from pathlib import Path

if __package__ in (None, ""):      # run as a script: make the project importable
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from squeezefire.compare import main  # noqa: E402

if __name__ == "__main__":
    sys.exit(main())
