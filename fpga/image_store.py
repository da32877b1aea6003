"""``ImageStore``: the host link's image buffer, in block RAM or in an iCE40
UP5K single-port SPRAM (``SB_SPRAM256KA``, 16K x 16 bits).

Why SPRAM: on the UP5K the accelerator needs all 30 block RAMs; the SPRAM
cannot be initialised from the bitstream, which an image buffer does not
need.  The link never writes (receiving a frame) while it reads (feeding
the accelerator), so one port is enough; a write cycle and a read cycle
must not coincide (the caller's contract, as in ``fpga.link.HostLink``).

Ports (``sync`` domain), the semantics of an ``amaranth.lib.memory`` read
port with enable plus a write port:

* ``w_en``, ``w_addr``, ``w_data``: write ``w_data`` at ``w_addr``;
* ``r_en``, ``r_addr``, ``r_data``: on a cycle with ``r_en``, ``r_data``
  becomes the byte at ``r_addr`` one cycle later and holds until the next
  ``r_en`` (SPRAM: by re-reading the last address).

Latency: 1 cycle read.  Throughput: one access per cycle.  No back-pressure.
Simulation of the SPRAM kind needs a model of ``SB_SPRAM256KA``
(``sim/lib/models/SB_SPRAM256KA.v`` for cocotb).
"""
from __future__ import annotations

from dataclasses import dataclass

from amaranth.hdl import ClockSignal, Instance, Module, Mux, Signal, unsigned
from amaranth.lib import wiring
from amaranth.lib.memory import Memory
from amaranth.lib.wiring import In, Out

from rtl_gen.params import ParamsFirst

__all__ = ["ImageStore", "ImageStoreParams", "KINDS", "SPRAM_BYTES"]

KINDS = ("block", "spram")
SPRAM_BYTES = 16384          # one byte per 16-bit word: simple, and 16K covers any link image


@dataclass(frozen=True)
class ImageStoreParams:
    """``depth`` bytes in a ``kind`` of ``KINDS`` (an SPRAM holds at most
    ``SPRAM_BYTES``)."""
    depth: int
    kind: str = "block"

    def __post_init__(self):
        if self.kind not in KINDS:
            raise ValueError(f"image_ram must be one of {', '.join(map(repr, KINDS))}, got {self.kind!r}")
        if self.kind == "spram" and self.depth > SPRAM_BYTES:
            raise ValueError(f"an SPRAM image buffer holds at most {SPRAM_BYTES} bytes, the image needs {self.depth}")


class ImageStore(wiring.Component, metaclass=ParamsFirst):
    """Arguments: those of ``ImageStoreParams``."""
    Params = ImageStoreParams

    def __init__(self, params: ImageStoreParams):
        self.depth, self.kind = params.depth, params.kind
        a = range(max(2, self.depth))
        super().__init__({"w_en": In(1), "w_addr": In(a), "w_data": In(8),
                          "r_en": In(1), "r_addr": In(a), "r_data": Out(8)})

    def elaborate(self, platform):
        m = Module()
        if self.kind == "block":
            m.submodules.image = image = Memory(shape=unsigned(8), depth=self.depth, init=[])
            wr, rd = image.write_port(), image.read_port(domain="sync")
            m.d.comb += [wr.en.eq(self.w_en), wr.addr.eq(self.w_addr), wr.data.eq(self.w_data),
                         rd.en.eq(self.r_en), rd.addr.eq(self.r_addr), self.r_data.eq(rd.data)]
            return m
        shown = Signal(14)                  # address of the byte on r_data
        with m.If(self.r_en & ~self.w_en):
            m.d.sync += shown.eq(self.r_addr)
        addr = Mux(self.w_en, self.w_addr, Mux(self.r_en, self.r_addr, shown))
        dout = Signal(16)
        m.submodules.spram = Instance(
            "SB_SPRAM256KA",
            i_ADDRESS=addr, i_DATAIN=self.w_data, i_MASKWREN=0b1111, i_WREN=self.w_en,
            i_CHIPSELECT=1, i_CLOCK=ClockSignal("sync"), i_STANDBY=0, i_SLEEP=0, i_POWEROFF=1,
            o_DATAOUT=dout)
        m.d.comb += self.r_data.eq(dout[:8])
        return m
