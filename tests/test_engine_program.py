"""The Fire engine's program and small parts, without Verilator:

* the passes (``rtl_gen.engine.program``), run in numpy pass by pass
  (``execute.run_program``), equal ``golden.intref`` on every map and
  class sum, and the maps a pass touches are in different banks;
* ``TreeMul``, ``DelayLine`` and ``CodebookDecode`` against Python on the
  same seeded cases (Amaranth's simulator);
* parameters are refused in one line before any hardware exists;
* issue 14's cases (2x2/2 floor pools, a logits conv read by the gap, the
  input padding value) on ``feature_network``s, each alone and together,
  and what the engine refuses of them.
"""
from __future__ import annotations

import random
from collections import deque

import numpy as np
import pytest
from amaranth.sim import Simulator

from golden import intref
from recorded import recorded_nextpnr
from golden.models import squeezenet_v1_1
from rtl_gen.engine.delay_line import DelayLine
from rtl_gen.engine import FireEngine
from rtl_gen.engine.execute import run_program
from rtl_gen.engine.program import DEFAULT_LANES, MIN_PERIOD, ProgramError, plan_program
from rtl_gen.engine.tree_mul import TreeMul
from sim.lib.network_cases import (fashion_images, feature_network, fire1, random_network, reference, small_bypass_spec,
                               with_random_codebooks)


def _networks():
    yield "fire1", fire1(), fashion_images(3)
    yield "reference", reference(), fashion_images(2)
    for bypass in ("simple", "complex"):
        bundle, images = random_network(small_bypass_spec(bypass), seed=21, calib_images=4)
        yield f"bypass-{bypass}", bundle, images


def _program_equals_golden(bundle, images):
    """The bundle's program: its passes in numpy equal ``golden.intref`` on
    every map and class sum, and the maps a pass touches are in different
    banks."""
    program = plan_program(bundle)
    sums, maps = run_program(program, images)
    golden = intref.run(bundle, images)
    assert np.array_equal(sums, golden[bundle.output.name])
    for map_name, values in maps.items():
        if map_name in golden:
            assert np.array_equal(values, golden[map_name]), map_name
    for p in program.passes:
        banks = [program.maps[p.src].bank] + ([program.maps[p.add.side].bank] if p.add else []) \
            + ([program.maps[p.dst].bank] if p.dst else [])
        assert len(set(banks)) == len(banks), (p.name, banks)
    return program


@pytest.mark.parametrize("name,bundle,images", list(_networks()), ids=lambda v: v if isinstance(v, str) else "")
def test_passes_compute_the_golden_network(name, bundle, images):
    _program_equals_golden(bundle, images)


def test_reference_schedule():
    """Five passes, 16-lane groups, and the cycle model of docs/engine.md
    (the one-Fire network)."""
    program = plan_program(fire1())
    assert [p.name for p in program.passes] == ["conv1", "fire2.squeeze", "fire2.expand1x1", "fire2.expand3x3",
                                                "conv10"]
    assert program.passes[0].pool and program.passes[-1].gap
    assert sum(program.issue_cycles(p) for p in program.passes) == 106_624
    assert sum(program.macs(p) for p in program.passes) == 1_455_104


def _run(dut, inputs, output):
    out = []

    async def bench(ctx):
        for values in inputs:
            for port, value in values:
                ctx.set(port, value)
            await ctx.tick()
            out.append(ctx.get(output))
    sim = Simulator(dut)
    sim.add_clock(1e-8)
    sim.add_testbench(bench)
    sim.run()
    return out


