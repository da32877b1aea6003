"""``python -m rtl_gen.build``: bundle -> board bitstream + report.

A thin entry point kept where users know it; the command lives in the
orchestration layer, ``squeezefire.build`` (it joins golden, rtl_gen and fpga).
"""
import sys

from squeezefire.build import main

if __name__ == "__main__":
    sys.exit(main())
