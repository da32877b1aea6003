"""SymbiYosys proofs of the host link (``fpga.link.HostLink``) in a small
configuration: a 1x1x1 image, one class, the minimum ``timeout_cycles``
(16), the test stand-in accelerator (``fpga.testing.ClassSumStandIn``).

The environment: ``rx`` bytes (any value, any framing-error flag) at least
``GAP`` cycles apart -- a UART delivers one per 10 bit times, at least 40
cycles -- and a ``tx.ready`` that is never low two cycles running.
Properties, for any such input:

1. *idle within the timeout*: ``IDLE_LIMIT`` cycles after the last byte
   the link is idle (``busy`` low) -- from any state, by k-induction where
   it converges;
2. *no bad frame starts the accelerator*: when an image reaches the
   accelerator, the last 7 error-free bytes received were a whole frame
   with the right length and a good CRC;
3. *a good frame gets exactly one reply*: a good frame begun while idle,
   its bytes within the timeout, starts the accelerator and, by the time the
   link is idle again, has had exactly one reply, an OK one;
4. *a reply is never cut*: the ``tx`` bytes parse as whole replies (sync,
   status, the body that status calls for, a correct CRC), back to back,
   never interleaved; and the link's streams obey the handshake rules.

Proven by BMC to depth ``BMC_DEPTH`` (a whole good frame and the
accelerator's start; not yet a whole reply -- see docs/verification.md).
Negative controls (subclasses of ``HostLink``): a link whose timer is not
reset by bytes, one that ignores the CRC.
"""
from __future__ import annotations

import pytest
from amaranth.hdl import Assert, Assume, Cat, Const, Cover, Elaboratable, Module, Mux, Signal, Value
from amaranth.lib import wiring

from fpga.link import HostLink, Status, SYNC, crc16_update
from fpga.testing import ClassSumStandIn
from sim.lib.formal import Mode, Proof, run_proof
from sim.lib.stream_checks import fresh_after_reset, monitor

pytestmark = pytest.mark.formal

SHAPE, CLASSES, TIMEOUT = (1, 1, 1), 1, 16
FRAME = 2 + 2 + 1 + 2          # sync, length, one pixel, CRC
GAP = 4                        # cycles between rx bytes, at least
# the reply's bytes: sync, status, body (OK: count, 4-byte sum, class; INFO: 6), CRC
BODY = {Status.OK: 2 + 4 * CLASSES, Status.INFO: 6}
REPLY_MAX = 3 + max(BODY.values()) + 2
# timeout + the reply at half rate (tx.ready low every other cycle) + the
# accelerator and the state machines' own cycles
IDLE_LIMIT = TIMEOUT + 2 * REPLY_MAX + 12
GOOD_GAP = TIMEOUT - 2         # gaps this short are certainly within the timeout


def crc_of(m: Module, crc, byte, name: str) -> Signal:
    """CRC-16/CCITT-FALSE of one more byte (``fpga.link.crc16_update``'s
    rule), one signal per bit step, so the checker's expression stays small
    (the nested form doubles per bit).  ``test_checker_crc_matches`` pins
    it to ``fpga.protocol.crc16``."""
    for i in range(8):
        step = Signal(16, name=f"{name}_b{i}")
        m.d.comb += step.eq(_crc_bit(crc, byte[7 - i]))
        crc = step
    return crc


def _crc_bit(crc, bit):
    feedback = bit ^ crc[15]
    return Cat(Const(0, 1), crc[:15]) ^ Mux(feedback, 0x1021, 0)