@pytest.mark.parametrize("a_bits,b_bits", [(26, 16), (9, 16), (5, 3), (12, 1)])
def test_tree_multiplier(a_bits, b_bits):
    rng = random.Random(a_bits * 100 + b_bits)
    cases = [(-2 ** (a_bits - 1), 2 ** b_bits - 1), (2 ** (a_bits - 1) - 1, 2 ** b_bits - 1), (0, 0), (-1, 1)]
    cases += [(rng.randrange(-2 ** (a_bits - 1), 2 ** (a_bits - 1)), rng.randrange(2 ** b_bits)) for _ in range(300)]
    dut = TreeMul(a_bits, b_bits)
    out = _run(dut, [((dut.a, a), (dut.b, b)) for a, b in cases + [(0, 0)] * dut.latency], dut.p)
    assert out[dut.latency - 1:dut.latency - 1 + len(cases)] == [a * b for a, b in cases]


@pytest.mark.parametrize("cycles", [2, 3, 8, 10, 16])
def test_delay_line_equals_a_register_chain(cycles):
    rng = random.Random(cycles)
    values = [rng.randrange(1 << 12) for _ in range(100)]
    dut = DelayLine(12, cycles)
    out = _run(dut, [((dut.i, v),) for v in values], dut.o)
    chain, want = deque([0] * cycles), []
    for v in values:           # the same Python reading as the testbench: after each clock edge
        chain.appendleft(v)
        chain.pop()
        want.append(chain[-1])
    assert out[cycles:] == want[cycles:]


def test_parameters_are_refused_in_one_line():
    with pytest.raises(ValueError, match="^impl must be one of 'sb_mac16', 'generic', got 'dsp48'$"):
        FireEngine(reference(), dsp="dsp48")
    with pytest.raises(ValueError, match="^banks must be one of 'block', 'spram', got 'sram'$"):
        FireEngine(reference(), banks="sram")
    with pytest.raises(ValueError, match="^cycles must be an integer >= 2, got 1$"):
        DelayLine(8, 1)


def test_a_map_larger_than_an_spram_is_refused_naming_it():
    bundle, _ = random_network(squeezenet_v1_1(), seed=0, calib_images=1)
    with pytest.raises(ProgramError, match=r"map '\w+' needs \d+ bytes, an SPRAM bank holds 16384$"):
        FireEngine(bundle, banks="spram")


def test_fit_model_on_the_up5k_builds_measured():
    """The resource model against the recorded nextpnr results of whole
    UP5K builds (``tests/data/nextpnr_results.json``, with the host link):
    at or above each measured cell count, within 1.5 %; so the simple-bypass
    network is built and the complex one refused, as nextpnr decided."""
    from fpga.boards import BOARDS
    from rtl_gen.engine import EngineParams
    from rtl_gen.fit import estimate
    device = BOARDS["ice40"].device
    measured = {name: r["lut_used"] for name, r in recorded_nextpnr("ice40/engine").items()}
    assert len(measured) == 4
    for name, bundle, _ in _networks():
        if name not in measured:
            continue
        est = estimate(EngineParams(bundle, dsp="sb_mac16", banks="spram"), device, image_in_bram=False)
        assert measured[name] <= est.lut <= 1.015 * measured[name], (name, est.lut)
        assert (est.lut <= device.lut) == (measured[name] <= device.lut), name


@pytest.mark.parametrize("board", ["ecp5", "gowin"])
def test_fit_model_on_ecp5_and_gowin_builds_measured(board):
    """The resource model against the recorded nextpnr results of the
    reference engine on the ULX3S and the Tang Nano 9K, as the build makes
    it (the board's engine options): LUTs within 2 %, the hard multipliers
    and block RAMs exactly (the bypass add's products in logic; the
    16-word memories in distributed RAM)."""
    from fpga.boards import BOARDS
    from rtl_gen.fit import estimate
    from squeezefire.architectures import ARCHITECTURES, DEFAULT_OPTIONS
    b = BOARDS[board]
    record = recorded_nextpnr(f"{board}/engine")["reference"]
    params = ARCHITECTURES["engine"].assess(reference(), b, DEFAULT_OPTIONS)
    est = estimate(params, b.device, image_in_bram=b.image_ram == "block")
    assert abs(est.lut - record["lut_used"]) <= 0.02 * record["lut_used"], (est.lut, record)
    assert (est.dsp, est.bram_blocks) == (record["dsp_used"], record["bram_used"]), (est, record)


