"""fpga.link (HostLink) with the test stand-in accelerator, in Amaranth's
simulator: good frames, every error reply, resynchronisation after errors,
and the host-side codec (fpga.protocol) against the hardware CRC."""
import io
import random

import numpy as np
import pytest
from amaranth.hdl import Fragment, Module, Signal
from amaranth.lib import wiring
from amaranth.sim import Simulator

from fpga import protocol
from fpga.link import HostLink, crc16_update
from fpga.protocol import Info, LinkError, Result
from fpga.testing import ClassSumStandIn, standin_reference
from rtl_gen.accelerator import AcceleratorSignature, class_layout


class _Bench:
    def __init__(self, shape, ncls, timeout=400, acc_stall=0, network_id=0, double=None):
        self.m = Module()
        self.m.submodules.acc = self.acc = ClassSumStandIn(shape, ncls)
        self.m.submodules.link = self.link = HostLink(shape, ncls, timeout_cycles=timeout, network_id=network_id,
                                                      double_buffer=double)
        if acc_stall:
            # The stand-in never stalls inside a frame, but the real network
            # does; block the image handshake on acc_stall/256 of the cycles
            # (maximal-length Galois LFSR).
            lfsr = Signal(16, init=0xACE1)
            go = lfsr[:8] >= acc_stall
            self.m.d.sync += lfsr.eq((lfsr >> 1) ^ (lfsr[0].replicate(16) & 0xB400))
            ai, i = self.link.acc_i, self.acc.i
            self.m.d.comb += [i.payload.eq(ai.payload), i.valid.eq(ai.valid & go), ai.ready.eq(i.ready & go)]
        else:
            wiring.connect(self.m, self.link.acc_i, self.acc.i)
        wiring.connect(self.m, self.acc.o, self.link.acc_o)


def _complete_replies(stream: bytes) -> int:
    """How many whole replies ``stream`` holds (``sim.benches.board_uart_tb.parse_reply``)."""
    from sim.benches.board_uart_tb import parse_reply
    n = 0
    while (parsed := parse_reply(stream)) is not None:
        stream, n = stream[parsed[0]:], n + 1
    return n


def run_session(shape, ncls, events, seed=0, timeout=400, tx_stall=0.3, settle=600, acc_stall=0, window=1,
                network_id=0, double=None):
    """events: ("bytes", b) | ("ferr", byte) | ("idle", cycles).  Returns the
    reply byte stream and the frame/error LED values at the end.  A host
    with ``window`` 1 waits for each reply before its next request (the
    link's ``busy``); with 2 it sends request ``k`` once reply ``k - 2`` is
    complete (protocol version 2: the board receives while it computes)."""
    b = _Bench(shape, ncls, timeout, acc_stall, network_id, double=True if window == 2 else double)
    link = b.link
    out = bytearray()
    leds = {}
    done = []

    async def source(ctx):
        rng = random.Random(seed)
        sent = 0
        for kind, arg in events:
            if kind == "idle":
                await ctx.tick().repeat(arg)
                continue
            request = kind == "bytes" and bytes(arg[:2]) == protocol.SYNC
            if request and window == 1 and ctx.get(link.busy):
                await ctx.tick().until(~link.busy)
            while request and window == 2 and _complete_replies(bytes(out)) < sent - 1:
                await ctx.tick().repeat(50)
            if request and window == 2:
                # a host hears a reply's last byte a UART byte after the link
                # hands it over (>= 40 cycles), and its next byte takes
                # another; the link needs 3 to be hunting again
                await ctx.tick().repeat(40)
            sent += request
            data = bytes(arg) if kind == "bytes" else bytes([arg])
            for v in data:
                ctx.set(link.rx.payload, {"data": v, "ferr": int(kind == "ferr")})
                ctx.set(link.rx.valid, 1)
                await ctx.tick()
                ctx.set(link.rx.valid, 0)
                # back to back, a request may follow a frame only a UART byte
                # later (>= 40 cycles); CHECK and HAND take 2 of them
                for _ in range(rng.randrange(0, 4) + 3 * (window == 2)):
                    await ctx.tick()
        done.append(True)

    async def sink(ctx):
        rng = random.Random(seed + 1)
        quiet = 0
        while not done or quiet < settle:
            ready = rng.random() >= tx_stall
            ctx.set(link.tx.ready, ready)
            _, _, valid, p, busy = await ctx.tick().sample(link.tx.valid, link.tx.payload, link.busy)
            if valid and ready:
                out.append(int(p))
            quiet = 0 if (busy or valid) else quiet + 1
        leds["frame"] = ctx.get(link.frame_led)
        leds["error"] = ctx.get(link.error_led)

    sim = Simulator(b.m)
    sim.add_clock(1e-6)
    sim.add_testbench(source, background=True)
    sim.add_testbench(sink)
    sim.run()
    return bytes(out), leds


