"""``WindowGenerator``: line buffer + k x k window (im2col) generator.

Input: a C-channel uint8 tensor H x W, one channel per beat (NHWC raster,
``rtl_gen.stream``).  Output: for each output pixel (oy, ox) in raster
order, the k*k*C values of its receptive field in (ky, kx, c) order, one per
beat, where input row iy = oy*stride - padding + ky and column
ix = ox*stride - padding + kx; positions outside the input give 0 (zero
padding; for uint8 max-pooling 0 is also the neutral element), or, with a
``fill``, channel c's constant ``fill[c]`` (the input layer's padding value
for a conv reading the image, ``golden.intref.padding_fill``).  Output size
is (H + 2p - k) // stride + 1 per axis, or PyTorch's ceil-mode size with
``ceil=True`` (the extra windows read 0 past the bottom/right edge).  Input first/last are not used (the
geometry is known); output first/last are regenerated from counters.

Storage: a ring of ``rows`` (default k + stride) rows of W*C bytes (one
block RAM, one write and one read port).  Rows are handed from writer to
reader by a credit counter, so the writer may run up to ``rows`` rows ahead
of the window, across frame boundaries.  ``rows = k`` is the smallest ring:
the writer then waits while a window row is read (fine when the producer
is slower than the window anyway; it saves ``stride`` rows of block RAM).
``rows`` must also be >= stride.  Bottom rows that no window reads (floor
mode) are released at the frame's end, even before they are written; the
reader then waits for the writer to reach the next frame.

Latency: an output pixel's first beat is valid 2 cycles after the
handshake of the input beat that completes its receptive field (last
channel of the bottom-right tap, clamped to the frame).
Throughput: one output beat per cycle (k*k*C cycles per output pixel); the
input is accepted at one beat per cycle while a ring row is free.
Back-pressure: ``o`` uses the registered ``~o.valid | o.ready`` pattern
(the read port's output register is the payload register).  ``i.ready``
depends on registers only (free-row credit, write position), never on
``o.ready``.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from types import SimpleNamespace

from amaranth.hdl import Array, Const, Module, Mux, Signal, signed
from amaranth.lib import wiring
from amaranth.lib.memory import Memory
from amaranth.lib.wiring import In, Out

from rtl_gen import stream
from rtl_gen.pipeline.block_cost import BlockCost
from rtl_gen.params import ParamsFirst, check_int

__all__ = ["WindowGenerator", "WindowParams", "output_size", "im2col_order"]

# a per-channel fill's table: each of its 8 bits a function of the channel
# index, LUT4s per 16 channels (Yosys synth_ice40: +8 LUT4s at C = 3)
FILL_TABLE_LUT = 8


def output_size(size: int, kernel: int, stride: int, padding: int, ceil: bool = False) -> int:
    """PyTorch's rule; in ceil mode the windows past the bottom/right edge
    read 0 (zero padding is also the neutral element of a uint8 max)."""
    if size + 2 * padding < kernel:
        return 0
    from golden.shapes import output_size as torch_rule
    return torch_rule(size, kernel, stride, padding, ceil)


def im2col_order(weight):
    """A (Cout, Cin, k, k) array (weights, or their codebook indices) as the
    (Cout, k*k*Cin) matrix a MAC array fed by this generator multiplies:
    columns in the stream's (ky, kx, c) order."""
    return weight.transpose(0, 2, 3, 1).reshape(weight.shape[0], -1)


def _clamp_int(v: int, hi: int) -> int:
    return min(max(v, 0), hi)


def _clamp(v, hi: int):
    """``_clamp_int`` in hardware."""
    return Mux(v < 0, 0, Mux(v > hi, hi, v))


@dataclass(frozen=True)
class _ReaderPosition:
    """The reader's counters: output pixel (oy, ox), tap (ky, kx), channel c,
    and registers that are functions of iy0/ix0 only.

    Those are updated together with iy0/ix0: the clamps and adders then stay
    off the path from ``available`` to every counter's enable (the design's
    critical path)."""
    oy: Signal
    ox: Signal
    ky: Signal
    kx: Signal
    c: Signal
    iy0: Signal             # oy*s - p
    ix0: Signal             # ox*s - p
    base_slot: Signal       # ring slot of row max(iy0, 0)
    need_y: Signal          # last row this pixel reads
    need_x: Signal          # last column this pixel reads
    row_release: Signal     # rows freed when this row of windows is done
    top_skip: Signal        # iy0 - clamp(iy0, H)