@pytest.mark.parametrize("bits,lanes", [(1, 16), (2, 16), (3, 16), (4, 16), (3, 2), (2, 6), (3, 32)])
def test_codebook_decode_gives_each_lane_its_value(bits, lanes):
    """``CodebookDecode`` against ``values[index]``: two passes' tables
    written (slot 0, then slot 1 while slot 0 is read), then every lane's
    weight for seeded random indices, one cycle after them, from both
    slots."""
    from rtl_gen.engine.codebook_decode import CodebookDecode, write_cycles
    rng = np.random.default_rng(bits)
    books = [rng.integers(-127, 128, 2 ** bits) for _ in range(2)]
    cases = [(slot, rng.integers(0, 2 ** bits, lanes)) for slot in (0, 1) for _ in range(40)]
    dut = CodebookDecode(bits, lanes)
    seen = []

    async def bench(ctx):
        for slot, book in enumerate(books):
            ctx.set(dut.book, sum((int(v) & 0xff) << (8 * i) for i, v in enumerate(book)))
            ctx.set(dut.load_slot, slot)
            ctx.set(dut.load, 1)
            await ctx.tick()
            ctx.set(dut.load, 0)
            busy = 0
            while ctx.get(dut.busy):
                busy += 1
                await ctx.tick()
            assert busy == write_cycles(bits)
        for slot, idx in cases:
            ctx.set(dut.slot, slot)
            for lane in range(lanes):
                ctx.set(dut.idx[lane], int(idx[lane]))
            await ctx.tick()
            seen.append([ctx.get(dut.w[lane]) for lane in range(lanes)])
    sim = Simulator(dut)
    sim.add_clock(1e-8)
    sim.add_testbench(bench)
    sim.run()
    assert seen == [[int(books[slot][i]) for i in idx] for slot, idx in cases]


def test_codebook_weights_in_the_engine():
    """A coded bundle makes a coded engine: b-bit rows in the weight ROM and
    each pass's table; an int8 bundle keeps int8 rows; a table too big for
    the pair decode falls back to int8 rows and says why."""
    from rtl_gen.engine import EngineParams
    bundle, _ = random_network(small_bypass_spec("simple"), seed=21, calib_images=2)
    assert not EngineParams(bundle).codes.coded
    for bits in (2, 3):
        coded = EngineParams(with_random_codebooks(bundle, bits, seed=bits))
        codes = coded.codes
        assert codes.coded and codes.bits == bits and codes.rom_width == bits
        for p, values, indices in zip(coded.program.passes, codes.values, codes.indices):
            assert np.array_equal(values[indices], p.weight), p.name
    wide = EngineParams(with_random_codebooks(bundle, 5, seed=5)).codes
    assert not wide.coded and "at most 16" in wide.reason


# feature_network arguments: each of issue 14's cases alone, together, on odd
# sides (the floor pool drops the last row and column), and pools of the image
FEATURES = {
    "all": {},
    "all-odd": {"image": (13, 11, 3)},
    "floor-pool": {"logits": False, "pad": None},
    "floor-pool-odd-1ch": {"image": (13, 11, 1), "logits": False, "pad": None},
    "logits": {"pool": (3, 2, True), "pad": None},
    "pad": {"pool": (3, 2, True), "logits": False},
    "pad-1ch-odd": {"image": (13, 11, 1), "pad": (77,)},
    "ceil-pool-logits-pad": {"pool": (3, 2, True), "image": (15, 13, 3)},
    "image-pool-floor": {"image": (13, 11, 3), "pool_image": True},
    "image-pool-ceil": {"image": (23, 21, 2), "pad": (9, 200), "pool": (3, 2, True), "pool_image": True},
}


