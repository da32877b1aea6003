"""The Fire engine: one convolution datapath reused layer by layer
(``docs/engine.md``).  Implements ``rtl_gen.accelerator.AcceleratorSignature``
like the per-layer pipeline.

    i ─> bank[input] ─┐      descriptor ROM ─> desc
                      v
    TapSequencer ─> FeatureBanks ─> a ─┐
         └──────> L lane weight ROMs ──┴> MacLanes (L/2 DualMult) ─> WriteBack
                                              ┌──── side map <─────────┘ │
                 FeatureBanks[dst] <─ PoolOnWrite / direct <─────────────┤
                                        ClassSums (last pass) <──────────┘ ─> o

A frame: the image is written to its bank (LOAD, one pixel per beat), then
each pass of the program runs (FETCH its descriptor, RUN the taps, DRAIN
the pipeline so the next pass reads finished maps), then the class sums
leave on ``o`` (OUTPUT).

Latency: a frame's first class beat follows its last pixel by
``cycles_per_frame`` of the model plus per-pass overheads (descriptor
fetch, drain); see ``cycles_per_frame``.  Throughput: one frame at a time;
``lanes`` (L, default 16) MACs per cycle while a pass runs.  Back-pressure: ``i`` is ready only while
loading; ``o`` holds each class beat until taken (a two-beat registered
buffer).
"""
from __future__ import annotations

from dataclasses import dataclass, field

from amaranth.hdl import Cat, Module, Mux, Signal, signed, unsigned
from amaranth.lib import data, wiring
from amaranth.lib.fifo import SyncFIFOBuffered

from rtl_gen.accelerator import AcceleratorSignature
from rtl_gen.dual_mult import LATENCY as DSP_LATENCY, DspImpl, check_impl
from rtl_gen.engine.banks import SPRAM_BYTES, BankKind, FeatureBanks
from rtl_gen.engine.class_sums import ClassSums
from rtl_gen.engine.cost import engine_resources
from rtl_gen.fit import ResourceEstimate
from rtl_gen.engine.descriptor import ADD_NONE, WORD_BITS, DescriptorTable, descriptor_table
from rtl_gen.engine.lanes import MacLanes
from rtl_gen.engine.pool import LATENCY as POOL_LATENCY, PoolOnWrite
from rtl_gen.engine.program import DEFAULT_LANES, EngineProgram, ProgramError, check_lanes, plan_program
from rtl_gen.engine.codebook_decode import CodebookDecode, write_cycles
from rtl_gen.engine.rom_images import EngineRoms, RomImage, engine_rom_images, rom_memory
from rtl_gen.engine.roms import bias_bits
from rtl_gen.engine.sequencer import TapSequencer, meta_layout
from rtl_gen.engine.weight_codes import WeightCodes, weight_codes
from rtl_gen.engine.writeback import WriteBack, WriteBackConfig, write_back_config, write_back_latency
from rtl_gen import int8
from rtl_gen.params import ParamsFirst, check_choice

__all__ = ["FireEngine", "EngineParams", "drain_cycles"]

# cycles from the last pass's drain to pass 0's start beyond the image load,
# the class output and the descriptor fetch (the codebook writer has them
# all to write pass 0's tables)
TABLE_WAIT_SLACK = 2



def drain_cycles(write_back_latency: int, lanes: int = DEFAULT_LANES) -> int:
    """From a pass's last tap to its last write: bank read 1, DSP, sum 1,
    serializer ``lanes`` + 1, write-back, pool 6, class sums 2; plus a margin."""
    return 1 + DSP_LATENCY + 1 + lanes + 1 + write_back_latency + POOL_LATENCY + 2 + 2