def replies(stream):
    port = io.BytesIO(stream)
    got = []
    while port.tell() < len(stream):
        try:
            got.append(protocol.read_reply(port))
        except LinkError as e:
            got.append(str(e))
    return got


SHAPE, NCLS = (4, 5, 2), 3


def _image(seed, shape=SHAPE):
    return np.random.default_rng(seed).integers(0, 256, shape, dtype=np.uint8)


def _expect(img, ncls=NCLS):
    cls, sums = standin_reference(img, ncls)
    return Result(cls=cls, sums=tuple(sums))


def test_crc_matches_python():
    rng = random.Random(5)
    for _ in range(20):
        data = bytes(rng.randrange(256) for _ in range(rng.randrange(1, 30)))
        c = 0xFFFF
        for v in data:
            c = crc16_update(c, v)
        assert c == protocol.crc16(data)
        # Running the CRC over the big-endian CRC leaves 0: the receiver's check.
        assert protocol.crc16(data + c.to_bytes(2, "big")) == 0


def test_good_frames_back_to_back():
    imgs = [_image(s) for s in range(3)]
    imgs.append(np.full(SHAPE, 7, np.uint8))          # all sums tie-ish: argmax lowest
    events = [("bytes", protocol.encode_request(im.tobytes())) for im in imgs]
    out, leds = run_session(SHAPE, NCLS, events)
    assert replies(out) == [_expect(im) for im in imgs]
    assert leds == {"frame": 0, "error": 0}          # toggled 4 times


def test_accelerator_stalls_inside_a_frame():
    """Every pixel reaches the accelerator once and in order when it
    refuses beats mid-frame (a stalled beat must hold its pixel)."""
    imgs = [_image(s) for s in (21, 22)]
    out, _ = run_session(SHAPE, NCLS, [("bytes", protocol.encode_request(im.tobytes())) for im in imgs],
                         acc_stall=128)
    assert replies(out) == [_expect(im) for im in imgs]


def test_link_speaks_the_accelerator_signature():
    """The link's accelerator ports are ``AcceleratorSignature``'s, flipped:
    the stand-in (and any accelerator) connects to them as it is (``connect``
    refuses any other layout), and the result beat is ``class_layout``,
    whose argmax has ceil(log2 N) bits (2 for the 3 classes every session
    above runs)."""
    link, acc = HostLink(SHAPE, NCLS), ClassSumStandIn(SHAPE, NCLS)
    assert acc.signature == AcceleratorSignature(SHAPE, NCLS) == link.params.accelerator
    assert link.acc_o.payload.shape() == class_layout(NCLS) and class_layout(NCLS).size == 32 + 2 + 2
    m = Module()
    m.submodules.link, m.submodules.acc = link, acc
    wiring.connect(m, link.acc_i, acc.i)
    wiring.connect(m, acc.o, link.acc_o)
    Fragment.get(m, None)


def test_info_query():
    out, _ = run_session(SHAPE, NCLS, [("bytes", protocol.encode_info_request())], network_id=0xDEADBEEF)
    assert replies(out) == [Info(shape=SHAPE, num_classes=NCLS, version=1, network=0xDEADBEEF)]   # block RAM: one image
    out, _ = run_session(SHAPE, NCLS, [("bytes", protocol.encode_info_request())], double=True)
    assert replies(out) == [Info(shape=SHAPE, num_classes=NCLS, version=2, network=0)]