@pytest.mark.parametrize("name", FEATURES)
def test_feature_network_passes_compute_the_golden_network(name):
    bundle, images = feature_network(**FEATURES[name], seed=len(name))
    program = _program_equals_golden(bundle, images)
    layers = {lay.name: lay for lay in bundle.layers}
    reads_image = layers["conv1"].source == bundle.input.name
    assert [p.name for p in program.passes if p.fill] == (["conv1"] if reads_image and any(bundle.input.pad) else [])
    assert program.passes[-1].logits == layers["classifier"].logits


def _with_pool(bundle, layer: str, kernel: int, stride: int, ceil: bool):
    layers = [dict(lay, kernel=kernel, stride=stride, ceil=ceil) if lay["name"] == layer else lay
              for lay in bundle.graph["layers"]]
    return type(bundle)(dict(bundle.graph, layers=layers), bundle.arrays)


def test_mixed_pool_kinds_are_refused_naming_the_layer():
    """One kind of pool per program: pool2 as 3x3/2 ceil after pool1's
    2x2/2 floor (the same 6x6 -> 3x3 shapes, so the bundle is valid)."""
    from golden.bundle import validate
    bundle, _ = feature_network()
    mixed = _with_pool(bundle, "pool2", 3, 2, True)
    validate(mixed, "mixed")
    with pytest.raises(ProgramError, match=r"^layer 'pool2': a 3x3/2 ceil-mode max pool after 2x2/2 floor-mode ones; "
                                           r"the engine runs one kind of pool per network$"):
        plan_program(mixed)


@pytest.mark.parametrize("kernel,stride,ceil", [(2, 2, True), (3, 2, False), (3, 1, True)])
def test_other_pools_are_refused_naming_the_layer(kernel, stride, ceil):
    bundle = _with_pool(feature_network()[0], "pool1", kernel, stride, ceil)
    with pytest.raises(ProgramError, match=rf"^layer 'pool1': a {kernel}x{kernel}/{stride} "
                                           rf"{'ceil' if ceil else 'floor'}-mode max pool; the engine supports "
                                           r"3x3/2 ceil-mode and 2x2/2 floor-mode$"):
        FireEngine(bundle)


def test_features_are_built_only_where_the_program_has_them():
    """The padding multiplexer, the logits path and the floor pool exist
    only in a program that uses them: the reference's descriptor, taps and
    write-back are as before issue 14 (its Verilog is unchanged)."""
    from rtl_gen.engine import EngineParams
    from rtl_gen.int8 import POOL_KINDS
    ref = EngineParams(reference())
    assert ref.fill_ci_bits == 0 and ref.write_back.logits is None and "fill" not in ref.table.layout.members
    assert ref.program.pool_kind == POOL_KINDS[0]
    feat = EngineParams(feature_network(image=(13, 11, 3))[0])
    assert feat.fill_ci_bits == 2 and "fill" in feat.table.layout.members
    assert feat.program.pool_kind == POOL_KINDS[1]
    lo, hi = feat.write_back.logits.start, feat.write_back.logits.stop - 1
    assert lo < 0 < hi
    sums, _ = run_program(feat.program, feature_network(image=(13, 11, 3))[1])
    pixels = np.prod(feat.program.out_shape(feat.program.passes[-1]))
    assert pixels * lo <= sums.min() and sums.max() <= pixels * hi


