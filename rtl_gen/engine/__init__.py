"""The Fire engine (``--arch engine``): one convolution datapath of ``lanes``
MAC lanes (16 by default) reused pass by pass under a program planned from the bundle
(``docs/engine.md``).  Its accelerator is ``FireEngine`` with parameters
``EngineParams``; the other modules are its parts.  It imports only the
shared floor of ``rtl_gen`` (``accelerator``, ``stream``, ``params``, ``fit``,
``int8``, the multipliers), never ``rtl_gen.pipeline``
(``tests/test_layering.py``)."""
from rtl_gen.engine.engine import EngineParams, FireEngine

__all__ = ["FireEngine", "EngineParams"]
