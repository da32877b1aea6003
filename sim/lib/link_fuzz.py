"""The host-link fuzzer: a seeded generator of hostile byte streams for the
simulated board (``sim.lib.fuzz_harness``), and the judge of what came back.

The stream is a sequence of segments, each a *disturbance* -- random
bytes, a truncated frame, a doubled frame, a wrong length, a bad CRC, a
framing error inside a frame, a burst at a wrong baud, a break, a long
silence, an info query -- then a ``CHECK`` (wait until the link is idle,
and report how long that took: the recovery time), then a *valid frame* of
a random image, then another ``CHECK`` (its reply is out before the next
disturbance).  The judge requires, per segment:

* the valid frame gets exactly one reply, OK, with the stand-in's golden
  class and sums (``fpga.testing.standin_reference``);
* every other reply is well formed (sync, status, body, CRC) and is an
  error, an info reply, or an OK reply equal to the golden answer of a
  whole frame inside the disturbance -- at most one per such frame (no
  doubled reply);
* the recovery time is reported (no hang) and is at most ``recovery_bound``.
"""
from __future__ import annotations

import io
import random
from dataclasses import dataclass, field

from fpga import protocol
from fpga.testing import standin_reference
from sim.lib.fuzz_harness import GUARD, SATURATED, encode_byte, encode_check, encode_hold

__all__ = ["FuzzConfig", "Segment", "generate", "judge", "Verdict", "DISTURBANCES"]

DISTURBANCES = ("random_bytes", "truncated_frame", "doubled_frame", "wrong_length", "bad_crc",
                "framing_error", "wrong_baud_burst", "break", "long_silence", "info_query")


@dataclass(frozen=True)
class FuzzConfig:
    """The board's ``divisor`` (cycles per bit) and ``timeout_cycles``, the
    image ``shape`` and ``num_classes`` of the stand-in, the host's baud
    error ``baud_error`` (e.g. 0.02: its bit is 2 % longer), the stream's
    ``seed`` and its size in ``bytes``."""
    divisor: int
    timeout_cycles: int
    shape: tuple
    num_classes: int
    seed: int
    bytes: int
    baud_error: float = 0.0

    @property
    def pixels(self) -> int:
        h, w, c = self.shape
        return h * w * c

    @property
    def host_period16(self) -> int:
        return round(16 * self.divisor * (1 + self.baud_error))

    @property
    def recovery_bound(self) -> int:
        """Cycles from a disturbance's end to the link idle, at most: the
        timeout, then the longest reply (an OK one) and the bytes still in
        the UARTs, plus the link's own few cycles."""
        reply_bytes = 3 + 1 + 4 * self.num_classes + 1 + 2
        return self.timeout_cycles + (reply_bytes + 3) * 10 * self.divisor + 64


@dataclass
class Segment:
    """One disturbance and the valid frame after it."""
    kind: str
    frame: bytes                     # the checked frame's pixels
    embedded: list = field(default_factory=list)     # pixel strings of whole frames inside the disturbance


class _Builder:
    def __init__(self, config: FuzzConfig, rng: random.Random):
        self.config, self.rng = config, rng
        self.cmds: list[int] = []
        self.bytes = 0

    def send(self, data: bytes, period16: int | None = None, ferr_at=()):
        p = period16 or self.config.host_period16
        for k, b in enumerate(data):
            self.cmds.append(encode_byte(b, p, stop=0 if k in ferr_at else 1))
            if k in ferr_at:
                self.cmds.append(encode_hold(1, 2 * self.config.divisor))   # the line must rise again
        self.bytes += len(data)

    def image(self) -> bytes:
        return bytes(self.rng.randrange(256) for _ in range(self.config.pixels))


def _disturb(b: _Builder, kind: str) -> list:
    """Appends one disturbance of ``kind``; returns the whole frames in it."""
    rng, cfg = b.rng, b.config
    frame = protocol.encode_request(b.image())
    if kind == "random_bytes":
        b.send(bytes(rng.randrange(256) for _ in range(rng.randint(1, 3 * len(frame)))))
    elif kind == "truncated_frame":
        b.send(frame[:rng.randint(1, len(frame) - 1)])
    elif kind == "doubled_frame":
        b.send(frame + frame)
        return [frame[4:-2], frame[4:-2]]
    elif kind == "wrong_length":
        n = rng.choice([1, cfg.pixels - 1, cfg.pixels + 1, rng.randint(1, 3 * cfg.pixels), 0xFFFF])
        n = n if n != cfg.pixels else n + 1
        body = n.to_bytes(2, "little") + bytes(rng.randrange(256) for _ in range(min(n, 3 * cfg.pixels)))
        b.send(protocol.SYNC + body + protocol.crc16(body).to_bytes(2, "big"))
    elif kind == "bad_crc":
        bad = bytearray(frame)
        bad[rng.randrange(4, len(bad))] ^= 1 << rng.randrange(8)
        b.send(bytes(bad))
    elif kind == "framing_error":
        b.send(frame, ferr_at={rng.randrange(len(frame))})
    elif kind == "wrong_baud_burst":
        factor = rng.choice([0.5, 0.7, 0.85, 1.2, 1.5, 2.0, 3.0])
        whole = rng.random() < 0.5
        data = frame if whole else bytes(rng.randrange(256) for _ in range(rng.randint(1, 40)))
        b.send(data, period16=max(16, round(16 * cfg.divisor * factor)))
        if whole:
            return [frame[4:-2]]          # a near-rate burst may still be read correctly
    elif kind == "break":
        b.cmds.append(encode_hold(0, rng.randint(11, 40 * 10) * cfg.divisor))
    elif kind == "long_silence":
        b.cmds.append(encode_hold(1, rng.randint(1, 3) * cfg.timeout_cycles + rng.randint(1, 100)))
    elif kind == "info_query":
        b.send(protocol.encode_info_request())
    else:
        raise ValueError(f"unknown disturbance {kind!r}")
    return []