@pytest.mark.parametrize("acc_stall", [0, 200])
def test_two_requests_outstanding(acc_stall):
    """Protocol version 2: the host sends request k + 1 before reply k (and
    k + 2 once reply k is in), error frames among them; every reply comes
    back in order and every image's sums are its own, also while the
    accelerator stalls the feed (the next image is written into the other
    half of the buffer meanwhile)."""
    imgs = [_image(s) for s in range(30, 36)]
    bad = bytearray(protocol.encode_request(imgs[0].tobytes()))
    bad[7] ^= 1
    frames = [protocol.encode_request(im.tobytes()) for im in imgs]
    events = [("bytes", f) for f in (frames[0], frames[1], bytes(bad), frames[2], protocol.encode_info_request(),
                                     *frames[3:])]
    out, leds = run_session(SHAPE, NCLS, events, window=2, acc_stall=acc_stall)
    want = [_expect(imgs[0]), _expect(imgs[1]), "board answered error 0x02: bad checksum", _expect(imgs[2]),
            Info(shape=SHAPE, num_classes=NCLS, version=2), *map(_expect, imgs[3:])]
    assert replies(out) == want
    assert leds["error"] == 0


def test_bad_checksum_then_recovers():
    img = _image(1)
    bad = bytearray(protocol.encode_request(img.tobytes()))
    bad[10] ^= 0x40
    out, leds = run_session(SHAPE, NCLS, [("bytes", bad), ("bytes", protocol.encode_request(img.tobytes()))])
    assert replies(out) == ["board answered error 0x02: bad checksum", _expect(img)]
    assert leds == {"frame": 1, "error": 0}


@pytest.mark.parametrize("n", [1, 39, 41, 300])
def test_wrong_length_is_skipped_and_answered(n):
    wrong = protocol.encode_request(bytes(i % 256 for i in range(n)))
    img = _image(2)
    out, _ = run_session(SHAPE, NCLS, [("bytes", wrong), ("bytes", protocol.encode_request(img.tobytes()))])
    assert replies(out) == ["board answered error 0x01: bad length", _expect(img)]


def test_short_frame_times_out_then_recovers():
    img = _image(3)
    req = protocol.encode_request(img.tobytes())
    out, leds = run_session(SHAPE, NCLS, [("bytes", req[:-7]), ("idle", 1000)], timeout=300)
    assert replies(out) == ["board answered error 0x04: timeout (frame too short)"]
    assert leds == {"frame": 0, "error": 1}
    out, _ = run_session(SHAPE, NCLS, [("bytes", req[:-7]), ("idle", 1000), ("bytes", req)], timeout=300)
    assert replies(out)[1] == _expect(img)


def test_framing_error_aborts_and_resyncs():
    img = _image(4)
    req = protocol.encode_request(img.tobytes())
    events = [("bytes", req[:15]), ("ferr", 0x00), ("bytes", req[15:]),   # the rest is hunted through
              ("bytes", b"\x00\xa5\x11"), ("bytes", req)]
    out, _ = run_session(SHAPE, NCLS, events)
    got = replies(out)
    assert got[0] == "board answered error 0x03: UART framing error"
    assert got[-1] == _expect(img)


def test_framing_error_outside_frame_is_ignored():
    img = _image(5)
    out, _ = run_session(SHAPE, NCLS, [("ferr", 0xA5), ("bytes", b"\x13\x37"),
                                       ("bytes", protocol.encode_request(img.tobytes()))])
    assert replies(out) == [_expect(img)]


def test_reference_shape_frame():
    shape, ncls = (28, 28, 1), 10
    img = _image(6, shape)
    out, _ = run_session(shape, ncls, [("bytes", protocol.encode_request(img.tobytes()))], tx_stall=0.0)
    assert replies(out) == [_expect(img, ncls)]


@pytest.mark.parametrize("kwargs", [dict(in_shape=(0, 1, 1), num_classes=3),
                                    dict(in_shape=(300, 300, 1), num_classes=3),
                                    dict(in_shape=(2, 2, 1), num_classes=0),
                                    dict(in_shape=(2, 2, 1), num_classes=3, timeout_cycles=2)])
def test_parameters_validated(kwargs):
    with pytest.raises(ValueError):
        HostLink(**kwargs)


def test_codec_rejects_bad_replies():
    good = protocol.SYNC + bytes([0x04]) + protocol.crc16(bytes([0x04])).to_bytes(2, "big")
    with pytest.raises(LinkError, match="timeout"):
        protocol.read_reply(io.BytesIO(b""))
    with pytest.raises(LinkError, match="checksum"):
        protocol.read_reply(io.BytesIO(good[:-1] + b"\x00"))
    with pytest.raises(LinkError, match="no reply sync"):
        protocol.read_reply(io.BytesIO(b"\x00" * 100))
    with pytest.raises(ValueError):
        protocol.encode_request(b"")
