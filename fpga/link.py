"""The host-link protocol engine: framed images in, class results out.

The wire format is specified in ``docs/host-link.md``; ``encode_request`` /
``decode_reply`` in ``fpga.protocol`` are its host side.  In short::

    request: A5 5A | LEN (u16 LE) | LEN pixel bytes | CRC16 (BE)
    reply:   A5 5A | STATUS | body | CRC16 (BE)

CRC16 is CRC-16/CCITT-FALSE (poly 0x1021, init 0xFFFF; Python's
``binascii.crc_hqx(data, 0xFFFF)``) over everything after the sync bytes;
sent MSB first, so running the CRC over the payload *and* its CRC gives 0.

Design choice (correctness over latency): the image is stored in a
memory and streamed into the accelerator only after the CRC has passed, so
a bad, short or aborted frame never leaves a partial image inside the
accelerator.  In an SPRAM (``image_ram="spram"``, the UP5K build) the
memory holds two images (``rtl_gen.fit.link_buffer_bytes``: 1 808 bytes for
28x28, part of one SPRAM; ``fpga.image_store``): the next request is
received into one half while the accelerator computes the image fed from
the other, so the link and the accelerator overlap (the info reply's
version 2).  In block RAM, where a second image would cost blocks the
boards need, it holds one and the info reply says version 1: one request
at a time.
The cost is one extra frame-time of latency (``H*W*C`` cycles, a few
microseconds) -- nothing next to the UART time.
"""
from __future__ import annotations

from dataclasses import KW_ONLY, dataclass, field
from types import SimpleNamespace

from amaranth.hdl import Array, Cat, Const, Module, Mux, Signal, unsigned
from amaranth.lib import stream, wiring
from amaranth.lib.wiring import In, Out

from fpga.protocol import PROTOCOL_VERSION, SYNC, Status  # one definition of the wire constants, shared with the host
from fpga.image_store import ImageStore, ImageStoreParams
from fpga.uart import rx_layout
from rtl_gen.accelerator import AcceleratorSignature
from rtl_gen.fit import link_buffer_bytes
from rtl_gen.params import ParamsFirst

__all__ = ["HostLink", "LinkParams", "Status", "SYNC", "crc16_update"]


def crc16_update(crc, byte):
    """CRC-16/CCITT-FALSE of one more byte, as a combinational expression
    (works on Python ints too, which the tests use as the reference)."""
    if isinstance(crc, int) and isinstance(byte, int):
        for i in range(8):
            bit = ((byte >> (7 - i)) & 1) ^ ((crc >> 15) & 1)
            crc = ((crc << 1) & 0xFFFF) ^ (0x1021 if bit else 0)
        return crc
    c = crc
    for i in range(8):
        bit = byte[7 - i] ^ c[15]
        c = Cat(Const(0, 1), c[:15]) ^ Mux(bit, 0x1021, 0)
    return c[:16]


@dataclass(frozen=True)
class LinkParams:
    """``HostLink``'s parameters: the image ``in_shape`` (H, W, C; H, W <=
    65535, C <= 255, H*W*C <= 65535), ``num_classes`` 1..255,
    ``timeout_cycles`` >= 16, the ``image_ram`` kind
    (``fpga.image_store.KINDS``) and the ``network_id`` (u32) the info
    reply names (``fpga.protocol.network_id``; 0: none) and
    ``double_buffer`` (two images, so two requests outstanding; None: in
    an SPRAM only).  ``in_shape`` is
    stored as a tuple of ints; ``accelerator`` is the signature of the
    accelerator the link drives (``rtl_gen.accelerator``)."""
    in_shape: tuple
    num_classes: int
    _: KW_ONLY
    timeout_cycles: int = 600_000
    image_ram: str = "block"
    network_id: int = 0
    double_buffer: bool | None = None       # None: where the second image is free (an SPRAM)
    accelerator: AcceleratorSignature = field(init=False, repr=False)

    def __post_init__(self):
        try:
            h, w, c = (int(v) for v in self.in_shape)
        except (TypeError, ValueError):
            h = w = c = 0
        if min(h, w, c) < 1 or h > 0xFFFF or w > 0xFFFF or c > 0xFF or h * w * c > 0xFFFF:
            raise ValueError(f"in_shape must be (H, W, C) with H, W <= 65535, C <= 255, H*W*C <= 65535; "
                             f"got {self.in_shape!r}")
        if not isinstance(self.num_classes, int) or not 1 <= self.num_classes <= 255:
            raise ValueError(f"num_classes must be an integer in 1..255, got {self.num_classes!r}")
        if not isinstance(self.timeout_cycles, int) or self.timeout_cycles < 16:
            raise ValueError(f"timeout_cycles must be an integer >= 16, got {self.timeout_cycles!r}")
        if not isinstance(self.network_id, int) or not 0 <= self.network_id <= 0xFFFF_FFFF:
            raise ValueError(f"network_id must be an integer in 0..2**32-1, got {self.network_id!r}")
        if self.double_buffer is None:
            object.__setattr__(self, "double_buffer", self.image_ram == "spram")
        ImageStoreParams(link_buffer_bytes(h * w * c, self.double_buffer), self.image_ram)   # its own checks
        object.__setattr__(self, "in_shape", (h, w, c))
        object.__setattr__(self, "accelerator", AcceleratorSignature((h, w, c), self.num_classes))


