"""Fit check: estimate a design's resources before synthesis and refuse,
in seconds, a design that cannot fit the board's device.

The model (deliberately simple, documented, and reported next to nextpnr's
actual numbers in ``report.json`` so it can be recalibrated):

* the accelerator supplies ``resource_estimate(device)`` -- a
  ``ResourceEstimate``, its LUTs already in what nextpnr counts on the
  device -- if it has a resource model of its own (the Fire engine and the
  test stand-in do);
* otherwise it is an Amaranth design and the **design model** applies: the
  design is elaborated (well under a second for the reference network, no
  synthesis) and every elaboratable in it is priced:

  - an ``amaranth.lib.memory.Memory`` from its public shape, depth, read
    ports and attributes: in block RAM, the fewest blocks over the device's
    (depth, width) configurations, times its read ports (one read port per
    iCE40 block: Yosys replicates the array; measured, 8 x 600 with two
    read ports: 4 blocks); in logic -- ``ram_style = "logic"``, or no
    synchronous read port, which no block RAM has -- one LUT per bit
    (measured, 8 x 600 with an asynchronous read: 4 877 LUT4s, 0 blocks);
  - a block of the generator by its own ``resource_cost()``
    (``rtl_gen.pipeline.block_cost``: LUTs and multipliers measured per class with
    Yosys ``synth_ice40 -dsp``);
  - Amaranth's own glue in ``ZERO_COST_GLUE`` costs nothing of its own;
  - anything else is an error naming its class, so a block that declares
    no cost cannot silently cost 0.

  The design model's LUTs (LUT4s), with the link's, are scaled by the
  device's ``cells_per_lut``.  Blocks
  whose weights are codebook-coded also report their index ROM bits and
  codebook-table bits (``weight_index_bits``, ``codebook_bits``): already
  priced above (the ROM as a memory, the table in the block's LUTs), they
  are summed on their own for the report.
* the host link adds ``LINK_LUT`` LUTs and, unless it lives in an SPRAM,
  its image buffer (one image, ``link_buffer_bytes``, whole blocks: the
  link double-buffers only in an SPRAM, where the second image is free);
* on a device without DSPs each multiplier costs ``device.mult_lut_cost``
  LUTs instead (on a device with DSPs, ``synth_ice40 -dsp`` maps every
  multiplier to one, so more multipliers than DSPs does not fit).

Block RAM calibration (``docs/build.md``): on every design tried, the
model's count per memory is at least what Yosys maps and nextpnr places
(equal on the reference network, 30, and on a two-Fire network, 33); it is
higher where Yosys keeps a small memory in logic, which the model does not
predict (safe: it only refuses designs that are close anyway).
"""
from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from enum import StrEnum

from amaranth.hdl import Elaboratable, Fragment, Module, Shape
from amaranth.lib.fifo import SyncFIFO, SyncFIFOBuffered
from amaranth.lib.memory import Memory

__all__ = ["Estimate", "EstimateSource", "ResourceEstimate", "FitError", "estimate", "link_buffer_bytes",
           "check_fit", "design_model", "memory_blocks", "LINK_LUT", "ZERO_COST_GLUE"]

LINK_LUT = 420         # UART RX + TX + HostLink, measured on iCE40 (~380 LC) plus margin

# Amaranth classes used inside the generator's blocks whose logic is part of
# the cost the enclosing block declares (measured: a one-lane "parallel"
# MacArray synthesises to 302 LUT4s with its SyncFIFOBuffered; it declares 330).
ZERO_COST_GLUE = (Module, SyncFIFO, SyncFIFOBuffered)


class FitError(Exception):
    """The design does not fit the device, or cannot be priced (one-line message)."""


class EstimateSource(StrEnum):
    """Where an estimate's accelerator figures come from."""
    MODEL = "accelerator's resource model"      # its ``resource_estimate(device)``
    DESIGN = "design model"                     # the elaborated design, block by block


@dataclass(frozen=True)
class ResourceEstimate:
    """An accelerator's own resources (without the host link).  ``lut``:
    in what nextpnr counts on the device for a resource model's figures,
    LUT4s for the design model's (``Estimate`` scales those);
    ``bram_blocks`` None: ``bram_bits`` in whole blocks.  The codebook
    figures are within the others, for the report."""
    lut: int
    dsp: int
    bram_bits: int
    bram_blocks: int | None = None
    spram_bits: int = 0
    weight_index_bits: int = 0      # of codebook-coded weight ROMs (within bram_bits)
    codebook_bits: int = 0          # of their codebook tables


@dataclass(frozen=True)
class Estimate:
    """The fit model's figures for the whole design (accelerator and host
    link) on a device; ``to_json()`` is the report's ``estimate``."""
    lut: int
    dsp: int
    bram_blocks: int
    bram_bits: int
    spram_bits: int
    source: EstimateSource
    weight_index_bits: int = 0      # of codebook-coded weight ROMs (within bram_bits)
    codebook_bits: int = 0          # of their codebook tables

    def to_json(self) -> dict:
        return {**asdict(self), "source": str(self.source)}

    def usage(self, device) -> list[tuple[str, int, int]]:
        """(resource, needed, the device has) for every resource."""
        return [("LUT", self.lut, device.lut), ("DSP", self.dsp, device.dsp),
                ("block RAM blocks", self.bram_blocks, device.bram_blocks),
                ("block RAM bits", self.bram_bits, device.bram_bits),
                ("SPRAM bits", self.spram_bits, device.spram_bits)]

    def summary(self, device) -> str:
        text = ", ".join(f"{need} / {have} {name}" for name, need, have in self.usage(device))
        if self.weight_index_bits or self.codebook_bits:
            text += f" (codebook weights: {self.weight_index_bits} index bits, {self.codebook_bits} table bits)"
        return text


