"""squeezefire: the orchestration layer on top of ``golden`` (float and
integer models, the bundle), ``rtl_gen`` (hardware generators, the fit
check), ``fpga`` (board top, host link, boards and their tools) and ``sim``
(cocotb verification); it may import them all, and they point only
downwards.  Its commands: ``build`` (bundle -> bitstream), ``compare``
(chip vs golden vs float), ``dual_mult_timing``.  ``squeezefire.safe_output``
is the exception that proves the rule: a dependency-free leaf that every
command writing a folder uses, so each of them obeys the same ``--out`` rule.
"""