@dataclass(frozen=True)
class WindowParams:
    """``WindowGenerator``'s parameters (see the module docstring); ``rows``
    None means ``kernel + stride``; ``fill`` the padding value per channel
    (0..255), empty for 0 (stored as one value per channel)."""
    channels: int
    height: int
    width: int
    kernel: int = 3
    stride: int = 1
    padding: int = 1
    ceil: bool = False
    rows: int | None = None
    fill: tuple[int, ...] = ()
    out_height: int = field(init=False)
    out_width: int = field(init=False)

    def __post_init__(self):
        for name, low in (("channels", 1), ("height", 1), ("width", 1), ("kernel", 1), ("stride", 1),
                          ("padding", 0)):
            check_int(name, getattr(self, name), low)
        k, s, p = self.kernel, self.stride, self.padding
        if p >= k:
            raise ValueError(f"padding must be < kernel ({k}), got {p}")
        object.__setattr__(self, "out_height", output_size(self.height, k, s, p, self.ceil))
        object.__setattr__(self, "out_width", output_size(self.width, k, s, p, self.ceil))
        if self.out_height < 1 or self.out_width < 1:
            raise ValueError(f"kernel {k} with padding {p} does not fit a {self.height}x{self.width} input")
        rows = k + s if self.rows is None else self.rows
        if not isinstance(rows, int) or rows < max(k, s):
            raise ValueError(f"rows must be an integer >= kernel ({k}) and >= stride ({s}), got {self.rows!r}")
        object.__setattr__(self, "rows", rows)
        object.__setattr__(self, "fill", _checked_fill(self.fill, self.channels))


def _checked_fill(fill, channels: int) -> tuple[int, ...]:
    """``fill`` as one padding value per channel (empty: all 0)."""
    values = tuple(fill)
    if not values:
        return (0,) * channels
    if len(values) != channels or not all(isinstance(v, int) and not isinstance(v, bool) and 0 <= v <= 255
                                          for v in values):
        raise ValueError(f"fill must hold {channels} pixel values 0..255 (one per channel), got {fill!r}")
    return values


