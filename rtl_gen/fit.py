"""Fit check: estimate a design's resources before synthesis and refuse,
in seconds, a design that cannot fit the board's device.

The model (deliberately simple, documented, and reported next to nextpnr's
actual numbers in ``report.json`` so it can be recalibrated):

* the accelerator supplies ``resource_estimate`` -- a dict with ``lut``,
  ``dsp``, ``bram_bits`` and optionally ``spram_bits`` -- if it has one;
* otherwise, for a generated network, the **design model**: the design is
  elaborated (well under a second, no synthesis) and walked.  Every memory
  is counted exactly in blocks -- the fewest over the device's block RAM
  (depth, width) configurations -- unless marked ``ram_style = "logic"``
  (flip-flops: ``bits / 2`` LUTs are charged); measured: Yosys puts even a
  16-word memory with a synchronous read port in a block RAM.  Every block
  of a known class costs the LUTs and multipliers of ``_block_cost``
  (measured per module with Yosys ``synth_ice40 -dsp``), e.g. a one-lane
  serial MAC unit 160 LUTs and 1 DSP, its ``SerialRequant`` 120 LUTs; the
  total is scaled by the device's ``cells_per_lut``;
* otherwise the bundle is modelled: every MAC unit (conv layer, each Fire
  part, complex bypass conv) costs ``lanes`` multipliers (``mac_lanes``
  attribute of the accelerator if present, else 1 per unit) and
  ``LUT_PER_MAC`` LUTs; every other layer ``LUT_PER_LAYER``; block RAM holds
  the weights (``bundle.weight_bits()``), a two-row line buffer per 3x3
  window (``2 * W * C * 8`` bits) and a bypass FIFO (``(W + 3) * C * 8``);
* the host link adds ``LINK_LUT`` LUTs and its image buffer
  (``H * W * C * 8`` bits, rounded up to whole blocks);
* on a device without DSPs each multiplier costs ``device.mult_lut_cost``
  LUTs instead (on a device with DSPs, ``synth_ice40 -dsp`` maps every
  multiplier to one, so more multipliers than DSPs does not fit).

Block RAM is compared in blocks: ``ceil(bits / block_bits)`` per memory
group, which is optimistic (real memories round per port width) -- the
check refuses only what surely cannot fit.
"""
from __future__ import annotations

import math
from dataclasses import asdict, dataclass

from amaranth.hdl import Elaboratable, Fragment, Shape
from amaranth.hdl._mem import MemoryInstance

__all__ = ["Estimate", "FitError", "estimate", "check_fit", "LINK_LUT"]

LINK_LUT = 420         # UART RX + TX + HostLink, measured on iCE40 (~380 LC) plus margin
LUT_PER_MAC = 150
LUT_PER_LAYER = 120


class FitError(Exception):
    """The design does not fit the device (one-line message)."""


@dataclass
class Estimate:
    lut: int
    dsp: int
    bram_blocks: int
    bram_bits: int
    spram_bits: int
    source: str

    def as_dict(self):
        return asdict(self)


def _bundle_model(bundle, lanes: int | None):
    macs = lut = dsp = 0
    bram = bundle.weight_bits()
    shapes = {lay.name: lay.shape for lay in bundle.layers}
    for lay in bundle.layers:
        kind = lay.kind
        _, w, c = shapes[lay.inputs[0]] if lay.inputs else lay.shape
        units = {"conv": 1, "fire": len(getattr(lay, "parts", ()))}.get(kind, 0)
        if kind == "add" and lay.bypass == "complex":
            units = 1
        macs += units
        lut += units * LUT_PER_MAC + (0 if units else LUT_PER_LAYER)
        if (kind == "conv" and lay.kernel == 3) or kind == "maxpool":
            bram += 2 * w * c * 8
        if kind == "fire" and lay.e3x3:
            bram += 2 * w * lay.s1x1 * 8
        if kind == "add":
            bram += (w + 3) * c * 8
    dsp = lanes if lanes is not None else macs
    return {"lut": lut, "dsp": dsp, "bram_bits": bram, "spram_bits": 0}


def _block_cost(block) -> tuple[int, int]:
    """(LUTs, DSPs) of one block of a known class (its own logic, not its
    sub-blocks), measured per module with Yosys synth_ice40 -dsp."""
    name = type(block).__name__
    if name == "MacArray":
        if block.raw:
            return 150 + 60 * block.lanes, block.lanes
        if block.requant == "serial":
            return 160, 1
        return 200 + 130 * block.lanes, 3 * block.lanes
    if name == "SerialRequant":
        return 120 + 2 * block.cout, 0
    if name == "BypassAdd":
        if block.serial:
            return 130, 0
        return 150, 2 if block.side == "uint8" else 3
    return BLOCK_LUT.get(name, 0), 0


