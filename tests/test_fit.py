"""rtl_gen.fit: the pre-synthesis estimate accepts what fits and refuses,
in seconds and with one line, what cannot."""
import subprocess
import sys
import time
from pathlib import Path
from types import SimpleNamespace

import pytest
from amaranth.hdl import Module
from amaranth.lib import wiring
from amaranth.lib.memory import Memory
from amaranth.lib.wiring import Out

from squeezefire import architectures as A, build as B
from rtl_gen.pipeline.block_cost import BlockCost
from fpga.boards import BOARDS
from rtl_gen.pipeline.broadcast import Broadcast
from rtl_gen.fit import LINK_LUT, FitError, ResourceEstimate, check_fit, design_model, estimate

UP5K = BOARDS["ice40"].device
HX8K = BOARDS["ice40-hx8k"].device


def _acc(**est):
    figures = ResourceEstimate(**{"lut": 100, "dsp": 0, "bram_bits": 0, **est})
    return SimpleNamespace(in_shape=(28, 28, 1), resource_estimate=lambda device: figures)


def test_small_design_fits():
    est = estimate(_acc(dsp=4, bram_bits=72_544), UP5K)
    check_fit(est, UP5K)
    assert est.bram_blocks == 18 + 2          # weights + the link's 784-byte image buffer (one image in block RAM)


@pytest.mark.parametrize("est, message", [
    (dict(dsp=40), "does not fit iCE40 UP5K: needs 40 DSP (has 8)"),
    (dict(lut=9000), "does not fit iCE40 UP5K: needs 9420 LUT (has 5280)"),
    (dict(bram_bits=200_000), "does not fit iCE40 UP5K: needs 51 block RAM blocks (has 30)"),
    (dict(spram_bits=2_000_000), "needs 2000000 SPRAM bits (has 1048576)"),
])
def test_refuses_with_one_line(est, message):
    with pytest.raises(FitError) as e:
        check_fit(estimate(_acc(**est), UP5K), UP5K)
    assert message in str(e.value) and "\n" not in str(e.value)


def test_no_dsp_device_pays_in_luts():
    est = estimate(_acc(dsp=8), HX8K)
    assert est.dsp == 0 and est.lut == 100 + 420 + 8 * HX8K.mult_lut_cost
    with pytest.raises(FitError, match="LUT"):
        check_fit(estimate(_acc(dsp=200), HX8K), HX8K)


def test_every_resource_over_its_limit_in_one_line(monkeypatch, tmp_path, capsys):
    """Through the build command: one line with need and have for each of
    LUT, DSP, block RAM blocks and bits and SPRAM, exit 2, nothing written."""
    huge = ResourceEstimate(lut=200_000, dsp=40, bram_bits=1_000_000, spram_bits=2_000_000)

    def huge_accelerator(bundle, board, options):
        return SimpleNamespace(in_shape=(28, 28, 1), num_classes=10, resource_estimate=lambda device: huge)

    monkeypatch.setitem(A.ARCHITECTURES, "huge", A.Architecture(huge_accelerator, "too big", computes_network=False))
    out = tmp_path / "o"
    t = time.monotonic()
    assert B.main(["--board", "ice40", "--arch", "huge", "--out", str(out)]) == 2
    spram = huge.spram_bits + 256 * 1024         # the UP5K build keeps the link's image in an SPRAM
    assert capsys.readouterr().err.strip() == (
        f"error: does not fit iCE40 UP5K: needs {huge.lut + LINK_LUT} LUT (has {UP5K.lut}), "
        f"{huge.dsp} DSP (has 8), {-(-huge.bram_bits // 4096)} block RAM blocks (has 30), "
        f"{huge.bram_bits} block RAM bits (has {30 * 4096}), {spram} SPRAM bits (has {4 * 256 * 1024})")
    assert time.monotonic() - t < 10 and not out.exists()


# nextpnr's block-RAM count for the two-Fire network below (docs/build.md:
# place & route failed, ICESTORM_RAM 33/30)
TWO_FIRE_NEXTPNR_BLOCKS = 33


