"""Host side of the link protocol (``docs/host-link.md``): pure Python, no
hardware, shared by ``fpga.run`` and the tests."""
from __future__ import annotations

import binascii
import struct
from dataclasses import dataclass

__all__ = ["SYNC", "PROTOCOL_VERSION", "INFO_BODY", "Status", "LinkError", "Result", "Info", "crc16", "network_id",
           "encode_request", "encode_info_request", "read_reply"]

SYNC = bytes((0xA5, 0x5A))
# 2: the info reply names the version and the network; two requests may be
# outstanding (the board receives the next while it computes)
PROTOCOL_VERSION = 2
INFO_BODY = struct.Struct("<HHBBBI")        # H, W, C, classes, version, network id


class Status:
    OK = 0x00
    BAD_LENGTH = 0x01
    BAD_CHECKSUM = 0x02
    FRAMING_ERROR = 0x03
    TIMEOUT = 0x04
    INFO = 0x10
    NAMES = {0x00: "ok", 0x01: "bad length", 0x02: "bad checksum", 0x03: "UART framing error",
             0x04: "timeout (frame too short)", 0x10: "info"}


class LinkError(Exception):
    """A reply that is missing, malformed or an error status (one-line message)."""


@dataclass(frozen=True)
class Result:
    cls: int
    sums: tuple[int, ...]


@dataclass(frozen=True)
class Info:
    """The info reply: the board's input shape, class count, protocol
    version and network id (``network_id``; 0 for none)."""
    shape: tuple[int, int, int]
    num_classes: int
    version: int = PROTOCOL_VERSION
    network: int = 0


def network_id(bundle_sha256: str) -> int:
    """A network's id on the link: the first 4 bytes of its bundle file's
    SHA-256 (hex), as an unsigned 32-bit integer; 0 is kept for "none"."""
    return int(bundle_sha256[:8], 16) or 1


def crc16(data: bytes) -> int:
    """CRC-16/CCITT-FALSE (poly 0x1021, init 0xFFFF, no reflection, no xorout)."""
    return binascii.crc_hqx(bytes(data), 0xFFFF)


def _frame(body: bytes) -> bytes:
    return SYNC + body + crc16(body).to_bytes(2, "big")


def encode_request(pixels: bytes) -> bytes:
    """An image request: sync, u16 LE length, the pixel bytes, CRC16 (BE)."""
    pixels = bytes(pixels)
    if not 1 <= len(pixels) <= 0xFFFF:
        raise ValueError(f"a request carries 1..65535 pixel bytes, got {len(pixels)}")
    return _frame(len(pixels).to_bytes(2, "little") + pixels)


def encode_info_request() -> bytes:
    """A zero-length request: the board answers with its input shape and class count."""
    return _frame(b"\x00\x00")


def _read_exact(port, n: int, what: str) -> bytes:
    data = port.read(n)
    if len(data) != n:
        raise LinkError(f"timeout waiting for the {what} ({len(data)} of {n} bytes)")
    return bytes(data)


def read_reply(port, max_skip: int = 64):
    """Read one reply from a pyserial-like ``port`` (``read(n)`` honouring its
    timeout).  Returns a ``Result`` or an ``Info``; raises ``LinkError``."""
    skipped = 0
    prev = b""
    while True:  # hunt for the sync pair; stray bytes before it are tolerated
        b = _read_exact(port, 1, "reply")
        if prev == SYNC[:1] and b == SYNC[1:]:
            break
        prev = b
        skipped += 1
        if skipped > max_skip:
            raise LinkError("no reply sync (A5 5A) from the board")
    status = _read_exact(port, 1, "reply status")[0]
    if status == Status.OK:
        ncls = _read_exact(port, 1, "class count")[0]
        body = bytes([status, ncls]) + _read_exact(port, 4 * ncls + 1, "class sums")
    elif status == Status.INFO:
        body = bytes([status]) + _read_exact(port, INFO_BODY.size, "info body")
    else:
        body = bytes([status])
    crc = _read_exact(port, 2, "reply checksum")
    if crc16(body) != int.from_bytes(crc, "big"):
        raise LinkError("reply checksum mismatch (noisy link or wrong baud rate?)")
    if status == Status.OK:
        ncls = body[1]
        sums = struct.unpack(f"<{ncls}i", body[2:2 + 4 * ncls])
        return Result(cls=body[-1], sums=tuple(sums))
    if status == Status.INFO:
        h, w, c, ncls, version, net = INFO_BODY.unpack(body[1:])
        return Info(shape=(h, w, c), num_classes=ncls, version=version, network=net)
    raise LinkError(f"board answered error 0x{status:02x}: {Status.NAMES.get(status, 'unknown status')}")
