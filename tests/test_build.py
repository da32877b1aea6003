"""rtl_gen.build: bad input fails fast with one line and writes nothing;
the iCE40 flow runs end to end with the TEST STAND-IN accelerator; same
inputs give byte-identical RTL (fast) and bitstreams (slow)."""
import json
import shutil

import pytest

from rtl_gen import build as B
from rtl_gen.boards import BOARDS


def _run(capsys, *argv):
    rc = B.main(list(argv))
    err = capsys.readouterr().err.strip()
    return rc, err


@pytest.mark.parametrize("argv, needle", [
    (["--board", "nope"], "unknown board 'nope'"),
    (["--board", "ice40", "--bundle", "missing.bundle"], "bundle file not found"),
    (["--board", "ice40", "--accelerator", "standin", "--baud", "7000000"], "too fast"),
    (["--board", "ice40", "--accelerator", "standin", "--baud", "1300000"], "off at 24 MHz"),
    (["--board", "ice40", "--accelerator", "standin", "--seed", "-3"], "seed"),
])
def test_bad_input_one_line_no_output(tmp_path, capsys, argv, needle):
    out = tmp_path / "out"
    rc, err = _run(capsys, *argv, "--out", str(out))
    assert rc == 2
    assert err.startswith("error: ") and needle in err and "\n" not in err
    assert not out.exists() and not (tmp_path / ".out.partial").exists()


@pytest.mark.parametrize("board", ["ecp5", "gowin"])
def test_missing_extra_is_named(tmp_path, capsys, monkeypatch, board):
    """As a user without the extra sees it (the set-up installs both extras,
    so their absence is simulated)."""
    import rtl_gen.toolchain as toolchain
    real_which = shutil.which
    extra_tools = {exe for key, exe in BOARDS[board].tools.items() if key.startswith(("nextpnr", "gowin", "ecp"))}
    monkeypatch.setattr(toolchain.shutil, "which", lambda exe: None if exe in extra_tools else real_which(exe))
    rc, err = _run(capsys, "--board", board, "--out", str(tmp_path / "o"))
    assert rc == 2 and f"pip install -e '.[{board}]'" in err and "\n" not in err
    assert not (tmp_path / "o").exists()


def test_board_table_names_real_platforms():
    for board in BOARDS.values():
        platform = board.platform_class()()
        assert platform.default_clk_frequency > 0
        # 1 Mbaud divides every board clock exactly (12, 25, 27 MHz).
        from fpga.top import DEFAULT_BAUD, uart_divisor
        uart_divisor(platform.default_clk_frequency, DEFAULT_BAUD)


def _plan_files(seed):
    from fpga.testing import ClassSumStandIn
    from fpga.top import BoardTop
    platform = BOARDS["ice40"].platform_class()()
    plan = platform.prepare(BoardTop(ClassSumStandIn()), name="top", synth_opts="-dsp",
                            nextpnr_opts=f"--seed {seed}")
    return plan.files


def test_rtl_is_deterministic():
    a, b = _plan_files(1), _plan_files(1)
    for name in ("top.il", "top.debug.v", "top.pcf", "top.ys"):
        assert a[name] == b[name], name


def test_ice40_standin_build_end_to_end(tmp_path, capsys):
    """The whole iCE40 flow (Yosys, nextpnr, icepack) on the TEST STAND-IN.
    About 30 s warm (plus ~90 s once while YoWASP compiles its tools)."""
    out = tmp_path / "standin"
    rc = B.main(["--board", "ice40", "--accelerator", "standin", "--out", str(out), "--seed", "3"])
    text = capsys.readouterr().out
    assert rc == 0, text
    report = json.loads((out / "report.json").read_text())
    for key in ("board", "device", "lut_used", "lut_total", "dsp_used", "dsp_total", "bram_used", "bram_total",
                "fmax_mhz", "clock_mhz", "cycles_per_frame", "frames_per_s", "weight_bits", "bitstream",
                "seconds"):
        assert key in report, key
    assert report["board"] == "ice40" and report["lut_total"] == 5280 and report["dsp_total"] == 8
    assert 0 < report["lut_used"] < 5280 and report["spram_used"] == 1     # the link's image buffer
    assert report["timing_met"] and report["fmax_mhz"] >= report["clock_mhz"] == 24    # the PLL's clock
    assert (out / "top.bin").stat().st_size > 100_000
    assert "LUT" in text and "fmax" in text
    assert not (tmp_path / ".standin.partial").exists()


