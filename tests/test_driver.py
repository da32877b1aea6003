"""fpga.run (host driver) and fpga.protocol against a fake serial port that
models the board with the same framing rules (no hardware here)."""
import struct
import zlib

import numpy as np
import pytest

from fpga import protocol, run
from fpga.testing import standin_reference

SHAPE, NCLS = (28, 28, 1), 10


class FakeBoard:
    """A pyserial-like object answering like fpga.link + the stand-in."""

    def __init__(self, port=None, baud=None, timeout=None, status=None, silent=False):
        self.rx = bytearray()
        self.status, self.silent = status, silent
        self.closed = False
        self.requests = []

    def reset_input_buffer(self):
        self.rx.clear()

    def write(self, data):
        data = bytes(data)
        assert data[:2] == protocol.SYNC
        n = int.from_bytes(data[2:4], "little")
        assert protocol.crc16(data[2:]) == 0
        self.requests.append(data[4:4 + n])
        if self.silent:
            return len(data)
        if n == 0:
            body = bytes([protocol.Status.INFO]) + struct.pack("<HHBB", *SHAPE, NCLS)
        elif self.status is not None:
            body = bytes([self.status])
        else:
            cls, sums = standin_reference(np.frombuffer(data[4:4 + n], np.uint8), NCLS)
            body = bytes([0, NCLS]) + struct.pack(f"<{NCLS}i", *sums) + bytes([cls])
        self.rx += b"\x00" + protocol.SYNC + body + protocol.crc16(body).to_bytes(2, "big")
        return len(data)

    def read(self, n):
        out, self.rx = bytes(self.rx[:n]), self.rx[n:]
        return out

    def close(self):
        self.closed = True


def _png(img, ctype, filters=(0, 1, 2, 3, 4), palette=None):
    """A tiny PNG writer (8-bit, non-interlaced) cycling through all filters."""
    h, w = img.shape[:2]
    raw = bytearray()
    bpp = img.shape[2]
    prev = np.zeros(w * bpp, np.int32)
    for y in range(h):
        line = img[y].reshape(-1).astype(np.int32)
        f = filters[y % len(filters)]
        left = np.concatenate([np.zeros(bpp, np.int32), line[:-bpp]])
        upleft = np.concatenate([np.zeros(bpp, np.int32), prev[:-bpp]])
        if f == 0:
            enc = line
        elif f == 1:
            enc = line - left
        elif f == 2:
            enc = line - prev
        elif f == 3:
            enc = line - (left + prev) // 2
        else:
            p = left + prev - upleft
            pa, pb, pc = abs(p - left), abs(p - prev), abs(p - upleft)
            enc = line - np.where((pa <= pb) & (pa <= pc), left, np.where(pb <= pc, prev, upleft))
        raw += bytes([f]) + bytes((enc & 0xFF).astype(np.uint8))
        prev = line

    def chunk(kind, body):
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))
    out = b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, 8, ctype, 0, 0, 0))
    if palette is not None:
        out += chunk(b"PLTE", palette.tobytes())
    return out + chunk(b"IDAT", zlib.compress(bytes(raw))) + chunk(b"IEND", b"")


@pytest.mark.parametrize("ctype, channels", [(0, 1), (2, 3), (4, 2), (6, 4)])
def test_png_reader_all_filters(ctype, channels):
    img = np.random.default_rng(ctype).integers(0, 256, (9, 7, channels), dtype=np.uint8)
    assert np.array_equal(run.read_png(_png(img, ctype)), img)


def test_png_palette():
    pal = np.array([[0, 0, 0], [255, 0, 0], [10, 20, 30]], np.uint8)
    idx = np.random.default_rng(1).integers(0, 3, (5, 6, 1), dtype=np.uint8)
    assert np.array_equal(run.read_png(_png(idx, 3, palette=pal)), pal[idx[:, :, 0]])


