"""The Fire engine's resource model, for the fit check (``rtl_gen.fit``
takes it as the accelerator's ``resource_estimate``).

Logic is priced per part from the program's widths and features, in LUT4s,
then scaled to what nextpnr counts on the device by its
``engine_lut_scale`` (``fpga.boards.Device``: iCE40 logic cells per LUT4,
calibrated with nextpnr on three whole UP5K builds, the model 0.1-0.5 %
above each; ECP5 measured); the constants were measured with Yosys
``synth_ice40`` per part.  Memories
are counted in whole blocks over the device's (depth, width) shapes, like
the design model does.  Everything lane-wide follows ``params.lanes`` (L):
multipliers ``L / 2`` ``SB_MAC16`` for the iCE40 dual 8x8 lanes, else the
lanes' L products on the device's hard multipliers (``products_per_dsp``
each: ECP5 one, Gowin two as MULT9X9; nextpnr placed 16 and 8 for 16 lanes,
the bypass add's two narrow products in logic), or all of them in logic
where it has none; memories no deeper than the device's ``lutram_depth``
in its distributed RAM, not a block; the
lanes' sums and serializer; the weight ROM's row of L; the pool's buffers
and the pair tables (``L / 2``).
"""
from __future__ import annotations

from amaranth.hdl import Shape

from rtl_gen.dual_mult import DspImpl
from rtl_gen.engine.banks import BankKind
from rtl_gen.engine.class_sums import sum_shape
from rtl_gen.engine.roms import bias_bits
from rtl_gen.fit import ResourceEstimate, memory_blocks

__all__ = ["engine_resources"]

LUT_MULTIPLIER_CELLS = 150  # one uint8 x int8 product in iCE40 logic, with its registers
LUTRAM_WIDTH = 4            # bits one distributed-RAM LUT cell pair holds per 16 words (DPR16X4, RAM16SDP4)
DECODE_LUT = 100
# measured with Yosys synth_ice40 on the issue-14 feature network (12x12x3):
# the input padding values' multiplexer 28 LUT4s and 5 flip-flops more; a
# logits pass (19-bit accumulators, 22-bit signed class sums) 41 LUT4s and
# 190 flip-flops more (the accumulator beside the requantisation, the wider
# class-sum read-modify-write and comparison), priced per accumulator bit as
# if no flip-flop shared a cell with a LUT
FILL_LUT = 40
LOGITS_LUT_PER_BIT = 10


def _blocks(bits_wide: int, depth: int, shapes) -> int:
    return memory_blocks(bits_wide, max(depth, 1), shapes)


def _logic(params) -> int:
    prog, table = params.program, params.table
    adds = any(p.add for p in prog.passes)
    v_bits = params.acc_bits + 1
    lanes = params.lanes * 2 * params.acc_bits + 100            # sums and the serializer's chain
    sequencer = 450
    complex_ = any(p.add and p.add.kind == "complex" for p in prog.passes)
    # tree multiplier, rounding, addressing; a bypass add (its two products,
    # sum and rounding), more with the complex bypass's selection
    wb = params.write_back
    write_back = 2 * v_bits * wb.m_bits + 500 + (640 if complex_ else 350 if adds else 0)
    pool = 350 if any(p.pool for p in prog.passes) else 0      # either kind (2x2/2 floor: 12 LUT4s fewer)
    sums = 250 + (LOGITS_LUT_PER_BIT * Shape.cast(wb.logits).width if wb.logits else 0)
    fill = FILL_LUT if params.fill_ci_bits else 0
    control = table.words * 16 + 150
    # the codebook writer (counter, two table look-ups in logic) and the
    # register stage the look-up adds in front of the lanes
    decode = DECODE_LUT + len(prog.passes) * 2 ** params.codes.bits if params.codes.coded else 0
    return lanes + sequencer + write_back + pool + sums + control + decode + fill


def engine_resources(params, device) -> ResourceEstimate:
    """The resources of the engine ``params`` (``EngineParams``) on ``device``."""
    prog, table, shapes = params.program, params.table, device.bram_shapes
    adds = any(p.add for p in prog.passes)
    wb = params.write_back
    const_bits = bias_bits(prog) + wb.m_bits + (2 * wb.add_m_bits if adds and not wb.add_per_pass else 0)
    pooled_w = prog.max_pooled_width()
    codes, lanes = params.codes, params.lanes
    last = prog.passes[-1]
    oh, ow = prog.out_shape(last)
    sums = (sum_shape(oh * ow, wb.logits or range(256)).width, max(last.groups * lanes, prog.num_classes))
    memories = [(codes.rom_width * lanes, table.weight_depth), (const_bits, table.const_depth),
                (16, len(params.descriptor_rom())), sums]
    if pooled_w:
        memories += [(8, pooled_w * lanes), (8, lanes)]         # row buffer, horizontal maxima
    # the write-back's delay line: valid, channel row, x, y, group-first, address
    # the pass-relative channel (group, lane), and the lane itself unless it is the channel's low bits
    lane_bits = (lanes - 1).bit_length()
    c_bits = lane_bits + table.layout["groups"].shape.width + (0 if wb.lane_in_channel else lane_bits)
    xy_bits = table.layout["out_w"].shape.width + table.layout["out_h"].shape.width
    memories.append((1 + c_bits + xy_bits + 1 + params.addr_bits, 16))
    if codes.coded:
        memories += [(16, 2 * 4 ** codes.bits)] * (lanes // 2)          # the pair tables
    if params.banks == BankKind.BLOCK:
        memories += [(8, size) for size in prog.banks]
    in_blocks = [(w, d) for w, d in memories if d > device.lutram_depth]
    blocks = sum(_blocks(w, d, shapes) for w, d in in_blocks)
    bits = sum(w * d for w, d in in_blocks)
    lut = round(_logic(params) * device.engine_lut_scale)
    lut += sum(-(-w // LUTRAM_WIDTH) for w, d in memories if d <= device.lutram_depth)
    if params.dsp == DspImpl.SB_MAC16:
        dsp = lanes // 2
    elif device.dsp == 0:
        # the 8x8 products in logic: measured on the HX8K, the four-Fire
        # complex-bypass network's engine took 8 130 cells with its link
        lut, dsp = lut + (lanes + (2 if adds else 0)) * LUT_MULTIPLIER_CELLS, 0
    else:
        dsp = -(-lanes // device.products_per_dsp)
    index_bits = codes.rom_width * lanes * table.weight_depth if codes.coded else 0
    return ResourceEstimate(lut=lut, dsp=dsp, bram_blocks=blocks, bram_bits=bits, weight_index_bits=index_bits,
                            codebook_bits=codes.codebook_bits(),
                            spram_bits=len(prog.banks) * 256 * 1024 if params.banks == BankKind.SPRAM else 0)
