"""The per-layer streaming pipeline (``--arch pipeline``): every layer of the
bundle its own hardware unit, the units chained by ``amaranth.lib.stream``
streams (``docs/network.md``).  Its accelerator is ``Pipeline``; the other
modules are its blocks.  It imports only the shared floor of ``rtl_gen``
(``accelerator``, ``stream``, ``params``, ``fit``, ``int8``, the multipliers),
never ``rtl_gen.engine`` (``tests/test_layering.py``)."""
from rtl_gen.pipeline.pipeline import STYLES, Pipeline, PipelineError, PipelineParams
from rtl_gen.pipeline.style import Style

__all__ = ["Pipeline", "PipelineParams", "PipelineError", "STYLES", "Style"]