def generate(config: FuzzConfig) -> tuple[list[int], list[Segment], int]:
    """(commands, segments, bytes sent): disturbances and checked frames
    until at least ``config.bytes`` bytes, then a final ``CHECK``."""
    rng = random.Random(config.seed)
    b = _Builder(config, rng)
    segments = []
    while b.bytes < config.bytes:
        kind = rng.choice(DISTURBANCES)
        embedded = _disturb(b, kind)
        b.cmds.append(encode_check())        # the recovery time after the disturbance
        pixels = b.image()
        b.send(protocol.encode_request(pixels))
        # wait for the reply, so the next disturbance is not discarded as
        # bytes arriving during a reply (the link is half duplex)
        b.cmds.append(encode_check())
        segments.append(Segment(kind, pixels, embedded))
    return b.cmds, segments, b.bytes


class _Port:
    def __init__(self, data: bytes):
        self.stream, self.short = io.BytesIO(data), False

    def read(self, n: int) -> bytes:
        got = self.stream.read(n)
        self.short |= len(got) < n
        return got


def _replies(data: bytes) -> tuple[list, bytes]:
    """Whole replies decoded from ``data`` (Result, Info or LinkError), and
    the bytes left over (an unfinished or garbled tail)."""
    out = []
    while data:
        port = _Port(data)
        try:
            decoded = protocol.read_reply(port, max_skip=1)     # a reply starts right at its sync
        except protocol.LinkError as e:
            decoded = e
        if port.short or (isinstance(decoded, protocol.LinkError) and "no reply sync" in str(decoded)):
            break
        used = port.stream.tell()
        out.append(decoded)
        data = data[used:]
    return out, data


@dataclass(frozen=True)
class Verdict:
    """``errors`` (empty: passed), the recovery times (cycles) and counts."""
    errors: tuple[str, ...]
    recoveries: tuple[int, ...]
    replies: int
    ok_replies: int

    @property
    def passed(self) -> bool:
        return not self.errors


def _expected(config: FuzzConfig, pixels: bytes) -> protocol.Result:
    cls, sums = standin_reference(list(pixels), config.num_classes)
    return protocol.Result(cls=cls, sums=tuple(sums))


def _judge_part(config, part: bytes, checked: bytes | None, embedded: list, where: str) -> tuple[list, int, int]:
    replies, tail = _replies(part)
    errors = [f"{where}: {len(tail)} bytes that are not a whole reply ({tail[:16].hex()})"] if tail else []
    if checked is not None:
        want = _expected(config, checked)
        if not replies or replies[0] != want:
            got = replies[0] if replies else "no reply"
            errors.append(f"{where}: the valid frame got {got!r}, want {want!r}")
        rest = replies[1:]
    else:
        rest = replies
    allowed = [_expected(config, p) for p in embedded]
    for r in rest:
        if isinstance(r, protocol.Result):
            if r in allowed:
                allowed.remove(r)
            else:
                errors.append(f"{where}: an OK reply {r!r} to no frame sent (or doubled)")
        elif isinstance(r, protocol.LinkError) and "checksum mismatch" in str(r):
            errors.append(f"{where}: a reply with a bad checksum")
    ok = sum(isinstance(r, protocol.Result) for r in replies)
    return errors, len(replies), ok


def judge(config: FuzzConfig, segments: list[Segment], tokens) -> Verdict:
    """Checks the host tokens (``sim.lib.fuzz_harness``) against the segments:
    per segment two checks, so two parts -- the disturbance's replies, then
    the valid frame's, which must be exactly one OK reply equal to the
    golden answer."""
    parts, reports, current = [], [], bytearray()
    for t in (int(t) for t in tokens):
        if t >> 30 == 1:
            parts.append(bytes(current))
            current = bytearray()
            reports.append((t & SATURATED) - GUARD if (t & SATURATED) != SATURATED else SATURATED)
        else:
            current.append(t & 0xFF)
    errors: list[str] = []
    if current:
        errors.append(f"{len(current)} reply bytes after the last check")
    if len(parts) != 2 * len(segments):
        errors.append(f"{len(parts)} checks reported, want {2 * len(segments)} (the link hung?)")
    n_replies = n_ok = 0
    for k, segment in enumerate(segments[:len(parts) // 2]):
        where = f"segment {k} ({segment.kind})"
        e, n, ok = _judge_part(config, parts[2 * k], None, segment.embedded, where)
        e2, n2, ok2 = _judge_part(config, parts[2 * k + 1], segment.frame, [], where + ", its valid frame")
        if n2 != 1:
            e2.append(f"{where}: {n2} replies to the valid frame, want exactly 1")
        errors += e + e2
        n_replies, n_ok = n_replies + n + n2, n_ok + ok + ok2
    recoveries = tuple(reports[0::2])
    for k, r in enumerate(reports):
        if r > config.recovery_bound:
            errors.append(f"check {k}: idle after {r} cycles, bound {config.recovery_bound}"
                          + (" (hung)" if r == SATURATED else ""))
    return Verdict(tuple(errors), recoveries, n_replies, n_ok)
