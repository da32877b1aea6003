"""How much of the chip's multiply rate a build uses, and which bound sets
its images per second: the build report's rate figures
(``squeezefire.build.BuildReport.rates``).

The chip's peak is its hard multipliers x the int8 products each makes per
cycle (``fpga.boards.Device.products_per_dsp``) x the clock; the achieved
rate is the network's MACs per frame over the cycle model's cycles per
frame -- a model figure, so named ``_model``.  The two bounds on images/s
are the compute one (clock / cycles per frame, model) and the link's
(baud / 10 bits per byte / the request and reply bytes of one image).
"""
from __future__ import annotations

from dataclasses import dataclass

__all__ = ["RateFigures", "link_frame_bytes", "link_images_per_s", "rate_figures"]


def link_frame_bytes(in_shape: tuple[int, int, int], num_classes: int) -> tuple[int, int]:
    """The bytes of one image's request and of its reply on the host link
    (their framing: ``docs/host-link.md``)."""
    h, w, c = in_shape
    return 2 + 2 + h * w * c + 2, 2 + 1 + 1 + 4 * num_classes + 1 + 2


def link_images_per_s(in_shape: tuple[int, int, int], num_classes: int, baud: int) -> float:
    """The link's bound on images/s: ``baud`` / 10 bits a byte / the bytes of
    a request and its reply (one image in flight each way at a time)."""
    return round(baud / 10 / sum(link_frame_bytes(in_shape, num_classes)), 1)


@dataclass(frozen=True)
class RateFigures:
    peak_macs_per_cycle: int            # the device's multipliers x products each
    peak_macs_per_s: float              # ... x the clock
    macs_per_cycle_model: float         # macs_per_frame / cycles_per_frame (model)
    peak_ratio_model: float | None      # achieved / peak (None: no hard multipliers)
    images_per_s_compute_model: float
    images_per_s_link: float
    bound: str                          # "compute" or "link": the smaller of the two

    def summary(self) -> str:
        ratio = "no hard multipliers" if self.peak_ratio_model is None else \
            f"{self.peak_ratio_model:.3f} of the chip's peak {self.peak_macs_per_cycle} per cycle"
        return f"{self.macs_per_cycle_model:.2f} MACs per cycle (model): {ratio}"


def rate_figures(macs_per_frame: int, cycles_per_frame_model: int, clock_hz: float, device_dsp: int,
                 products_per_dsp: int, link_images_per_s: float, frames: int = 1) -> RateFigures:
    """``frames``: how many frames finish every ``cycles_per_frame_model``
    cycles (an engine array's copies: the cycles are its ``frame_interval``)."""
    peak = device_dsp * products_per_dsp
    achieved = frames * macs_per_frame / cycles_per_frame_model
    compute = clock_hz * frames / cycles_per_frame_model
    return RateFigures(
        peak_macs_per_cycle=peak, peak_macs_per_s=peak * clock_hz,
        macs_per_cycle_model=round(achieved, 3),
        peak_ratio_model=round(achieved / peak, 4) if peak else None,
        images_per_s_compute_model=round(compute, 1), images_per_s_link=link_images_per_s,
        bound="compute" if compute <= link_images_per_s else "link")