@dataclass
class _Totals:
    lut: int = 0
    dsp: int = 0
    bram_blocks: int = 0
    bram_bits: int = 0
    weight_index_bits: int = 0
    codebook_bits: int = 0


def memory_blocks(bits_wide: int, depth: int, shapes) -> int:
    """Block RAMs for a ``bits_wide`` x ``depth`` memory: the fewest over the
    (depth, width) configurations."""
    return min(math.ceil(depth / d) * math.ceil(bits_wide / w) for d, w in shapes)


def _add_memory(memory: Memory, device, totals: _Totals) -> None:
    width, depth = Shape.cast(memory.shape).width, memory.depth
    synchronous = [port for port in memory.read_ports if port.domain != "comb"]
    if memory.attrs.get("ram_style") == "logic" or not synchronous:
        totals.lut += width * depth
        return
    totals.bram_blocks += memory_blocks(width, depth, device.bram_shapes) * len(memory.read_ports)
    totals.bram_bits += width * depth


def _add_block(block, device, totals: _Totals) -> None:
    if isinstance(block, Memory):
        _add_memory(block, device, totals)
    elif callable(getattr(block, "resource_cost", None)):
        cost = block.resource_cost()
        totals.lut += cost.lut
        totals.dsp += cost.dsp
        totals.weight_index_bits += cost.weight_index_bits
        totals.codebook_bits += cost.codebook_bits
    elif not isinstance(block, ZERO_COST_GLUE):
        kind = type(block)
        raise FitError(f"cannot estimate resources: block {kind.__module__}.{kind.__qualname__} declares no "
                       "resource_cost() (see rtl_gen/pipeline/block_cost.py)")


def design_model(design, device) -> ResourceEstimate:
    """Elaborate ``design`` and price every elaboratable in it once (LUT4s)."""
    totals = _Totals()
    seen = set()
    pending = [Fragment.get(design, None)]
    while pending:
        fragment = pending.pop()
        for block in fragment.origins or ():
            if id(block) not in seen:
                seen.add(id(block))
                _add_block(block, device, totals)
        pending.extend(sub for sub, _, _ in fragment.subfragments)
    return ResourceEstimate(**asdict(totals))


def link_buffer_bytes(frame_bytes: int, double: bool = True) -> int:
    """The host link's image buffer (``fpga.link``): with ``double``, two
    images (one received while the other is fed), the second at the first's
    address with its top bit set, so a bank is one address bit, not an
    adder; else one image."""
    if not double:
        return frame_bytes
    return (1 << max(1, (frame_bytes - 1).bit_length())) + frame_bytes


def estimate(accelerator, device, image_in_bram: bool = True) -> Estimate:
    """The design's resources plus the host link's (its image buffer in
    block RAM unless ``image_in_bram`` is False: the UP5K build uses SPRAM)."""
    own = getattr(accelerator, "resource_estimate", None)
    if own is not None:
        acc, source, scale = own(device), EstimateSource.MODEL, 1.0
    elif isinstance(accelerator, Elaboratable):
        acc, source, scale = design_model(accelerator, device), EstimateSource.DESIGN, device.cells_per_lut
    else:
        raise FitError(f"cannot estimate resources: {type(accelerator).__qualname__} is not an Amaranth design "
                       "and has no resource_estimate")
    h, w, c = accelerator.in_shape
    image_bytes = link_buffer_bytes(h * w * c, double=False)
    image_bits = image_bytes * 8
    lut = math.ceil((int(acc.lut) + LINK_LUT) * scale)
    dsp = int(acc.dsp)
    if device.dsp == 0:
        # Yosys maps multipliers to LUTs when the family has no DSP.
        lut += dsp * device.mult_lut_cost
        dsp = 0
    image_blocks = memory_blocks(8, image_bytes, device.bram_shapes) if image_in_bram else 0
    if acc.bram_blocks is not None:
        blocks = int(acc.bram_blocks) + image_blocks
    else:
        blocks = math.ceil(int(acc.bram_bits) / device.bram_block_bits) + image_blocks
    spram_bits = int(acc.spram_bits) + (0 if image_in_bram else 256 * 1024)
    return Estimate(lut=lut, dsp=dsp, bram_blocks=blocks,
                    bram_bits=int(acc.bram_bits) + (image_bits if image_in_bram else 0),
                    spram_bits=spram_bits, source=source, weight_index_bits=int(acc.weight_index_bits),
                    codebook_bits=int(acc.codebook_bits))


def check_fit(est: Estimate, device) -> None:
    """Raise FitError naming, in one line, every resource that does not fit."""
    over = [f"{need} {name} (has {have})" for name, need, have in est.usage(device) if need > have]
    if over:
        raise FitError(f"does not fit {device.name}: needs {', '.join(over)}")