@pytest.fixture(scope="module")
def two_fire_bundle(tmp_path_factory):
    """conv1 3x3 pad 1 (32) -> pool -> fire2 (8; 16+16) -> fire3 (8; 16+16)
    with a simple bypass -> conv10 (10) on 28x28x1, random seeded weights:
    the network a fit check passed although place & route then failed."""
    from golden.models import FireSpec, NetSpec
    from sim.lib.network_cases import random_network
    spec = NetSpec("two-fire-bypass", 1, 28, 10, (("conv1", 32, 3, 1, 1), ("pool",), ("fire", FireSpec(8, 16, 16)),
                                                  ("fire", FireSpec(8, 16, 16, "simple"))))
    bundle, _ = random_network(spec, seed=0)
    path = tmp_path_factory.mktemp("two-fire") / "two-fire.bundle"
    bundle.save(path)
    return path


def test_two_fire_network_refused_in_seconds(two_fire_bundle, tmp_path):
    """Regression: the estimate counts at least the block RAMs nextpnr
    needed, and ``python -m rtl_gen.build`` refuses the network before any
    tool runs, naming every resource it lacks."""
    from golden.bundle import Bundle
    bundle = Bundle.load(two_fire_bundle)
    est = estimate(A.make_accelerator(bundle, BOARDS["ice40"]), UP5K, image_in_bram=False)
    assert est.bram_blocks >= TWO_FIRE_NEXTPNR_BLOCKS
    out = tmp_path / "o"
    t = time.monotonic()
    run = subprocess.run([sys.executable, "-m", "rtl_gen.build", "--board", "ice40", "--arch", "pipeline",
                          "--bundle", str(two_fire_bundle), "--out", str(out)],
                         capture_output=True, text=True, cwd=Path(__file__).parent.parent)
    assert run.returncode == 2 and run.stdout == ""
    assert run.stderr.strip() == (f"error: does not fit iCE40 UP5K: needs {est.lut} LUT (has 5280), "
                                  f"{est.bram_blocks} block RAM blocks (has 30)")
    assert time.monotonic() - t < 30 and not out.exists()


class _Unpriced(wiring.Component):
    """A block that declares no resource cost."""

    def __init__(self):
        super().__init__({"o": Out(1)})

    def elaborate(self, platform):
        return Module()


class _Holder(wiring.Component):
    """Wiring only, around one sub-block and one memory."""

    def __init__(self, sub, memory):
        self.sub, self.memory = sub, memory
        super().__init__({"o": Out(1)})

    def resource_cost(self):
        return BlockCost()

    def elaborate(self, platform):
        m = Module()
        m.submodules.sub, m.submodules.memory = self.sub, self.memory
        return m


def _memory(read_domains):
    memory = Memory(shape=8, depth=600, init=[])
    for domain in read_domains:
        memory.read_port(domain=domain)
    memory.write_port()
    return memory


def test_a_block_without_a_declared_cost_fails_loudly():
    with pytest.raises(FitError, match=r"block test_fit\._Unpriced declares no resource_cost\(\)"):
        design_model(_Holder(_Unpriced(), _memory(["sync"])), UP5K)


@pytest.mark.parametrize("read_domains,blocks,lut", [
    (["sync"], 2, 7), (["sync", "sync"], 4, 7),       # one read port per iCE40 block: Yosys replicates
    (["comb"], 0, 7 + 8 * 600)])                     # no block RAM reads asynchronously: logic
def test_memories_priced_from_their_public_shape(read_domains, blocks, lut):
    """An 8 x 600 memory (Yosys synth_ice40, measured: 2 blocks; 4 with two
    read ports; 0 blocks and 4 877 LUT4s with an asynchronous read)."""
    model = design_model(_Holder(Broadcast(), _memory(read_domains)), UP5K)
    assert (model.bram_blocks, model.lut) == (blocks, lut)


# nextpnr's block-RAM count for the reference network (docs/build.md: 30 / 30)
REFERENCE_NEXTPNR_BLOCKS = 30


def test_reference_network_design_model():
    """The design model walks the elaborated network: on the one-Fire
    network the "small" style (one product per MAC unit, serial
    requantisers) fits the UP5K with the link's image in SPRAM; the "fast"
    style (3 DSPs per lane) does not."""
    from golden.bundle import Bundle
    from golden.quantize import FIRE1_BUNDLE
    from rtl_gen.pipeline import Pipeline
    bundle = Bundle.load(FIRE1_BUNDLE)
    est = estimate(Pipeline(bundle, style="small"), UP5K, image_in_bram=False)
    assert est.source == "design model" and est.dsp == 5 and est.bram_blocks <= 30     # one DSP per MAC unit
    assert est.bram_blocks >= REFERENCE_NEXTPNR_BLOCKS
    assert est.spram_bits == 256 * 1024
    check_fit(est, UP5K)
    with pytest.raises(FitError, match=r"does not fit iCE40 UP5K: needs .*\b\d+ DSP \(has 8\)"):
        check_fit(estimate(Pipeline(bundle, style="fast"), UP5K), UP5K)