def test_class_sums_signed_and_ties():
    """``ClassSums`` with a logits pass's signed values: every sum and the
    argmax (ties to the lowest class) against Python, two frames (the
    second restarts its sums), values at both ends of their range."""
    from rtl_gen.engine.class_sums import ClassSums
    values, classes, pixels = range(-205_989, 182_638), 6, 9
    rng = np.random.default_rng(14)
    frames = [rng.integers(values.start, values.stop, (pixels, classes)) for _ in range(3)]
    frames[1][:, 2] = frames[1][:, 4] = values.stop - 1             # a tie for the largest sum
    frames[2][:] = values.start                                     # all the smallest, all tied
    dut = ClassSums(classes, DEFAULT_LANES, 4, pixels, values)
    seen = []

    async def bench(ctx):
        for frame in frames:
            for px, row in enumerate(frame):
                for c, v in enumerate(row):
                    ctx.set(dut.add_valid, 1)
                    ctx.set(dut.add_y, int(v))
                    ctx.set(dut.add_c, c)
                    ctx.set(dut.add_fresh, px == 0)
                    await ctx.tick()
            ctx.set(dut.add_valid, 0)
            await ctx.tick().repeat(3)
            ctx.set(dut.start, 1)
            await ctx.tick()
            ctx.set(dut.start, 0)
            ctx.set(dut.o.ready, 1)
            got = []
            while len(got) < classes:
                if ctx.get(dut.o.valid):
                    beat = ctx.get(dut.o.payload)
                    got.append((beat.data, beat.argmax if beat.last else None))
                await ctx.tick()
            seen.append(got)
    sim = Simulator(dut)
    sim.add_clock(1e-8)
    sim.add_testbench(bench)
    sim.run()
    want = [[(int(s), None) for s in f.sum(0)[:-1]] + [(int(f.sum(0)[-1]), int(np.argmax(f.sum(0))))] for f in frames]
    assert seen == want


def test_feature_network_fits_the_up5k():
    """A 32x32x3 network with all three of issue 14's cases fits the
    iCEBreaker by the fit model, as the build would make it."""
    from fpga.boards import get_board
    from rtl_gen.engine import EngineParams
    from rtl_gen.fit import check_fit, estimate
    from squeezefire.architectures import engine_options
    board = get_board("ice40")
    params = EngineParams(feature_network(image=(32, 32, 3))[0], **engine_options(board))
    assert params.fill_ci_bits and params.write_back.logits and not params.program.pool_kind.ceil
    check_fit(estimate(params, board.device, image_in_bram=board.image_ram == "block"), board.device)


def test_engine_package_exports_what_the_docs_name():
    """README, docs/engine.md and docs/build.md name rtl_gen.engine.FireEngine."""
    import rtl_gen.engine
    from rtl_gen.engine.engine import EngineParams as Params, FireEngine as Engine
    assert rtl_gen.engine.FireEngine is Engine and rtl_gen.engine.EngineParams is Params


LANE_COUNTS = [2, 6, 8, 16, 24, 32, 64]


