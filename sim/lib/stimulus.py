"""How a testbench drives a design: throttling, bubbles, stalls, a reset,
all randomness seeded by ``seed``.  Serialised to the testbench as JSON
(``dataclasses.asdict``)."""
from __future__ import annotations

from dataclasses import dataclass

__all__ = ["Stimulus", "FireStimulus"]


@dataclass(frozen=True)
class Stimulus:
    """The network flow's (``sim.lib.network_sim``) and the base of the Fire flow's."""
    seed: int = 0
    in_stall: int = 0           # harness LFSR throttle of the input, 0..255 (256ths of cycles blocked)
    py_bubbles: float = 0.0     # probability of a pause before an input beat (Python driver)
    py_stalls: float = 0.0      # probability of dropping o.ready after an output beat (Python monitor)
    reset_mid_frame: bool = False
    timeout_cycles: int = 0     # 0: the flow's default (the Fire flow: eight times the expected run time)


@dataclass(frozen=True)
class FireStimulus(Stimulus):
    """The Fire flow's (``sim.lib.fire_sim``): its harness also throttles the output."""
    out_stall: int = 0          # harness LFSR throttle of the output, 0..255


def lfsr_seed(seed: int) -> int:
    """A ``Throttle``'s ``seed`` port value for a stimulus seed: an LFSR must not start at 0."""
    return (seed % 0xFFFF) + 1