def test_ice40_reference_network_build(tmp_path, capsys):
    """The issue's main job: the reference network (default bundle) to an
    iCEBreaker bitstream that meets timing, with the report and the fit
    estimate next to nextpnr's numbers.  About 60 s warm on 2 cores."""
    out = tmp_path / "ice40"
    rc = B.main(["--board", "ice40", "--out", str(out)])
    text = capsys.readouterr().out
    assert rc == 0, text
    r = json.loads((out / "report.json").read_text())
    assert r["accelerator"] == "network" and r["device"] == "iCE40 UP5K"
    assert r["timing_met"] and r["fmax_mhz"] >= r["clock_mhz"] == 24       # 24 MHz from the PLL
    assert r["clock_source"].startswith("PLL from 12 MHz: DIVR 0, DIVF 63, DIVQ 5,")
    assert r["dsp_used"] == r["estimate"]["dsp"] <= 8 and r["bram_used"] <= 30 and r["lut_used"] <= 5280
    assert r["spram_used"] == 1 and r["weight_bits"] > 0 and r["cycles_per_frame"] > 0
    assert abs(r["lut_used"] - r["estimate"]["lut"]) <= 0.15 * r["lut_used"]     # the fit model is calibrated
    assert (out / "top.bin").stat().st_size > 100_000


def test_network_rtl_is_deterministic():
    """Same bundle and board: byte-identical RTLIL/Verilog (the bitstream's
    determinism on top is the slow test below, and nextpnr's seed)."""
    from fpga.top import BoardTop

    def files():
        platform = BOARDS["ice40"].platform_class()()         # a platform prepares once
        acc = B.make_accelerator(B._load_bundle(B.DEFAULT_BUNDLE), BOARDS["ice40"].style)
        return platform.prepare(BoardTop(acc, image_ram="spram"), name="top", synth_opts="-dsp").files
    a, b = files(), files()
    for name in ("top.il", "top.debug.v"):
        assert a[name] == b[name], name


@pytest.mark.slow
def test_bitstream_is_deterministic(tmp_path, capsys):
    shas = []
    for run in ("a", "b"):
        assert B.main(["--board", "ice40", "--accelerator", "standin", "--out", str(tmp_path / run),
                       "--seed", "5"]) == 0
        shas.append(json.loads((tmp_path / run / "report.json").read_text())["bitstream_sha256"])
        assert (tmp_path / run / "top.bin").read_bytes() == (tmp_path / "a" / "top.bin").read_bytes()
    assert shas[0] == shas[1]


def test_timing_verdict_and_exit_code(monkeypatch, capsys):
    pnr = {"fmax": {"clk12_0__io$glb": {"achieved": 11.5, "constraint": 12.0},
                    "other": {"achieved": 80.0, "constraint": 12.0}}}
    assert B.judge_timing(pnr, 12.0) == (11.5, False)
    assert B.judge_timing({"fmax": {"clk": {"achieved": 11.5}}}, 10.0) == (11.5, True)   # no constraint given
    assert B.judge_timing({}, 12.0) == (None, False)
    # a PLL: each clock is judged against its own constraint
    pll = {"fmax": {"clk12": {"achieved": 150.0, "constraint": 12.0}, "pll": {"achieved": 30.0, "constraint": 24.0}}}
    assert B.judge_timing(pll, 24.0) == (30.0, True)
    pll["fmax"]["pll"]["achieved"] = 23.9
    assert B.judge_timing(pll, 24.0) == (23.9, False)

    def missed(*a, **k):
        raise B.TimingError("timing FAILED: fmax 11.5 MHz < clock 12 MHz")
    monkeypatch.setattr(B, "build", missed)
    assert B.main(["--board", "ice40"]) == 1
    assert capsys.readouterr().err.strip() == "error: timing FAILED: fmax 11.5 MHz < clock 12 MHz"