@pytest.mark.parametrize("lanes", LANE_COUNTS)
def test_schedule_and_roms_follow_the_lanes(lanes):
    """Every lane-wide figure follows ``lanes``, each derived here from its
    definition, not recorded: per pass the groups, the period and the last
    group's lanes, in the descriptors too; the weight ROM's rows (lane l of
    group g holds output channel ``g * lanes + l``, 0 past the last); the
    channel-constant rows; the drain; and the whole cycle model (the
    Verilator tests check it against simulation).  A coded bundle with pools and simple bypasses."""
    from rtl_gen.engine import EngineParams
    from rtl_gen.engine.engine import drain_cycles
    from rtl_gen.engine.roms import lane_rows
    from rtl_gen.engine.writeback import write_back_latency
    bundle, _ = random_network(small_bypass_spec("simple"), seed=21, calib_images=2)
    params = EngineParams(with_random_codebooks(bundle, 3, seed=3), lanes=lanes)
    prog, table = params.program, params.table
    assert prog.lanes == lanes
    for p, row in zip(prog.passes, table.rows):
        groups = -(-p.cout // lanes)
        assert p.groups == groups and row["groups"] == groups, p.name
        assert p.period == max(p.taps, min(p.cout, lanes), MIN_PERIOD) == row["period"], p.name
        assert row["last_lanes"] == p.cout - (groups - 1) * lanes and 1 <= row["last_lanes"] <= lanes, p.name
    rows = lane_rows(prog, table, params.codes.rom_arrays(prog))
    assert len(rows) == lanes
    for p, base, idx in zip(prog.passes, table.w_bases, params.codes.indices):
        flat = idx.transpose(0, 2, 3, 1).reshape(p.cout, p.taps)
        for g in range(p.groups):
            for lane in range(lanes):
                ch = g * lanes + lane
                got = [rows[lane][base + g * p.taps + t] for t in range(p.taps)]
                assert got == (list(flat[ch]) if ch < p.cout else [0] * p.taps), (p.name, g, lane)
    roms = params.rom_images()
    assert roms.weights.width == params.codes.bits * lanes
    assert roms.constants.entries == sum(p.groups * lanes for p in prog.passes)
    assert params.drain == drain_cycles(write_back_latency(params.write_back), 16) + (lanes - 16) \
        + params.input_stage
    per_pass = params.fetch_words + 4 + params.drain
    lengths = [p.groups * int(np.prod(prog.out_shape(p))) * p.period + per_pass for p in prog.passes]
    h, w, c = prog.in_shape
    load_and_output = h * w * c + 4 * prog.num_classes + 2
    assert params.cycles_per_frame == load_and_output + sum(lengths) + sum(params.table_waits(lengths, load_and_output))


@pytest.mark.parametrize("lanes", LANE_COUNTS)
def test_resource_model_follows_the_lanes(lanes):
    """The cost model's multipliers: ``lanes / 2`` SB_MAC16, or the lanes'
    products over the device's products per multiplier (ECP5 one, Gowin
    two; the bypass add's in logic); the weight ROM's index bits a row of
    ``lanes``; and more lanes never cost fewer LUTs or blocks."""
    from fpga.boards import get_board
    from rtl_gen.engine import EngineParams
    bundle, _ = random_network(small_bypass_spec("simple"), seed=21, calib_images=2)
    coded = with_random_codebooks(bundle, 3, seed=3)
    up5k, ecp5, gowin = get_board("ice40").device, get_board("ecp5").device, get_board("gowin").device
    sb = EngineParams(coded, dsp="sb_mac16", lanes=lanes).resource_estimate(up5k)
    assert sb.dsp == lanes // 2
    generic = EngineParams(coded, lanes=lanes)
    est = generic.resource_estimate(ecp5)
    assert any(p.add for p in generic.program.passes)       # the add's products are not counted as DSPs
    assert est.dsp == lanes and generic.resource_estimate(gowin).dsp == -(-lanes // 2)
    assert est.weight_index_bits == 3 * lanes * generic.table.weight_depth
    if lanes > 2:
        fewer = EngineParams(coded, lanes=lanes - 2).resource_estimate(ecp5)
        assert fewer.lut < est.lut and fewer.bram_bits <= est.bram_bits


def test_the_fit_check_refuses_lanes_the_up5k_cannot_hold():
    """18 lanes on the UP5K need 9 SB_MAC16 of its 8: refused, naming the
    DSPs; 16 fit (the reference, as the iCEBreaker build makes it)."""
    from fpga.boards import get_board
    from rtl_gen.engine import EngineParams
    from rtl_gen.fit import FitError, check_fit, estimate
    from squeezefire.architectures import ArchOptions, engine_options
    board = get_board("ice40")

    def fit(lanes):
        params = EngineParams(reference(), **engine_options(board, ArchOptions(lanes)))
        check_fit(estimate(params, board.device, image_in_bram=board.image_ram == "block"), board.device)
    fit(16)
    with pytest.raises(FitError, match=r"9 DSP \(has 8\)"):
        fit(18)


@pytest.mark.parametrize("lanes", [0, 1, 3, 15, 66, 128, -2, True, 16.0, "16"])
def test_bad_lanes_are_refused_in_one_line(lanes):
    from rtl_gen.engine import EngineParams
    with pytest.raises(ProgramError, match=rf"^lanes must be an even integer from 2 to 64 \(a DualMult makes a "
                                           rf"pair of lanes\), got {lanes!r}$"):
        EngineParams(reference(), lanes=lanes)