@dataclass(frozen=True, eq=False)
class EngineParams:
    """``bundle``: a ``golden.bundle.Bundle``; ``dsp``: the multiplier
    (``rtl_gen.dual_mult.DspImpl``, or its name); ``banks``: the feature-map
    RAM (``rtl_gen.engine.banks.BankKind``, or its name); ``rom_segment``:
    each ROM's depth a multiple of it, ``placeholder_roms``: the ROMs hold
    seeded random contents, for the bitstream's to be rewritten
    (``rom_images``); ``lanes``: the MAC lanes, an even number from 2 to 64
    (``program.check_lanes``; ``lanes / 2`` ``DualMult``).  Checking plans the
    program; a problem is a ``ProgramError`` naming the layer (or the lanes)."""
    bundle: object
    dsp: DspImpl = DspImpl.GENERIC
    banks: BankKind = BankKind.BLOCK
    rom_segment: int = 1
    placeholder_roms: bool = False
    lanes: int = DEFAULT_LANES
    program: EngineProgram = field(init=False)
    table: DescriptorTable = field(init=False)
    codes: WeightCodes = field(init=False)

    def __post_init__(self):
        object.__setattr__(self, "dsp", check_impl(self.dsp))
        object.__setattr__(self, "banks", check_choice("banks", self.banks, BankKind))
        check_lanes(self.lanes)
        program = plan_program(self.bundle, self.lanes)
        if self.banks == BankKind.SPRAM and max(program.banks) > SPRAM_BYTES:
            big = max(range(len(program.banks)), key=lambda b: program.banks[b])
            name = next(n for n, info in program.maps.items() if info.bank == big and info.size == program.banks[big])
            raise ProgramError(f"bundle {self.bundle.name!r}: map {name!r} needs {program.banks[big]} bytes, "
                               f"an SPRAM bank holds {SPRAM_BYTES}")
        if len(program.banks) > 8:
            raise ProgramError(f"bundle {self.bundle.name!r}: needs {len(program.banks)} feature-map banks, "
                               "the engine has at most 8")
        object.__setattr__(self, "program", program)
        object.__setattr__(self, "table", descriptor_table(program))
        object.__setattr__(self, "codes", weight_codes(program))

    @property
    def write_back(self) -> WriteBackConfig:
        return write_back_config(self.program, self.acc_bits, bias_bits(self.program), self.addr_bits)

    @property
    def input_stage(self) -> int:
        """Cycles a register stage adds between the reads and the lanes: the
        codebook look-up's, or on an int8 engine whose padding takes the
        image's ``pad`` values, the one that keeps that choice off the DSP
        inputs (1); else 0."""
        return 1 if self.codes.coded or self.fill_ci_bits else 0

    @property
    def drain(self) -> int:
        return drain_cycles(write_back_latency(self.write_back), self.lanes) + self.input_stage

    @property
    def fill_ci_bits(self) -> int:
        """The input channel bits a tap carries for the padding values, 0
        when every pass pads with 0 (nothing is built for them)."""
        if not any(p.fill for p in self.program.passes):
            return 0
        return max(1, (self.in_shape[2] - 1).bit_length())

    @property
    def addr_bits(self) -> int:
        return max(max(self.program.banks) - 1, 1).bit_length()

    @property
    def acc_bits(self) -> int:
        # the lanes sum products only; the write-back adds the bias
        return max(int8.acc_bits(p.taps) for p in self.program.passes)

    @property
    def in_shape(self) -> tuple[int, int, int]:
        return self.program.in_shape

    @property
    def macs_per_frame(self) -> int:
        return sum(self.program.macs(p) for p in self.program.passes)

    @property
    def cycles_per_frame(self) -> int:
        """The cycle model, exact (nothing waits on data): the image load,
        every pass's taps plus its descriptor fetch, start and drain, the
        waits for the codebook writer, and the class output."""
        lengths = self.pass_cycles()
        h, w, c = self.in_shape
        load_and_output = h * w * c + 4 * self.program.num_classes + 2
        return load_and_output + sum(lengths) + sum(self.table_waits(lengths, load_and_output))

    @property
    def fetch_words(self) -> int:
        """Descriptor-ROM words a pass fetches: its descriptor, and (coded)
        the next pass's codebook values."""
        return self.table.words + self.codes.book_words

    def descriptor_rom(self) -> list[int]:
        """Per pass its descriptor words, then (coded) those of the next
        pass's values (the last pass: pass 0's, for the next frame)."""
        words, rows = [], self.table.rom_words()
        n, w = len(self.program.passes), self.table.words
        for i in range(n):
            words += rows[i * w:(i + 1) * w]
            if self.codes.coded:
                words += self.codes.book_rom_words((i + 1) % n)
        return words

    def rom_images(self) -> EngineRoms:
        """The three ROMs' real contents (``rom_images``)."""
        return engine_rom_images(self, self.rom_segment)

    def netlist_roms(self) -> EngineRoms:
        """What the netlist's ROMs hold: the real contents or their placeholders."""
        real = self.rom_images()
        return real.placeholders() if self.placeholder_roms else real

    def pass_cycles(self) -> list[int]:
        """Each pass from its start to the next one's, without waits."""
        per_pass = self.fetch_words + 4 + self.drain      # FETCH, START, RUN's end, DRAIN
        return [self.program.issue_cycles(p) + per_pass for p in self.program.passes]

    def table_waits(self, lengths: list[int], load_and_output: int) -> list[int]:
        """Per pass, the cycles it waits for its pair tables
        (``codebook_decode``): they are written while the pass before runs
        (pass 0's while the last pass drains, the classes leave and the
        image loads), so only a pass shorter than the writer makes one wait."""
        if not self.codes.coded:
            return [0] * len(lengths)
        need = write_cycles(self.codes.bits) + 3
        before = [load_and_output + self.fetch_words + TABLE_WAIT_SLACK] + lengths[:-1]
        return [max(0, need - span) for span in before]

    def resource_estimate(self, device) -> ResourceEstimate:
        """The resource model's figures on ``device`` (``rtl_gen.engine.cost``):
        the fit check takes these parameters as well as the engine."""
        return engine_resources(self, device)