def test_fit_image_greyscale_and_area_resize():
    img = np.zeros((56, 56, 3), np.uint8)
    img[:, :28] = (255, 255, 255)
    out = run.fit_image(img, (28, 28, 1))
    assert out.shape == (28, 28, 1) and out[0, 0, 0] == 255 and out[0, 27, 0] == 0
    grey = run.fit_image(np.full((10, 10, 3), (100, 50, 200), np.uint8), (2, 2, 1))
    assert (grey == round(0.299 * 100 + 0.587 * 50 + 0.114 * 200)).all()
    up = run.fit_image(np.arange(4, dtype=np.uint8).reshape(2, 2, 1), (4, 4, 1))
    assert up[:, :, 0].tolist() == [[0, 0, 1, 1], [0, 0, 1, 1], [2, 2, 3, 3], [2, 2, 3, 3]]


def test_main_prints_class(tmp_path, capsys):
    img = np.random.default_rng(2).integers(0, 256, (28, 28), dtype=np.uint8)
    np.save(tmp_path / "img.npy", img)
    boards = []

    def factory(*a, **k):
        boards.append(FakeBoard(*a, **k))
        return boards[-1]
    rc = run.main(["--port", "fake", "--image", str(tmp_path / "img.npy"), "--sums"], serial_factory=factory)
    out = capsys.readouterr().out
    cls, sums = standin_reference(img, NCLS)
    names = run.class_names(run.DEFAULT_BUNDLE)
    assert rc == 0 and out.splitlines()[0] == f"class {cls} ({names[cls]})"
    assert out.splitlines()[1] == "sums " + " ".join(map(str, sums))
    assert boards[0].requests[1] == img.tobytes() and boards[0].closed


def test_main_png_resized(tmp_path, capsys):
    img = np.random.default_rng(3).integers(0, 256, (56, 84, 3), dtype=np.uint8)
    (tmp_path / "x.png").write_bytes(_png(img, 2))
    board = FakeBoard()
    assert run.main(["--port", "p", "--image", str(tmp_path / "x.png")], serial_factory=lambda *a, **k: board) == 0
    assert len(board.requests[1]) == 28 * 28
    assert board.requests[1] == run.fit_image(img, SHAPE).tobytes()


@pytest.mark.parametrize("board, rc, message", [
    (dict(status=protocol.Status.BAD_CHECKSUM), 1, "error: board answered error 0x02: bad checksum"),
    (dict(silent=True), 1, "error: timeout waiting for the reply (0 of 1 bytes)"),
])
def test_main_error_replies(tmp_path, capsys, board, rc, message):
    np.save(tmp_path / "i.npy", np.zeros((28, 28), np.uint8))
    got = run.main(["--port", "p", "--image", str(tmp_path / "i.npy")],
                   serial_factory=lambda *a, **k: FakeBoard(**board))
    assert got == rc and capsys.readouterr().err.strip() == message


def test_main_bad_image_and_missing_port(tmp_path, capsys):
    (tmp_path / "bad.png").write_bytes(b"not a png")
    assert run.main(["--port", "p", "--image", str(tmp_path / "bad.png")], serial_factory=FakeBoard) == 2
    assert capsys.readouterr().err.strip() == f"error: cannot read image {tmp_path / 'bad.png'}: not a PNG file"
    assert run.main(["--port", "p", "--image", str(tmp_path / "none.npy")], serial_factory=FakeBoard) == 2
    assert "cannot read image" in capsys.readouterr().err
    np.save(tmp_path / "i.npy", np.zeros((28, 28), np.uint8))
    rc = run.main(["--port", "/dev/does-not-exist", "--image", str(tmp_path / "i.npy")])
    err = capsys.readouterr().err.strip()
    assert rc == 2 and err.startswith("error: cannot open /dev/does-not-exist:") and "\n" not in err


def test_reply_sums_are_signed_int32():
    """A logits classifier's class sums can be negative: the reply carries
    them as two's-complement int32 (the accelerator's ``class_layout``)."""
    sums = (-2**31, -5, 0, 2**31 - 1)
    body = bytes([0, len(sums)]) + b"".join(v.to_bytes(4, "little", signed=True) for v in sums) + bytes([1])
    port = FakeBoard()
    port.rx += protocol.SYNC + body + protocol.crc16(body).to_bytes(2, "big")
    assert protocol.read_reply(port) == protocol.Result(cls=1, sums=sums)
