"""``python -m rtl_gen.dual_mult_timing``: the UP5K's eight DSPs as 16
``DualMult`` lanes through yosys and nextpnr.

A thin entry point kept where users know it; the measurement lives in the
orchestration layer, ``squeezefire.dual_mult_timing`` (it runs the FPGA tools).
"""
import sys

from squeezefire.dual_mult_timing import main

if __name__ == "__main__":
    sys.exit(main())