# nextpnr's block-RAM count for feature_network(image=(32, 32, 3)), small style
# (python -m rtl_gen.build --board ice40 --arch pipeline, seed 1)
FEATURES_NEXTPNR_BLOCKS = 18


def test_feature_network_design_model():
    """Issue 14's features on the UP5K: 2x2 floor pools (one row buffer
    each, fewer block RAMs than 3x3 pools' window rings), the padding
    value and a logits classifier fit, priced at least at nextpnr's count."""
    from rtl_gen.pipeline import Pipeline
    from sim.lib.network_cases import feature_network
    est = {pool: estimate(Pipeline(feature_network(image=(32, 32, 3), pool=pool)[0], style="small"), UP5K,
                          image_in_bram=False) for pool in ((2, 2, False), (3, 2, True))}
    check_fit(est[(2, 2, False)], UP5K)
    assert est[(2, 2, False)].bram_blocks >= FEATURES_NEXTPNR_BLOCKS
    assert est[(2, 2, False)].bram_blocks < est[(3, 2, True)].bram_blocks
    assert est[(2, 2, False)].lut < est[(3, 2, True)].lut


def test_codebook_network_design_model():
    """Codebook-coded weights: the design model reports their index ROM and
    codebook-table bits (not the 8-bit codebook's, kept as int8), prices the
    index ROMs at b bits per weight and adds the decoders' LUTs; the summary
    names the two figures.  The same weights in int8 ROMs report none."""
    from golden.bundle import Bundle
    from rtl_gen.pipeline import Pipeline
    from sim.lib.network_cases import coarse_codebooks, random_network, tiny_bypass_spec
    bundle, _ = random_network(tiny_bypass_spec(), seed=30, calib_images=2)
    bits = {"conv1/weight": 2, "fire2/expand3x3/weight": 5, "fire2_bypass/weight": 3, "fire3/expand1x1/weight": 8}
    coded = coarse_codebooks(bundle, bits, seed=1)
    plain = Bundle(dict(coded.graph, version=1), coded.arrays)      # the same integers, no codebooks
    narrow = [coded.codebooks[key] for key, b in bits.items() if b < 8]
    model, int8 = (design_model(Pipeline(b, style="small"), UP5K) for b in (coded, plain))
    assert model.weight_index_bits == sum(cb.index_bits() for cb in narrow) > 0
    assert model.codebook_bits == sum(cb.table_bits() for cb in narrow) == 8 * (4 + 32 + 8)
    assert int8.weight_index_bits == int8.codebook_bits == 0
    assert int8.bram_bits - model.bram_bits == sum(cb.indices.size * (8 - cb.bits) for cb in narrow)
    assert model.lut > int8.lut
    est = estimate(Pipeline(coded, style="small"), UP5K, image_in_bram=False)
    assert (est.weight_index_bits, est.codebook_bits) == (model.weight_index_bits, model.codebook_bits)
    assert (f"(codebook weights: {est.weight_index_bits} index bits, {est.codebook_bits} table bits)"
            in est.summary(UP5K))


def test_accelerator_estimate_passes_codebook_figures_on():
    est = estimate(_acc(weight_index_bits=4096, codebook_bits=128), UP5K)
    assert (est.weight_index_bits, est.codebook_bits) == (4096, 128)
    assert (estimate(_acc(), UP5K).weight_index_bits, estimate(_acc(), UP5K).codebook_bits) == (0, 0)


@pytest.mark.parametrize("width,depth,shapes,blocks", [
    (8, 1152, "ice40", 3), (8, 144, "ice40", 1), (10, 559, "ice40", 3), (8, 559, "ice40", 2),
    (32, 32, "ice40", 2), (8, 3456, "ecp5", 2), (36, 512, "ecp5", 1)])
def test_memory_blocks(width, depth, shapes, blocks):
    from rtl_gen.fit import memory_blocks
    assert memory_blocks(width, depth, BOARDS[shapes].device.bram_shapes) == blocks
