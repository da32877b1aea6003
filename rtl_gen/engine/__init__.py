"""The Fire engine (docs/engine.md): one convolution datapath reused pass
by pass.  ``from rtl_gen.engine import FireEngine, EngineParams``."""
from rtl_gen.engine.engine import EngineParams, FireEngine

__all__ = ["FireEngine", "EngineParams"]