class LinkProof(Elaboratable):
    """``link`` with the stand-in accelerator (``free_acc``: with the
    accelerator ports free instead, for the stream rules alone)."""

    def __init__(self, link: HostLink, free_acc: bool = False):
        self.link, self.free_acc = link, free_acc
        self.ports = [link.rx.valid, Value.cast(link.rx.payload), link.tx.ready]
        if free_acc:
            self.ports += [link.acc_i.ready, link.acc_o.valid, Value.cast(link.acc_o.payload)]

    def elaborate(self, platform):
        m = Module()
        m.submodules.link = link = self.link
        fresh = fresh_after_reset(m)
        rx = monitor(m, link.rx, "rx", assume=True)
        tx = monitor(m, link.tx, "tx", assume=False, fresh=fresh)
        acc_i = monitor(m, link.acc_i, "acc_i", assume=False, fresh=fresh)
        if self.free_acc:
            monitor(m, link.acc_o, "acc_o", assume=True)
        else:
            m.submodules.acc = acc = ClassSumStandIn(SHAPE, CLASSES)
            wiring.connect(m, link.acc_i, acc.i)
            wiring.connect(m, acc.o, link.acc_o)
        self._environment(m, link)
        if not self.free_acc:
            self._properties(m, link, acc_i)
        return m

    @staticmethod
    def _environment(m, link):
        # cycles since the last byte, minus one: a byte may come when it is GAP - 1
        since = Signal(range(GAP), init=GAP - 1)
        with m.If(link.rx.valid):
            m.d.sync += since.eq(0)
            m.d.comb += Assume(since == GAP - 1)
        with m.Elif(since != GAP - 1):
            m.d.sync += since.eq(since + 1)
        tx_was_low = Signal()
        m.d.sync += tx_was_low.eq(~link.tx.ready)
        with m.If(tx_was_low):
            m.d.comb += Assume(link.tx.ready)

    def _properties(self, m, link, acc_i):
        silent = self._idle_within_timeout(m, link)
        hist = self._history(m, link)
        good_bytes = self._good_frame(m, hist)
        # 2: the accelerator starts only on a good frame
        acc_was = Signal()
        m.d.sync += acc_was.eq(link.acc_i.valid)
        started = link.acc_i.valid & ~acc_was
        with m.If(started):
            m.d.comb += Assert(good_bytes, "link_acc_starts_only_on_a_good_frame")
        replies, ok_replies = self._reply_parser(m, link)
        self._one_reply_per_good_frame(m, link, hist, good_bytes, started, replies, ok_replies)
        m.d.comb += Cover(ok_replies == 2, "link_two_ok_replies")
        m.d.comb += Cover((replies == 1) & (ok_replies == 0) & (silent == 0), "link_error_reply")

    @staticmethod
    def _idle_within_timeout(m, link):
        silent = Signal(range(IDLE_LIMIT + 1))
        with m.If(link.rx.valid):
            m.d.sync += silent.eq(0)
        with m.Elif(silent != IDLE_LIMIT):
            m.d.sync += silent.eq(silent + 1)
        with m.If(silent == IDLE_LIMIT):
            m.d.comb += Assert(~link.busy, "link_idle_within_the_timeout")
        return silent

    @staticmethod
    def _history(m, link):
        """The last ``FRAME`` error-free bytes, oldest first, each with: the
        link was idle when it came, its gap from the previous rx byte was
        short, and no framing-error byte came between it and the previous."""
        hist = [dict(byte=Signal(8, name=f"h{k}_byte"), idle=Signal(name=f"h{k}_idle"),
                     short=Signal(name=f"h{k}_short"), clean=Signal(name=f"h{k}_clean")) for k in range(FRAME)]
        gap = Signal(range(GOOD_GAP + 2))
        ferr_since = Signal()
        rx = link.rx
        with m.If(rx.valid):
            m.d.sync += gap.eq(0)
        with m.Elif(gap != GOOD_GAP + 1):
            m.d.sync += gap.eq(gap + 1)
        with m.If(rx.valid & rx.payload.ferr):
            m.d.sync += ferr_since.eq(1)
        with m.If(rx.valid & ~rx.payload.ferr):
            m.d.sync += ferr_since.eq(0)
            for older, newer in zip(hist, hist[1:]):
                m.d.sync += [older[f].eq(newer[f]) for f in older]
            m.d.sync += [hist[-1]["byte"].eq(rx.payload.data), hist[-1]["idle"].eq(~link.busy),
                         hist[-1]["short"].eq(gap <= GOOD_GAP), hist[-1]["clean"].eq(~ferr_since)]
        return hist

    @staticmethod
    def _good_frame(m, hist):
        """The history's bytes are a request for the 1-pixel image with a good CRC."""
        n = SHAPE[0] * SHAPE[1] * SHAPE[2]
        want = [SYNC[0], SYNC[1], n & 0xFF, n >> 8]
        ok = Const(1)
        for slot, byte in zip(hist, want):
            ok = ok & (slot["byte"] == byte)
        crc = Const(0xFFFF, 16)
        for k, slot in enumerate(hist[2:]):
            crc = crc_of(m, crc, slot["byte"], f"hist_crc{k}")
        return ok & (crc == 0)

    @staticmethod
    def _reply_parser(m, link):
        """4: every tx byte is in its place in a whole reply; returns the
        counts of replies and of OK replies completed."""
        tx = link.tx
        byte = tx.payload
        idx = Signal(range(REPLY_MAX))
        status = Signal(8)
        crc = Signal(16)
        replies, ok_replies = Signal(8), Signal(8)
        body = Mux(status == Status.OK, BODY[Status.OK], Mux(status == Status.INFO, BODY[Status.INFO], 0))
        at_status = idx == 2
        body_now = Mux(at_status, Mux(byte == Status.OK, BODY[Status.OK],
                                      Mux(byte == Status.INFO, BODY[Status.INFO], 0)), body)
        last = idx == 3 + body_now + 1
        crc_next = crc_of(m, crc, byte, "reply_crc")
        with m.If(tx.valid & tx.ready):
            m.d.sync += [idx.eq(idx + 1), crc.eq(crc_next)]
            with m.If(idx == 0):
                m.d.comb += Assert(byte == SYNC[0], "reply_sync0")
            with m.If(idx == 1):
                m.d.comb += Assert(byte == SYNC[1], "reply_sync1")
                m.d.sync += crc.eq(0xFFFF)
            with m.If(at_status):
                m.d.sync += status.eq(byte)
                known = Const(0)
                for code in (Status.OK, Status.BAD_LENGTH, Status.BAD_CHECKSUM, Status.FRAMING_ERROR,
                             Status.TIMEOUT, Status.INFO):
                    known = known | (byte == code)
                m.d.comb += Assert(known, "reply_status_known")
            with m.If((idx > 2) & last):
                m.d.comb += Assert(crc_next == 0, "reply_crc_good")
                m.d.sync += [idx.eq(0), replies.eq(replies + 1), ok_replies.eq(ok_replies + (status == Status.OK))]
        return replies, ok_replies

    @staticmethod
    def _one_reply_per_good_frame(m, link, hist, good_bytes, started, replies, ok_replies):
        """3: a good frame begun while idle, with short gaps and no framing
        error inside, starts the accelerator 3 cycles after its last byte
        and has exactly one reply, an OK one, when the link is idle again."""
        good = good_bytes & hist[0]["idle"]
        for slot in hist[1:]:
            good = good & slot["short"] & slot["clean"]
        last_byte = Signal()
        m.d.sync += last_byte.eq(link.rx.valid & ~link.rx.payload.ferr)
        frame_end = last_byte & good       # the cycle after a good frame's last byte
        wait = Signal(range(4))
        expect = Signal()
        base, base_ok = Signal(8), Signal(8)
        with m.If(frame_end):
            m.d.sync += [wait.eq(2), expect.eq(1), base.eq(replies), base_ok.eq(ok_replies)]
        with m.Elif(wait != 0):
            m.d.sync += wait.eq(wait - 1)
            with m.If(wait == 1):
                m.d.comb += Assert(link.acc_i.valid, "link_good_frame_starts_the_accelerator")
        busy_was = Signal()
        m.d.sync += busy_was.eq(link.busy)
        with m.If(busy_was & ~link.busy & expect):
            m.d.sync += expect.eq(0)
            m.d.comb += [Assert(replies == base + 1, "link_good_frame_exactly_one_reply"),
                         Assert(ok_replies == base_ok + 1, "link_good_frame_reply_is_ok")]


