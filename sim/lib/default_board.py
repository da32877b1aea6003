"""The simulation of the bitstream ``make build`` makes: the default
board, bundle and architecture resolved the way ``python -m rtl_gen.build
--board ice40`` resolves them (``squeezefire.build.resolve_inputs``), the
same accelerator, clock, baud and network id, and the ``board.json`` that
build writes -- so a test of it talks to what a user's board runs."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from fpga.board_info import BoardInfo
from sim.lib.board_harness import BoardHarness

__all__ = ["DefaultBoard", "default_board"]


@dataclass(frozen=True, eq=False)
class DefaultBoard:
    harness: BoardHarness
    models: tuple[str, ...]         # sim/lib/models files the design needs
    info: BoardInfo                 # what the build writes as board.json
    accelerator: object


def default_board(out: Path, board_key: str = "ice40") -> DefaultBoard:
    """``out``: the build folder the build would write (must not hold
    another command's files; nothing is written here)."""
    from squeezefire import build as B
    from squeezefire.architectures import arch_clock, engine_options, make_accelerator
    from sim.lib.yosys_models import engine_models
    inputs = B.resolve_inputs(board_key, out=out)
    acc = make_accelerator(inputs.bundle, inputs.board, inputs.arch)
    clock_hz, _ = arch_clock(inputs.board, inputs.arch)
    info = B.board_info(inputs, acc, clock_hz)
    harness = BoardHarness(acc, clock_hz=clock_hz, baud=inputs.baud, image_ram=inputs.board.image_ram,
                           network_id=info.network_id)
    extra = engine_models(**engine_options(inputs.board)) if inputs.arch == "engine" else ()
    return DefaultBoard(harness, tuple(dict.fromkeys(harness.models + tuple(extra))), info, acc)
