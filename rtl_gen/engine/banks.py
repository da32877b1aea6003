"""The engine's feature-map RAM: ``len(sizes)`` banks, one map per bank.

In a pass each bank has at most one role -- the source the MACs read, the
side map the write-back reads, or the destination it writes -- because the
program places the maps a pass uses in different banks.  So every bank
needs one port at a time, and a single-port RAM (the UP5K's SPRAM) can hold
it as well as a block RAM.

``kind="block"``: each bank an ``amaranth.lib.memory.Memory`` of bytes
(block RAM, or LUTs/registers when small).  ``kind="spram"``: each bank one
iCE40 UP5K ``SB_SPRAM256KA`` (16K x 16 bits, one byte per word: at most
``SPRAM_BYTES`` per bank); its one port takes the write address while
writing and the read address otherwise.

Latency: read data 1 cycle after the address; a write lands 1 cycle after
its request (registered).  Throughput: per bank one
read or one write per cycle.  Back-pressure: none.
"""
from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from amaranth.hdl import Array, ClockSignal, Instance, Module, Mux, Signal, unsigned
from amaranth.lib import wiring
from amaranth.lib.memory import Memory
from amaranth.lib.wiring import In, Out

from rtl_gen.params import ParamsFirst, check_choice, check_int

__all__ = ["FeatureBanks", "BanksParams", "BankKind", "SPRAM_BYTES"]

SPRAM_BYTES = 16384


class BankKind(StrEnum):
    """What a feature-map bank is built of."""
    BLOCK = "block"             # an ``amaranth.lib.memory.Memory`` (block RAM, or logic when small)
    SPRAM = "spram"             # one iCE40 UP5K SB_SPRAM256KA


@dataclass(frozen=True)
class BanksParams:
    """``FeatureBanks``' parameters: the banks' ``sizes`` in bytes (at least
    one bank; a size below 1 is taken as 1), ``addr_bits`` of the ports,
    ``kind`` a ``BankKind`` or its name."""
    sizes: tuple[int, ...]
    addr_bits: int
    kind: BankKind = BankKind.BLOCK

    def __post_init__(self):
        if not len(self.sizes):
            raise ValueError("sizes must name at least one bank")
        check_int("addr_bits", self.addr_bits, 1)
        object.__setattr__(self, "sizes", tuple(max(1, int(s)) for s in self.sizes))
        object.__setattr__(self, "kind", check_choice("banks", self.kind, BankKind))


class FeatureBanks(wiring.Component, metaclass=ParamsFirst):
    """Arguments: those of ``BanksParams``."""
    Params = BanksParams

    def __init__(self, params: BanksParams):
        self.sizes, self.addr_bits, self.kind = params.sizes, params.addr_bits, params.kind
        addr_bits = self.addr_bits
        bank = range(len(self.sizes))
        super().__init__({"src_bank": In(bank), "side_bank": In(bank), "side_en": In(1), "dst_bank": In(bank),
                          "mac_addr": In(addr_bits), "mac_data": Out(8),
                          "side_addr": In(addr_bits), "side_data": Out(8),
                          "wr_en": In(1), "wr_addr": In(addr_bits), "wr_data": In(8)})

    def elaborate(self, platform):
        m = Module()
        outputs = []
        # writes are registered here: their address and data come from far
        # (the pool, the write-back, the loader), and a write may land a cycle later
        w_addr, w_data = Signal.like(self.wr_addr), Signal.like(self.wr_data)
        m.d.sync += [w_addr.eq(self.wr_addr), w_data.eq(self.wr_data)]
        for b, size in enumerate(self.sizes):
            as_side = self.side_en & (self.side_bank == b)
            rd_addr = Mux(as_side, self.side_addr, self.mac_addr)
            write = Signal(name=f"write{b}")
            m.d.sync += write.eq(self.wr_en & (self.dst_bank == b))
            outputs.append(self._bank(m, b, size, rd_addr, write, w_addr, w_data))
        data = Array(outputs)
        m.d.comb += [self.mac_data.eq(data[self.src_bank]), self.side_data.eq(data[self.side_bank])]
        return m

    def _bank(self, m, b, size, rd_addr, write, w_addr, w_data):
        if self.kind == BankKind.BLOCK:
            mem = Memory(shape=unsigned(8), depth=size, init=[])
            m.submodules[f"bank{b}"] = mem
            rd, wr = mem.read_port(), mem.write_port()
            m.d.comb += [rd.addr.eq(rd_addr), wr.addr.eq(w_addr), wr.data.eq(w_data), wr.en.eq(write)]
            return rd.data
        dout = Signal(16, name=f"bank{b}_dout")
        m.submodules[f"bank{b}"] = Instance(
            "SB_SPRAM256KA",
            i_ADDRESS=Mux(write, w_addr, rd_addr)[:14], i_DATAIN=w_data, i_MASKWREN=0b1111,
            i_WREN=write, i_CHIPSELECT=1, i_CLOCK=ClockSignal("sync"), i_STANDBY=0, i_SLEEP=0, i_POWEROFF=1,
            o_DATAOUT=dout)
        return dout[:8]