class WindowGenerator(wiring.Component, metaclass=ParamsFirst):
    """Arguments: those of ``WindowParams``."""
    Params = WindowParams

    def __init__(self, params: WindowParams):
        self.params = params
        self.channels, self.height, self.width = params.channels, params.height, params.width
        self.kernel, self.stride, self.padding = params.kernel, params.stride, params.padding
        self.ceil, self.rows, self.fill = params.ceil, params.rows, params.fill
        self.out_height, self.out_width = params.out_height, params.out_width
        super().__init__({"i": In(stream.Signature(1)), "o": Out(stream.Signature(1))})

    def resource_cost(self) -> BlockCost:
        table = 0 if len(set(self.fill)) == 1 else FILL_TABLE_LUT * -(-self.channels // 16)
        return BlockCost(lut=210 + table)

    def elaborate(self, platform):
        m = Module()
        R, W, C = self.rows, self.width, self.channels
        m.submodules.ring = ring = Memory(shape=8, depth=R * W * C, init=[])

        # At a frame's end the reader releases every row up to H, including
        # bottom rows no window reads (floor mode) that the writer may not
        # have written yet: the credit can exceed R until it writes them.
        frame_release = self.height - _clamp_int((self.out_height - 1) * self.stride - self.padding, self.height)
        rows_free = Signal(range(R + frame_release + 1), init=R)
        # frames the writer has finished and the reader has not; -1 while the
        # reader, done with a frame, waits for the writer's unread bottom rows
        frames_ahead = Signal(range(-1, R + 2))

        writer = self._writer(m, ring.write_port(), rows_free)
        reader = self._reader_position()
        issue = self._output_beat(m, ring.read_port(), reader, writer, frames_ahead)
        released = self._step_reader(m, reader, issue, frame_release)
        next_slot = reader.base_slot + released.slot_step
        m.d.sync += [reader.base_slot.eq(Mux(next_slot >= R, next_slot - R, next_slot)),
                     rows_free.eq(rows_free + released.rows - writer.take_row),
                     frames_ahead.eq(frames_ahead + writer.frame_written - released.frame)]
        return m

    def _writer(self, m: Module, wr, rows_free) -> SimpleNamespace:
        """The ring is filled sequentially, a row = W*C bytes; a row is taken
        from the free-row credit when its first byte is accepted."""
        C, H, W, R = self.channels, self.height, self.width, self.rows
        wptr = Signal(range(max(2, R * W * C)))
        wc, wx, wy = Signal(range(max(2, C))), Signal(range(max(2, W))), Signal(range(max(2, H)))
        row_start = (wx == 0) & (wc == 0)
        m.d.comb += self.i.ready.eq(~row_start | (rows_free != 0))
        accept = self.i.valid & self.i.ready
        take_row = Signal()
        frame_written = Signal()
        m.d.comb += [take_row.eq(accept & row_start),
                     wr.addr.eq(wptr), wr.data.eq(self.i.payload.data[0]), wr.en.eq(accept)]
        with m.If(accept):
            m.d.sync += wptr.eq(Mux(wptr == R * W * C - 1, 0, wptr + 1))
            with m.If(wc == C - 1):
                m.d.sync += wc.eq(0)
                with m.If(wx == W - 1):
                    m.d.sync += wx.eq(0)
                    with m.If(wy == H - 1):
                        m.d.sync += wy.eq(0)
                        m.d.comb += frame_written.eq(1)
                    with m.Else():
                        m.d.sync += wy.eq(wy + 1)
                with m.Else():
                    m.d.sync += wx.eq(wx + 1)
            with m.Else():
                m.d.sync += wc.eq(wc + 1)
        return SimpleNamespace(x=wx, y=wy, take_row=take_row, frame_written=frame_written)

    def _reader_position(self) -> _ReaderPosition:
        """The reader's counters, all at the start of a frame."""
        C, H, W, k, s, p = (self.channels, self.height, self.width, self.kernel, self.stride, self.padding)
        OH, OW = self.out_height, self.out_width
        oy, ox = Signal(range(max(2, OH))), Signal(range(max(2, OW)))
        ky, kx, c = Signal(range(max(2, k))), Signal(range(max(2, k))), Signal(range(max(2, C)))
        coord = signed(max(H, W, s * max(OH, OW) + k).bit_length() + 2)
        iy0 = Signal(coord, init=-p)          # oy*s - p
        ix0 = Signal(coord, init=-p)          # ox*s - p
        base_slot = Signal(range(max(2, self.rows)))          # ring slot of row max(iy0, 0)
        need_y = Signal(range(H), init=_clamp_int(-p + k - 1, H - 1))
        need_x = Signal(range(W), init=_clamp_int(-p + k - 1, W - 1))
        row_release = Signal(range(H + 1), init=_clamp_int(-p + s, H) - _clamp_int(-p, H))
        top_skip = Signal(coord, init=-p - _clamp_int(-p, H))
        return _ReaderPosition(oy, ox, ky, kx, c, iy0, ix0, base_slot, need_y, need_x, row_release, top_skip)

    def _read_address(self, reader, addr_width: int):
        """Ring address of the byte at (iy0 + ky, ix0 + kx, c)."""
        C, W, k, R = self.channels, self.width, self.kernel, self.rows
        row_off = reader.base_slot + (reader.ky + reader.top_skip)[:max(1, (k - 1).bit_length())]  # iy - clamp(iy0, H)
        slot = Mux(row_off >= R, row_off - R, row_off)
        # a table of the R row starts is one LUT level; slot * (W*C) was an adder tree
        slot_addr = Array(Const(row * W * C, addr_width) for row in range(R))
        ix = reader.ix0 + reader.kx
        return slot_addr[slot] + ix[:max(1, (W - 1).bit_length())] * C + reader.c

    def _output_beat(self, m: Module, rd, reader, writer, frames_ahead):
        """Issues a read when the window's receptive field is written and
        ``o`` can advance; the read port's output register is the payload,
        the fill outside the input (padding).  Returns the issue signal."""
        C, H, W, k = self.channels, self.height, self.width, self.kernel
        OH, OW = self.out_height, self.out_width
        r = reader
        iy, ix = r.iy0 + r.ky, r.ix0 + r.kx
        available = (frames_ahead > 0) | ((frames_ahead == 0) & ((writer.y > r.need_y) |
                                                                  ((writer.y == r.need_y) & (writer.x > r.need_x))))
        in_bounds = (iy >= 0) & (iy < H) & (ix >= 0) & (ix < W)
        addr = self._read_address(reader, len(rd.addr))

        advance = ~self.o.valid | self.o.ready
        issue = Signal()
        m.d.comb += [issue.eq(advance & available), rd.en.eq(advance), rd.addr.eq(addr)]

        inb = Signal()
        first, last = Signal(), Signal()
        m.d.comb += [self.o.payload.data[0].eq(Mux(inb, rd.data, self._fill_value(m, r.c, issue))),
                     self.o.payload.first.eq(first), self.o.payload.last.eq(last)]
        with m.If(advance):
            m.d.sync += self.o.valid.eq(available)
        pixel_done = (r.c == C - 1) & (r.kx == k - 1) & (r.ky == k - 1)
        with m.If(issue):
            m.d.sync += [inb.eq(in_bounds),
                         first.eq((r.oy == 0) & (r.ox == 0) & (r.ky == 0) & (r.kx == 0) & (r.c == 0)),
                         last.eq((r.oy == OH - 1) & (r.ox == OW - 1) & pixel_done)]
        return issue

    def _fill_value(self, m: Module, c, issue):
        """The padding value of the beat on ``o``: a constant when every
        channel pads alike (0 costs nothing), else the issued channel's entry
        of a constant table, registered beside the read data."""
        if len(set(self.fill)) == 1:
            return self.fill[0]
        value = Signal(8)
        with m.If(issue):
            m.d.sync += value.eq(Array(Const(v, 8) for v in self.fill)[c])
        return value

    def _step_reader(self, m: Module, reader, issue, frame_release: int) -> SimpleNamespace:
        """Steps (oy, ox, ky, kx, c) per issued beat and the registers that
        follow iy0/ix0; returns the rows released (to the credit) and the
        ring slots the window's base moves by, and the frame-read pulse."""
        C, H, W, k, s, p, R = (self.channels, self.height, self.width, self.kernel, self.stride,
                               self.padding, self.rows)
        OH, OW = self.out_height, self.out_width
        oy, ox, ky, kx, c = reader.oy, reader.ox, reader.ky, reader.kx, reader.c
        iy0, ix0, need_y, need_x = reader.iy0, reader.ix0, reader.need_y, reader.need_x
        row_release, top_skip = reader.row_release, reader.top_skip
        release = Signal(range(max(2, R + 1, frame_release + 1)))
        slot_step = Signal(range(max(2, R + 1)))      # release modulo the ring (<= R: one subtraction)
        frame_read = Signal()
        with m.If(issue):
            with m.If(c == C - 1):
                m.d.sync += c.eq(0)
                with m.If(kx == k - 1):
                    m.d.sync += kx.eq(0)
                    with m.If(ky == k - 1):
                        m.d.sync += ky.eq(0)
                        with m.If(ox == OW - 1):
                            m.d.sync += [ox.eq(0), ix0.eq(-p), need_x.eq(need_x.init)]
                            with m.If(oy == OH - 1):
                                m.d.sync += [oy.eq(0), iy0.eq(-p),
                                             need_y.eq(need_y.init), row_release.eq(row_release.init),
                                             top_skip.eq(top_skip.init)]
                                m.d.comb += [release.eq(frame_release), slot_step.eq(frame_release % R),
                                             frame_read.eq(1)]
                            with m.Else():
                                m.d.sync += [oy.eq(oy + 1), iy0.eq(iy0 + s),
                                             need_y.eq(_clamp(iy0 + (s + k - 1), H - 1)),
                                             row_release.eq(_clamp(iy0 + 2 * s, H) - _clamp(iy0 + s, H)),
                                             top_skip.eq(iy0 + s - _clamp(iy0 + s, H))]
                                m.d.comb += [release.eq(row_release), slot_step.eq(row_release)]   # <= s <= R
                        with m.Else():
                            m.d.sync += [ox.eq(ox + 1), ix0.eq(ix0 + s),
                                         need_x.eq(_clamp(ix0 + (s + k - 1), W - 1))]
                    with m.Else():
                        m.d.sync += ky.eq(ky + 1)
                with m.Else():
                    m.d.sync += kx.eq(kx + 1)
            with m.Else():
                m.d.sync += c.eq(c + 1)
        return SimpleNamespace(rows=release, slot_step=slot_step, frame=frame_read)