class ForgetfulTimer(HostLink):
    """Mutant: the inactivity timer counts from the frame's start and is not
    reset by its bytes, so a good frame with gaps times out."""

    def _request_decoder(self, m, image):
        request = super()._request_decoder(m, image)
        timer = Signal(range(self.timeout_cycles + 1))
        with m.If(request.in_frame):
            m.d.sync += timer.eq(timer + 1)
        with m.Else():
            m.d.sync += timer.eq(0)
        request.timed_out = request.in_frame & (timer >= self.timeout_cycles - 1)
        return request


class IgnoresCrc(HostLink):
    """Mutant: a frame of the right length is accepted whatever its CRC."""

    def _check_state(self, m, request, feeder):
        with m.State("CHECK"):
            with m.If(request.len_ok):
                self._accept_image(m, request, feeder)
            with m.Elif(request.len_zero):
                self._answer(m, request, Status.INFO)
            with m.Else():
                self._answer(m, request, Status.BAD_LENGTH)


def _link(cls=HostLink):
    return cls(SHAPE, CLASSES, timeout_cycles=TIMEOUT)


# A whole good frame (its last byte at cycle 24 at GAP 4) and the start of
# the accelerator 3 cycles later.  A whole reply too (~60 cycles) is beyond
# what yices reaches in minutes here: step 44 took 24 min (docs/verification.md).
BMC_DEPTH = 32


def _run(name, wrapper, proof):
    return run_proof(name, wrapper, wrapper.ports, proof)


def test_link_stream_rules_bmc():
    r = _run("link_streams_bmc", LinkProof(_link(), free_acc=True), Proof(Mode.BMC, BMC_DEPTH))
    assert r.passed, r.message()


def test_link_properties_bmc():
    r = _run("link_bmc", LinkProof(_link()), Proof(Mode.BMC, BMC_DEPTH))
    assert r.passed, r.message()


def _refuted(name, link, property_text, depth=BMC_DEPTH):
    r = _run(name, LinkProof(link), Proof(Mode.BMC, depth))
    assert not r.passed, f"{name}: the mutant passed"
    assert r.trace is not None and any(property_text in f for f in r.failures), r.message()


def test_mutant_forgetful_timer_fails():
    _refuted("mutant_forgetful_timer", _link(ForgetfulTimer), "link_good_frame")


def test_mutant_ignores_crc_fails():
    _refuted("mutant_ignores_crc", _link(IgnoresCrc), "link_acc_starts_only_on_a_good_frame")


def test_checker_crc_matches_the_protocol():
    """The checker's bit-serial CRC (``crc_of``) is ``fpga.protocol.crc16``."""
    from amaranth.sim import Simulator
    from fpga import protocol
    data = bytes([0x01, 0x00, 0x7E, 0xA5, 0xFF])
    m = Module()
    inputs = [Signal(8, name=f"in{k}") for k in range(len(data))]
    crc = Const(0xFFFF, 16)
    for k, byte in enumerate(inputs):
        crc = crc_of(m, crc, byte, f"c{k}")
    got = []

    async def bench(ctx):
        for sig, value in zip(inputs, data):
            ctx.set(sig, value)
        got.append(ctx.get(crc))

    sim = Simulator(m)
    sim.add_testbench(bench)
    sim.run()
    assert got == [protocol.crc16(data)]