BLOCK_LUT = {"WindowGenerator": 210, "ChannelReduce": 55, "Classifier": 40, "StreamFifo": 110,
             "ChannelConcat": 21, "Broadcast": 7}


def memory_blocks(bits_wide: int, depth: int, shapes) -> int:
    """Block RAMs for a ``bits_wide`` x ``depth`` memory: the fewest over the
    (depth, width) configurations."""
    return min(math.ceil(depth / d) * math.ceil(bits_wide / w) for d, w in shapes)


def design_model(design, device) -> dict:
    """Walk the elaborated design: memories in blocks, blocks by class."""
    frag = Fragment.get(design, None)
    lut = dsp = blocks = bram_bits = 0
    seen = set()

    def walk(f):
        nonlocal lut, dsp, blocks, bram_bits
        if isinstance(f, MemoryInstance):
            width, depth = Shape.cast(f._data.shape).width, f._data.depth
            bits = width * depth
            if f._attrs.get("ram_style") == "logic":
                lut += bits // 2
            else:
                blocks += memory_blocks(width, depth, device.bram_shapes)
                bram_bits += bits
        for origin in getattr(f, "origins", None) or ():
            if id(origin) not in seen:
                seen.add(id(origin))
                cost = _block_cost(origin)
                lut += cost[0]
                dsp += cost[1]
        for sub, _, _ in f.subfragments:
            walk(sub)

    walk(frag)
    return {"lut": lut, "dsp": dsp, "bram_bits": bram_bits, "bram_blocks": blocks, "spram_bits": 0}


def estimate(accelerator, device, bundle=None, image_in_bram: bool = True) -> Estimate:
    """The design's resources plus the host link's (its image buffer in
    block RAM unless ``image_in_bram`` is False: the UP5K build uses SPRAM)."""
    own = getattr(accelerator, "resource_estimate", None)
    if own is not None:
        acc, source = dict(own), "accelerator.resource_estimate"
    elif isinstance(accelerator, Elaboratable) and getattr(accelerator, "mac_lanes", None) is not None:
        acc, source = design_model(accelerator, device), "design model"
    elif bundle is not None:
        acc, source = _bundle_model(bundle, getattr(accelerator, "mac_lanes", None)), "bundle model"
    else:
        raise FitError("cannot estimate resources: the accelerator has no resource_estimate and no bundle was given")
    h, w, c = accelerator.in_shape
    image_bits = h * w * c * 8
    lut = math.ceil((int(acc["lut"]) + LINK_LUT) * (device.cells_per_lut if source == "design model" else 1.0))
    dsp = int(acc.get("dsp", 0))
    if device.dsp == 0:
        # Yosys maps multipliers to LUTs when the family has no DSP.
        lut += dsp * device.mult_lut_cost
        dsp = 0
    image_blocks = memory_blocks(8, h * w * c, device.bram_shapes) if image_in_bram else 0
    if "bram_blocks" in acc:
        blocks = int(acc["bram_blocks"]) + image_blocks
    else:
        blocks = math.ceil(int(acc.get("bram_bits", 0)) / device.bram_block_bits) + image_blocks
    spram_bits = int(acc.get("spram_bits", 0)) + (0 if image_in_bram else 256 * 1024)
    return Estimate(lut=lut, dsp=dsp, bram_blocks=blocks,
                    bram_bits=int(acc.get("bram_bits", 0)) + (image_bits if image_in_bram else 0),
                    spram_bits=spram_bits, source=source)


def check_fit(est: Estimate, device) -> None:
    """Raise FitError naming the first resource that does not fit."""
    checks = [
        ("DSP", est.dsp, device.dsp, ""),
        ("LUT", est.lut, device.lut, ""),
        ("block RAM", est.bram_blocks, device.bram_blocks,
         f" ({est.bram_bits} bits; has {device.bram_bits} bits)"),
        ("SPRAM bits", est.spram_bits, device.spram_bits, ""),
    ]
    for name, need, have, more in checks:
        if need > have:
            unit = "blocks" if name == "block RAM" else ""
            raise FitError(f"does not fit {device.name}: needs {need} {name}{' ' + unit if unit else ''}"
                           f" (has {have}){more}")