class FireEngine(wiring.Component, metaclass=ParamsFirst):
    """Arguments: those of ``EngineParams``."""
    Params = EngineParams

    def __init__(self, params: EngineParams):
        self.params = params
        self.program, self.table = params.program, params.table
        self.in_shape, self.num_classes = self.program.in_shape, self.program.num_classes
        self.macs_per_frame = params.macs_per_frame
        self.mac_lanes = params.lanes
        self.cycles_per_frame = params.cycles_per_frame     # the model's figure (exact)
        super().__init__(AcceleratorSignature(self.in_shape, self.num_classes))

    def resource_estimate(self, device) -> ResourceEstimate:
        return self.params.resource_estimate(device)

    def elaborate(self, platform):
        m = Module()
        p, t = self.params, self.table
        desc = Signal(t.layout)
        w_bits = max(t.weight_depth - 1, 1).bit_length()
        m.submodules.seq = seq = TapSequencer(t.layout, p.addr_bits, w_bits, p.fill_ci_bits, p.lanes)
        meta = meta_layout(t.layout, p.lanes)
        m.submodules.lanes = lanes = MacLanes(p.dsp, p.acc_bits, meta, p.lanes)
        roms = p.netlist_roms()
        m.submodules.wb = wb = WriteBack(t.layout, meta, p.write_back, roms.constants)
        pool = None
        if any(q.pool for q in self.program.passes):
            m.submodules.pool = pool = PoolOnWrite(t.layout, wb.o.shape(), p.addr_bits,
                                                   self.program.max_pooled_width(), self.program.pool_kind, p.lanes)
            m.d.comb += [pool.desc.eq(desc), pool.i.eq(wb.o)]
        m.submodules.banks = banks = FeatureBanks(self.program.banks, p.addr_bits, p.banks)
        last = self.program.passes[-1]
        pixels = self.program.out_shape(last)[0] * self.program.out_shape(last)[1]
        logits = p.write_back.logits
        m.submodules.sums = sums = ClassSums(self.num_classes, last.groups * p.lanes, wb.c_bits, pixels,
                                             logits or range(256))
        m.d.comb += [seq.desc.eq(desc), wb.desc.eq(desc)]
        slot = Signal()            # the pair-table slot of the running pass: its index's parity
        decode = self._mac_path(m, seq, lanes, banks, slot, roms.weights)
        m.d.comb += [wb.i.eq(lanes.o), banks.side_addr.eq(wb.side_addr), wb.side_data.eq(banks.side_data)]
        # the gap sums the logits pass's accumulators, or the uint8 values
        m.d.comb += [sums.add_valid.eq(wb.o.valid & desc.gap), sums.add_y.eq(wb.o.acc if logits else wb.o.y),
                     sums.add_c.eq(wb.o.c), sums.add_fresh.eq(wb.o.meta.gfirst)]
        # a two-beat buffer before ``o``: the consumer's ready then ends at a
        # flip-flop here instead of running into the class-sum logic
        m.submodules.out = out = SyncFIFOBuffered(width=sums.o.payload.shape().size, depth=2)
        m.d.comb += [out.w_en.eq(sums.o.valid), out.w_data.eq(sums.o.payload.as_value()), sums.o.ready.eq(out.w_rdy),
                     self.o.valid.eq(out.r_rdy), self.o.payload.as_value().eq(out.r_data), out.r_en.eq(self.o.ready)]
        self._control(m, desc, seq, banks, wb, pool, sums, decode, slot, roms.descriptors)
        return m

    def _mac_path(self, m, seq, lanes, banks, slot, image: RomImage):
        """Tap -> bank and weight ROM reads -> (the codebook look-up) -> the
        lanes; returns the decode (None for int8 ROM rows)."""
        tap, codes = seq.tap, self.params.codes
        m.d.comb += banks.mac_addr.eq(tap.addr)
        # one memory, a row of ``lanes`` weights (or indices) per address: each lane
        # reads its own every cycle, and the tools choose the block shapes
        lane_shape = unsigned(codes.bits) if codes.coded else signed(8)
        m.submodules.weights = rom = rom_memory(image)
        port = rom.read_port()
        row = data.ArrayLayout(lane_shape, self.mac_lanes)(port.data)
        staged = self.params.input_stage and not codes.coded
        if staged:
            # the padding choice is a LUT level behind the banks' multiplexer, too many before a DSP
            # input: the activation gets a register, and the weights are read a cycle later to meet it
            w_addr = Signal.like(tap.w_addr)
            m.d.sync += w_addr.eq(tap.w_addr)
            m.d.comb += port.addr.eq(w_addr)
        else:
            m.d.comb += port.addr.eq(tap.w_addr)
        late = Signal.like(tap)
        m.d.sync += late.eq(tap)
        a = Signal(unsigned(8))
        m.d.comb += a.eq(Mux(late.in_bounds, banks.mac_data, self._padding(m, tap, seq.desc)))
        decode = None
        if codes.coded:
            m.submodules.decode = decode = CodebookDecode(codes.bits, self.mac_lanes)
            m.d.comb += [decode.idx.eq(row), decode.slot.eq(slot)]
            weights = decode.w
        else:
            weights = row
        if self.params.input_stage:
            # the activation and the tap's flags wait for the look-up (or meet the later weights)
            later, a_later = Signal.like(tap), Signal.like(a)
            m.d.sync += [later.eq(late), a_later.eq(a)]
            late, a = later, a_later
        m.d.comb += [lanes.w[lane].eq(weights[lane]) for lane in range(self.mac_lanes)]
        m.d.comb += [lanes.valid.eq(late.valid), lanes.last.eq(late.last), lanes.meta.eq(late.meta),
                     lanes.a.eq(a)]
        return decode

    def _padding(self, m, tap, desc):
        """The activation of a tap in the padding, beside the bank's data:
        0, or on a ``fill`` pass the image channel's ``pad`` value."""
        if not self.params.fill_ci_bits:
            return 0
        value = 0
        for c, pad in enumerate(self.program.input_pad):
            if pad:
                value = Mux(tap.ci == c, pad, value)
        fill = Signal(unsigned(8))          # registered: it arrives with ``late``, as the bank's data
        m.d.sync += fill.eq(Mux(desc.fill, value, 0))
        return fill

    def _descriptors(self, m, desc, image: RomImage):
        """The descriptor ROM and the shift register that is ``desc`` (and,
        coded, the next pass's codebook values after it): returns (the ROM's
        word pointer, the shift register, the read port)."""
        m.submodules.descriptors = rom = rom_memory(image)
        rd = rom.read_port()
        words = image.entries
        word_ptr = Signal(range(words + 1), init=words - self.params.fetch_words)
        shifter = Signal(self.params.fetch_words * WORD_BITS)
        m.d.comb += [rd.addr.eq(word_ptr), desc.as_value().eq(shifter[:self.table.layout.size])]
        return word_ptr, shifter, rd

    def _control(self, m, desc, seq, banks, wb, pool, sums, decode, slot, descriptors: RomImage):
        """[BOOT: the codebook values of pass 0] -> LOAD the image (its
        ``last`` beat ends it) -> per pass FETCH, [WAIT for its codebook
        tables,] START, RUN, DRAIN -> OUTPUT.  Each phase has its own small
        counter, so no wide comparison sits in front of the state register."""
        prog, fetch_words = self.program, self.params.fetch_words
        word_ptr, shifter, rd = self._descriptors(m, desc, descriptors)
        pixel = Signal(range(prog.in_shape[0] * prog.in_shape[1] * prog.in_shape[2] + 1))
        step = Signal(range(max(self.params.drain, fetch_words) + 2))
        index, last_pass = Signal(range(len(prog.passes))), Signal()
        m.d.sync += last_pass.eq(index == len(prog.passes) - 1)
        m.d.comb += [banks.src_bank.eq(desc.src_bank), banks.side_bank.eq(desc.side_bank),
                     banks.side_en.eq(desc.add_kind != ADD_NONE)]
        start = Signal()            # registered: it fans out to the whole sequencer
        out_start = Signal()
        m.d.sync += [start.eq(0), out_start.eq(0)]
        m.d.comb += [seq.start.eq(start), sums.start.eq(out_start)]
        m.d.comb += slot.eq(index[0])
        frame_done = Signal()       # the last pass has drained
        booted = Signal()           # registered: pass 0's values are in (the last word shifts in with ``done``)
        m.d.sync += booted.eq(0)
        tables_ready = self._tables(m, decode, shifter, index, start, frame_done | booted)

        def fetch():
            """One descriptor (and codebook) word per cycle into the shift
            register; True on the cycle the last one arrives."""
            m.d.sync += [step.eq(step + 1), word_ptr.eq(word_ptr + 1)]
            with m.If(step != 0):
                m.d.sync += shifter.eq(Cat(shifter[WORD_BITS:], rd.data))
            done = step == fetch_words
            with m.If(done):
                m.d.sync += [step.eq(0), word_ptr.eq(word_ptr)]
            return done

        with m.FSM(init="BOOT" if decode is not None else "LOAD"):
            if decode is not None:
                with m.State("BOOT"):
                    with m.If(fetch()):
                        m.d.sync += booted.eq(1)
                        m.next = "LOAD"
            with m.State("LOAD"):
                self._load(m, banks, pixel)
                with m.If(self.i.valid & self.i.payload.last):
                    m.d.sync += [step.eq(0), word_ptr.eq(0), index.eq(0)]
                    m.next = "FETCH"
            with m.State("FETCH"):
                with m.If(fetch()):
                    # the pass's pair tables must be written before it starts
                    with m.If(tables_ready):
                        m.d.sync += start.eq(1)
                        m.next = "START"
                    with m.Else():
                        m.next = "WAIT"
            with m.State("WAIT"):
                with m.If(tables_ready):
                    m.d.sync += start.eq(1)
                    m.next = "START"
            with m.State("START"):
                m.next = "RUN"
            with m.State("RUN"):
                self._writes(m, desc, banks, wb, pool)
                with m.If(~seq.busy):
                    m.next = "DRAIN"
            with m.State("DRAIN"):
                self._writes(m, desc, banks, wb, pool)
                m.d.sync += step.eq(step + 1)
                with m.If(step == self.params.drain):
                    m.d.sync += [step.eq(0), index.eq(index + 1)]
                    m.next = "FETCH"
                    with m.If(last_pass):
                        m.d.comb += frame_done.eq(1)
                        m.d.sync += out_start.eq(1)
                        m.next = "OUTPUT"
            with m.State("OUTPUT"):
                # the class sums are busy from the cycle after their start
                with m.If(~out_start & ~sums.busy):
                    m.next = "LOAD"

    def _tables(self, m, decode, shifter, index, start, pass0):
        """The codebook writer's orders: pass ``i + 1``'s tables when pass
        ``i`` starts (its values came with pass ``i``'s descriptor), pass
        0's on ``pass0`` (after reset, and once a frame's last pass has
        drained: its slot may be the last pass's).  Returns whether the next
        pass may start."""
        if decode is None:
            return 1
        base = self.table.words * WORD_BITS
        # the order is registered (it fans out to the writer's whole turning
        # register); the shift register keeps the values long after it
        m.d.comb += decode.book.eq(shifter[base:base + (8 << decode.bits)])
        m.d.sync += [decode.load_slot.eq(Mux(pass0, 0, ~index[0])),
                     decode.load.eq(pass0 | (start & (index != len(self.program.passes) - 1)))]
        return ~decode.busy & ~decode.load

    def _load(self, m, banks, pixel):
        """The image's pixels into the input map's bank, in order; ``first``
        restarts the address."""
        beat = self.i.payload
        addr = Mux(beat.first, 0, pixel)
        m.d.comb += [self.i.ready.eq(1), banks.dst_bank.eq(self.program.maps[self.program.input_map].bank),
                     banks.wr_en.eq(self.i.valid), banks.wr_addr.eq(addr), banks.wr_data.eq(beat.data[0])]
        with m.If(self.i.valid):
            m.d.sync += pixel.eq(Mux(beat.last, 0, addr + 1))

    def _writes(self, m, desc, banks, wb, pool):
        m.d.comb += banks.dst_bank.eq(desc.dst_bank)
        if pool is None:
            m.d.comb += [banks.wr_en.eq(~desc.gap & wb.o.valid), banks.wr_addr.eq(wb.o.addr),
                         banks.wr_data.eq(wb.o.y)]
            return
        m.d.comb += [banks.wr_en.eq(~desc.gap & Mux(desc.pool, pool.o.valid, wb.o.valid)),
                     banks.wr_addr.eq(Mux(desc.pool, pool.o.addr, wb.o.addr)),
                     banks.wr_data.eq(Mux(desc.pool, pool.o.data, wb.o.y))]