class HostLink(wiring.Component, metaclass=ParamsFirst):
    """Receives framed images from a UART, runs them through the accelerator
    and answers with the class and per-class sums (``docs/host-link.md``).

    Ports:
      * ``rx``: bytes from ``UARTRx`` (``rx_layout``: data + framing error);
      * ``tx``: reply bytes to ``UARTTx``;
      * ``acc_i``, ``acc_o``: the accelerator's ``i`` and ``o``, flipped
        (``rtl_gen.accelerator.AcceleratorSignature``): the image out, NHWC
        raster with first/last, and the class beats in (``class_layout``);
      * ``frame_led`` toggles per answered OK frame, ``error_led`` is lit
        from an error reply until the next OK frame; ``busy`` is high from
        the first sync byte to the end of the last reply.

    Errors are always answered, never hang: a header length other than
    ``H*W*C`` (or 0, the info query) is skipped byte by byte and answered
    BAD_LENGTH; a UART framing error inside a frame aborts it with
    FRAMING_ERROR; no byte for ``timeout_cycles`` inside a frame answers
    TIMEOUT (so a short frame cannot wedge the link); a CRC mismatch answers
    BAD_CHECKSUM.  After any reply the link hunts for ``A5 5A`` again.

    Latency: the reply's first byte is offered to ``tx`` 2 cycles after the
    last CRC byte is received (when no earlier reply is pending); the
    accelerator is fed at one beat per cycle (when it is ready, and not on
    a cycle the next image is written) starting at the same time.
    Throughput: two requests may be outstanding (protocol version 2): the
    next is received into the other half of the image buffer while the
    accelerator computes, and its reply follows the first's.  A request
    completed while a reply is pending waits (``HAND``) until that reply is
    sent; bytes arriving then are discarded -- a host sends request ``k + 2``
    only after reply ``k``, so none do.
    Back-pressure: ``rx.ready`` is always 1 (a UART cannot be stalled);
    ``acc_i`` honours the accelerator's ``ready``; ``acc_o.ready`` follows
    ``tx.ready`` once per 4 bytes sent (the sums are serialised straight from
    the accelerator's output, not buffered).
    """

    Params = LinkParams

    def __init__(self, params: LinkParams):
        self.params = params
        self.in_shape, self.num_classes, self.image_ram = params.in_shape, params.num_classes, params.image_ram
        h, w, c = self.in_shape
        self.frame_bytes = h * w * c
        self.timeout_cycles = params.timeout_cycles
        self.network_id = params.network_id
        # two images where the second is free (an SPRAM), else one: version 1, one request at a time
        self.double = params.double_buffer
        self.buffer_bytes = link_buffer_bytes(self.frame_bytes, self.double)
        self.bank_bits = (self.buffer_bytes - self.frame_bytes).bit_length() - 1 if self.double else 16
        self.version = PROTOCOL_VERSION if self.double else 1
        accelerator = params.accelerator.members
        super().__init__({
            "rx": In(stream.Signature(rx_layout)),
            "tx": Out(stream.Signature(unsigned(8))),
            "acc_i": accelerator["i"].flip(),
            "acc_o": accelerator["o"].flip(),
            "frame_led": Out(1),
            "error_led": Out(1),
            "busy": Out(1),
        })

    def elaborate(self, platform):
        m = Module()
        m.submodules.image = image = ImageStore(self.buffer_bytes, self.image_ram)
        request = self._request_decoder(m, image)
        feeder = self._feeder(m, image, request)
        reply = self._reply_encoder(m)
        self._crc_follow(m, reply)
        m.d.comb += [self.frame_led.eq(reply.frame_led), self.error_led.eq(reply.error_led)]
        # Two state machines, each with few states (short next-state logic):
        # a finished request waits in HAND until the reply machine is IDLE
        # (the previous reply sent), then raises ``go`` and hunts for the
        # next request while the reply, started by ``go``, is sent.
        with m.FSM(name="reply") as reply_fsm:
            with m.State("IDLE"):
                with m.If(request.go):
                    m.next = "R_SYNC0"
            self._reply_header_states(m, request, reply)
            self._reply_body_states(m, reply)
            self._reply_trailer_states(m, reply, feeder)
        with m.FSM(name="request") as fsm:
            self._request_states(m, request, feeder)
            self._check_state(m, request, feeder)
            self._hand_state(m, request, feeder, reply_fsm.ongoing("IDLE"))
        # ``go`` covers the cycle between HAND and the reply's start
        m.d.comb += self.busy.eq(~fsm.ongoing("HUNT") | ~reply_fsm.ongoing("IDLE") | request.go)
        return m

    def _address(self, index, bank):
        """An image byte's address: in the half ``bank`` names when double-buffered."""
        return Cat(index[:self.bank_bits], bank) if self.double else index

    def _feeder(self, m: Module, image, request) -> SimpleNamespace:
        """Image memory -> accelerator, started once per good frame
        (``start``) from the half ``bank`` names; ``feeding`` until the
        last byte is read.  It yields to the next frame's writes (one per
        byte time): an SPRAM has one port."""
        N = self.frame_bytes
        rd = SimpleNamespace(en=image.r_en, addr=image.r_addr, data=image.r_data)
        start = Signal()
        feeding = Signal()
        bank = Signal()                 # the half being fed
        raddr = Signal(range(N + 1))
        ai = self.acc_i
        m.d.comb += [rd.addr.eq(self._address(raddr, bank)), ai.payload.data[0].eq(rd.data)]
        advance = feeding & (~ai.valid | ai.ready) & ~image.w_en
        # rd.en only on advance, so the read data (= payload) holds while the
        # accelerator stalls.  Assigned unconditionally: a read port's en
        # has init=1, so setting it only inside If(advance) would leave it
        # high and a stalled beat would turn into the next pixel.
        m.d.comb += rd.en.eq(advance)
        with m.If(ai.ready):
            m.d.sync += ai.valid.eq(0)
        with m.If(advance):
            m.d.sync += [ai.valid.eq(1), raddr.eq(raddr + 1),
                         ai.payload.first.eq(raddr == 0), ai.payload.last.eq(raddr == N - 1)]
            with m.If(raddr == N - 1):
                m.d.sync += feeding.eq(0)
        with m.If(start):
            m.d.sync += [feeding.eq(1), raddr.eq(0), bank.eq(request.bank)]
        return SimpleNamespace(start=start, feeding=feeding)

    def _request_decoder(self, m: Module, image) -> SimpleNamespace:
        """Receive side: the byte on ``rx``, the frame's length, byte count
        and running CRC, the inactivity timer, the (registered) image write
        and the status of the reply to send."""
        wr = SimpleNamespace(en=image.w_en, addr=image.w_addr, data=image.w_data)
        rx = self.rx
        m.d.comb += rx.ready.eq(1)
        got = rx.valid & ~rx.payload.ferr
        byte = rx.payload.data

        length = Signal(16)
        count = Signal(16)
        crc = Signal(16, init=0xFFFF)
        crc_next = crc16_update(crc, byte)
        status = Signal(8)
        timer = Signal(range(self.timeout_cycles + 1))
        in_frame = Signal()             # in LEN0 .. CRC1 (a register: set on entry, cleared on exit)
        with m.If(rx.valid):
            m.d.sync += timer.eq(0)
        with m.Elif(in_frame):
            m.d.sync += timer.eq(timer + 1)
        # registered (a cycle late, of some 10^6): the wide comparison then
        # ends at a flip-flop, not in the frame decoder's conditions
        expired = Signal()
        m.d.sync += expired.eq(in_frame & ~rx.valid & (timer == self.timeout_cycles - 1))
        timed_out = in_frame & expired
        # Image writes are registered: the frame decoder's conditions then end
        # at a flip-flop instead of at the RAM's data pins (the link's critical
        # path).  The write lands a cycle late, long before the checksum bytes
        # that precede any read.
        store = Signal()
        go = Signal()                   # a one-cycle pulse: the reply may start
        bank = Signal()                 # the half the frame is written to
        m.d.sync += go.eq(0)
        m.d.sync += [wr.en.eq(store), wr.addr.eq(self._address(count, bank)), wr.data.eq(byte)]
        ferr = in_frame & rx.valid & rx.payload.ferr
        return SimpleNamespace(got=got, byte=byte, ferr=ferr, length=length, count=count, crc=crc,
                               crc_next=crc_next, status=status, in_frame=in_frame, timed_out=timed_out,
                               store=store, left=Signal(16), left_one=Signal(), len_ok=Signal(),
                               len_zero=Signal(), go=go, bank=bank)

    def _reply_encoder(self, m: Module) -> SimpleNamespace:
        """Transmit side: the reply's running CRC, the class/byte counters,
        the best class, the info-reply bytes and the two LEDs."""
        h, w, c = self.in_shape
        tcrc = Signal(16)
        idx = Signal(range(max(16, self.num_classes + 1)))      # the info body or the classes
        sub = Signal(2)
        best = Signal(8)
        info = Array(Const(v, 8) for v in (h & 0xFF, h >> 8, w & 0xFF, w >> 8, c, self.num_classes,
                                           self.version, *self.network_id.to_bytes(4, "little")))
        frame_led = Signal()
        error_led = Signal()
        done = Signal()                 # a one-cycle pulse: the reply is sent
        m.d.sync += done.eq(0)
        return SimpleNamespace(crc=tcrc, idx=idx, sub=sub, best=best, info=info,
                               frame_led=frame_led, error_led=error_led, pending=Signal(), sent=Signal(8),
                               done=done)

    def _send(self, m: Module, reply, value, crc_it: bool = True):
        """Offers one reply byte; returns ``tx.ready`` (the byte is taken).
        The reply CRC takes a sent byte the cycle after (``_crc_follow``):
        the byte's multiplexer and the CRC update are then not one path."""
        tx = self.tx
        m.d.comb += [tx.valid.eq(1), tx.payload.eq(value)]
        if crc_it:
            with m.If(tx.ready):
                m.d.sync += [reply.pending.eq(1), reply.sent.eq(tx.payload)]
        return tx.ready

    @staticmethod
    def _crc_follow(m: Module, reply):
        with m.If(reply.pending):
            m.d.sync += [reply.crc.eq(crc16_update(reply.crc, reply.sent)), reply.pending.eq(0)]

    @staticmethod
    def _answer(m: Module, request, code):
        """Ends the request: the reply with status ``code`` is handed over next."""
        m.d.sync += [request.status.eq(code), request.in_frame.eq(0)]
        m.next = "HAND"

    @staticmethod
    def _hand_state(m: Module, request, feeder, reply_idle):
        """The reply machine is free (the previous reply sent, so its image
        fed): start the reply, and for a good image its feed from the half
        just written; the next frame goes to the other half."""
        with m.State("HAND"):
            with m.If(reply_idle):
                m.d.sync += request.go.eq(1)
                with m.If(request.status == Status.OK):
                    m.d.comb += feeder.start.eq(1)
                    m.d.sync += request.bank.eq(~request.bank)
                m.next = "HUNT"

    def _request_states(self, m: Module, request, feeder):
        """HUNT for ``A5 5A``, then the frame's states; framing errors and
        timeouts abort a frame."""
        got, byte = request.got, request.byte
        with m.State("HUNT"):
            with m.If(got & (byte == SYNC[0])):
                m.next = "SYNC1"
        with m.State("SYNC1"):
            with m.If(got):
                with m.If(byte == SYNC[1]):
                    m.d.sync += [request.crc.eq(0xFFFF), request.in_frame.eq(1)]
                    m.next = "LEN0"
                with m.Elif(byte != SYNC[0]):
                    m.next = "HUNT"
        for name in ("LEN0", "LEN1", "DATA", "CRC0", "CRC1"):
            with m.State(name):
                with m.If(request.ferr):
                    self._answer(m, request, Status.FRAMING_ERROR)
                with m.Elif(request.timed_out):
                    self._answer(m, request, Status.TIMEOUT)
                with m.Elif(got):
                    m.d.sync += request.crc.eq(request.crc_next)
                    self._frame_byte(m, name, request, feeder)

    def _frame_byte(self, m: Module, state: str, request, feeder):
        """What a frame byte received in ``state`` does."""
        N, byte, length, count = self.frame_bytes, request.byte, request.length, request.count
        if state == "LEN0":
            m.d.sync += length[:8].eq(byte)
            m.next = "LEN1"
        elif state == "LEN1":
            # what the frame's length decides, as flags, so that no 16-bit
            # comparison or subtraction sits in the later states' logic
            full = Cat(length[:8], byte)
            m.d.sync += [length[8:].eq(byte), count.eq(0), request.left.eq(full - 1),
                         request.left_one.eq(full == 1), request.len_ok.eq(full == N),
                         request.len_zero.eq(full == 0)]
            with m.If(full == 0):
                m.next = "CRC0"
            with m.Else():
                m.next = "DATA"
        elif state == "DATA":
            with m.If(request.len_ok):
                m.d.comb += request.store.eq(1)
            # ``left``: data bytes after this one; ``left_one``: this is the last
            m.d.sync += [count.eq(count + 1), request.left.eq(request.left - 1),
                         request.left_one.eq(request.left == 1)]
            with m.If(request.left_one):
                m.next = "CRC0"
        elif state == "CRC0":
            m.next = "CRC1"
        else:
            # judged in CHECK, a cycle later, from the registered CRC
            m.d.sync += request.in_frame.eq(0)
            m.next = "CHECK"

    def _check_state(self, m: Module, request, feeder):
        """The frame is complete: answer from its length and CRC (a state of
        its own, so the CRC update and the comparisons are not one path)."""
        with m.State("CHECK"):
            with m.If(~request.len_ok & ~request.len_zero):
                self._answer(m, request, Status.BAD_LENGTH)
            with m.Elif(request.crc != 0):
                self._answer(m, request, Status.BAD_CHECKSUM)
            with m.Elif(request.len_zero):
                self._answer(m, request, Status.INFO)
            with m.Else():
                self._answer(m, request, Status.OK)

    def _reply_header_states(self, m: Module, request, reply):
        """``A5 5A`` and the status byte, then the body that status calls for."""
        with m.State("R_SYNC0"):
            with m.If(self._send(m, reply, SYNC[0], crc_it=False)):
                m.next = "R_SYNC1"
        with m.State("R_SYNC1"):
            with m.If(self._send(m, reply, SYNC[1], crc_it=False)):
                m.d.sync += reply.crc.eq(0xFFFF)
                m.next = "R_STATUS"
        with m.State("R_STATUS"):
            status = request.status
            with m.If(self._send(m, reply, status)):
                m.d.sync += [reply.idx.eq(0), reply.sub.eq(0)]
                with m.If(status == Status.OK):
                    m.next = "R_NCLS"
                with m.Elif(status == Status.INFO):
                    m.next = "R_INFO"
                with m.Else():
                    m.d.sync += reply.error_led.eq(1)
                    m.next = "R_CRC0"

    def _reply_body_states(self, m: Module, reply):
        """INFO: the frame geometry.  OK: the class count, every class sum
        (4 bytes LE, straight from the accelerator) and the best class."""
        idx, sub = reply.idx, reply.sub
        with m.State("R_INFO"):
            with m.If(self._send(m, reply, reply.info[idx])):
                m.d.sync += idx.eq(idx + 1)
                with m.If(idx == len(reply.info) - 1):
                    m.next = "R_CRC0"
        with m.State("R_NCLS"):
            with m.If(self._send(m, reply, self.num_classes)):
                m.next = "R_SUM"
        with m.State("R_SUM"):
            ao = self.acc_o
            with m.If(ao.valid):
                with m.If(self._send(m, reply, ao.payload.data.as_unsigned().word_select(sub, 8))):
                    m.d.sync += sub.eq(sub + 1)
                    with m.If(sub == 3):
                        m.d.comb += ao.ready.eq(1)
                        m.d.sync += [idx.eq(idx + 1), reply.best.eq(ao.payload.argmax)]
                        with m.If(idx == self.num_classes - 1):
                            m.next = "R_CLASS"
        with m.State("R_CLASS"):
            with m.If(self._send(m, reply, reply.best)):
                m.d.sync += [reply.frame_led.eq(~reply.frame_led), reply.error_led.eq(0)]
                m.next = "R_CRC0"

    def _reply_trailer_states(self, m: Module, reply, feeder):
        """The reply's CRC, then back to HUNT once the image is fed."""
        with m.State("R_CRC0"):
            # the UART is still sending the last byte when this state begins,
            # so the CRC has taken it; waiting on ``pending`` says so in logic
            with m.If(~reply.pending):
                with m.If(self._send(m, reply, reply.crc[8:], crc_it=False)):
                    m.next = "R_CRC1"
        with m.State("R_CRC1"):
            with m.If(self._send(m, reply, reply.crc[:8], crc_it=False)):
                m.next = "R_DONE"
        with m.State("R_DONE"):
            # The accelerator has already consumed the image (its sums
            # came out), but wait for the feeder explicitly anyway.
            with m.If(~feeder.feeding & ~self.acc_i.valid):
                m.d.sync += reply.done.eq(1)
                m.next = "IDLE"
