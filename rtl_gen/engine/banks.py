"""The engine's feature-map RAM: ``len(sizes)`` banks, one map per bank.

In a pass each bank has at most one role -- the source the MACs read, the
side map the write-back reads, or the destination it writes -- because the
program places the maps a pass uses in different banks.  So every bank
needs one port at a time, and a single-port RAM (the UP5K's SPRAM) can hold
it as well as a block RAM.

``impl="generic"``: each bank an ``amaranth.lib.memory.Memory`` of bytes
(block RAM, or LUTs/registers when small).

Latency: read data 1 cycle after the address.  Throughput: per bank one
read or one write per cycle.  Back-pressure: none.
"""
from __future__ import annotations

from amaranth.hdl import Array, Module, Mux, Signal, unsigned
from amaranth.lib import wiring
from amaranth.lib.memory import Memory
from amaranth.lib.wiring import In, Out

__all__ = ["FeatureBanks"]


class FeatureBanks(wiring.Component):
    def __init__(self, sizes: tuple[int, ...], addr_bits: int):
        self.sizes, self.addr_bits = tuple(max(1, s) for s in sizes), addr_bits
        bank = range(len(self.sizes))
        super().__init__({"src_bank": In(bank), "side_bank": In(bank), "side_en": In(1), "dst_bank": In(bank),
                          "mac_addr": In(addr_bits), "mac_data": Out(8),
                          "side_addr": In(addr_bits), "side_data": Out(8),
                          "wr_en": In(1), "wr_addr": In(addr_bits), "wr_data": In(8)})

    def elaborate(self, platform):
        m = Module()
        outputs = []
        self.memories = []          # for testbenches
        for b, size in enumerate(self.sizes):
            mem = Memory(shape=unsigned(8), depth=size, init=[])
            m.submodules[f"bank{b}"] = mem
            self.memories.append(mem)
            rd, wr = mem.read_port(), mem.write_port()
            as_side = self.side_en & (self.side_bank == b)
            m.d.comb += [rd.addr.eq(Mux(as_side, self.side_addr, self.mac_addr)),
                         wr.addr.eq(self.wr_addr), wr.data.eq(self.wr_data),
                         wr.en.eq(self.wr_en & (self.dst_bank == b))]
            outputs.append(rd.data)
        data = Array(outputs)
        m.d.comb += [self.mac_data.eq(data[self.src_bank]), self.side_data.eq(data[self.side_bank])]
        return m
