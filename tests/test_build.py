"""The build command (squeezefire.build, run as python -m rtl_gen.build): bad input fails fast with one line and writes nothing;
``--out`` never costs a user a file; the iCE40 flow runs end to end with
the TEST STAND-IN accelerator and writes the design's Verilog; same inputs
give byte-identical RTL and Verilog (fast) and bitstreams (slow)."""
import json
import os
import re
import shutil
from pathlib import Path
from types import SimpleNamespace

import pytest

from rtl_gen.accelerator import AcceleratorSignature
from golden.quantize import FIRE1_BUNDLE
from recorded import recorded_nextpnr
from squeezefire.rates import rate_figures
from squeezefire import architectures as A, build as B
from squeezefire import measured
from squeezefire.measured import SimulatedCycles
from fpga.boards import BOARDS
from fpga.toolchain import ToolError, run_step, verilog_command
from squeezefire.safe_output import staged_output_dir

STANDIN = ["--board", "ice40", "--arch", "standin"]


def _run(capsys, *argv):
    rc = B.main(list(argv))
    err = capsys.readouterr().err.strip()
    return rc, err


@pytest.mark.parametrize("argv, needle", [
    (["--board", "nope"], "unknown board 'nope'"),
    (["--board", "ice40", "--bundle", "missing.bundle"], "bundle file not found"),
    (STANDIN + ["--baud", "7000000"], "too fast"),
    (STANDIN + ["--baud", "1300000"], "off at 24 MHz"),
    (STANDIN + ["--seed", "-3"], "seed"),
    # a byte longer than the link's 50 ms inter-byte timeout: no frame could ever arrive
    (STANDIN + ["--baud", "123"], "123 baud is too slow for the host link: a byte (10 bits) takes 81.3 ms, "
                                  "more than a quarter of its 50 ms inter-byte timeout; use at least 800 baud"),
])
def test_bad_input_one_line_no_output(tmp_path, capsys, argv, needle):
    out = tmp_path / "out"
    rc, err = _run(capsys, *argv, "--out", str(out))
    assert rc == 2
    assert err.startswith("error: ") and needle in err and "\n" not in err
    assert os.listdir(tmp_path) == []


def _refused(capsys, out, needle):
    """--out refused in one line, exit 2, before the fit check and the tools."""
    rc, err = _run(capsys, *STANDIN, "--out", str(out))
    assert rc == 2 and err.startswith(f"error: output folder {out}: ") and needle in err and "\n" not in err
    assert "fit estimate" not in capsys.readouterr().out


def test_report_names_modelled_and_simulated_cycles(tmp_path, monkeypatch):
    """``cycles_per_frame_simulated`` is what ``golden/compare.py`` recorded
    for this bundle, architecture and style (``squeezefire.measured``), and
    null when it never simulated them; the table labels both figures."""
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    board = BOARDS["ice40"]
    inputs = B._Inputs(board, tmp_path / "o", B._load_bundle(B.DEFAULT_BUNDLE), B.DEFAULT_BUNDLE, 1_000_000,
                       "pipeline", 1)
    acc = SimpleNamespace(cycles_per_frame=1000, macs_per_frame=4000, mac_lanes=5,
                          signature=AcceleratorSignature((28, 28, 1), 10))
    clock_hz = board.clock()[0]
    before = B.frame_figures(acc, inputs, clock_hz)
    assert before.cycles_per_frame_model == 1000 and before.cycles_per_frame_simulated is None
    assert before.frames_per_s_model == round(clock_hz / 1000, 1) and before.frames_per_s_simulated is None
    bundle_bytes = B.DEFAULT_BUNDLE.read_bytes()
    measured.remember(bundle_bytes, measured.arch_key("pipeline", "fast"), SimulatedCycles(1100, 1400, 2, "t"))
    assert B.frame_figures(acc, inputs, clock_hz).cycles_per_frame_simulated is None     # another style
    measured.remember(bundle_bytes, measured.arch_key("pipeline", board.style), SimulatedCycles(1200, 1300, 2, "t"))
    after = B.frame_figures(acc, inputs, clock_hz)
    assert after.cycles_per_frame_simulated == 1200
    assert after.frames_per_s_simulated == round(clock_hz / 1200, 1)
    rates = rate_figures(after.macs_per_frame, after.cycles_per_frame_model, clock_hz, board.device.dsp,
                         board.device.products_per_dsp, after.link_frames_per_s)
    rows = dict(B._frame_rows(after, rates))
    assert rows["cycles/frame"] == "1000 (model), 1200 simulated"
    assert rows["MACs"] == ("4000 per frame on 5 MAC lanes; 4.00 MACs per cycle (model): "
                            "0.250 of the chip's peak 16 per cycle")
    assert rows["frames/s"].endswith("over the 1000000 baud link; the link binds")
    assert dict(B._frame_rows(before, rates))["cycles/frame"] == "1000 (model), not simulated"


def test_out_with_a_users_file_is_refused_and_left_alone(tmp_path, capsys):
    out = tmp_path / "myproject"
    out.mkdir()
    (out / "thesis.tex").write_text("years of work")
    _refused(capsys, out, "non-empty folder this command did not write (no valid .rtl_gen-build marker)")
    assert os.listdir(tmp_path) == ["myproject"] and os.listdir(out) == ["thesis.tex"]
    assert (out / "thesis.tex").read_text() == "years of work"


def test_out_dot_is_refused(tmp_path, capsys, monkeypatch):
    (tmp_path / "keep.txt").write_text("keep")
    monkeypatch.chdir(tmp_path)
    _refused(capsys, Path("."), "is the current folder")
    assert os.listdir(tmp_path) == ["keep.txt"]


def test_out_parent_of_the_current_folder_is_refused(tmp_path, capsys, monkeypatch):
    (tmp_path / "here").mkdir()
    monkeypatch.chdir(tmp_path / "here")
    _refused(capsys, tmp_path, "is a parent of the current folder")
    assert os.listdir(tmp_path) == ["here"]


def test_out_that_is_a_file_is_refused(tmp_path, capsys):
    (tmp_path / "top.bin").write_text("keep")
    _refused(capsys, tmp_path / "top.bin", "is an existing file")
    assert os.listdir(tmp_path) == ["top.bin"] and (tmp_path / "top.bin").read_text() == "keep"


def test_out_whose_parent_is_a_file_is_refused(tmp_path, capsys):
    (tmp_path / "f").write_text("keep")
    _refused(capsys, tmp_path / "f" / "out", "is a file, not a folder")
    assert os.listdir(tmp_path) == ["f"]


def test_out_in_an_unwritable_folder_is_refused(capsys, unwritable_folder):
    _refused(capsys, unwritable_folder / "squeezefire-out", f"cannot write in {unwritable_folder} (")


def _failing_step(step, error):
    """run_step with ``step`` failing (the steps before it run for real)."""
    def run(name, argv, cwd, log, heartbeat=15.0):
        if name == step:
            raise error
        return run_step(name, argv, cwd, log, heartbeat)
    return run


@pytest.mark.parametrize("error, rc, line", [
    (ToolError("synth failed (exit 1) after 3 s: ERROR: x"), 2, "error: synth failed (exit 1) after 3 s: ERROR: x"),
    (KeyboardInterrupt(), 130, "interrupted; the logs so far are kept in"),
])
def test_failure_mid_build_leaves_only_the_marked_logs(tmp_path, capsys, monkeypatch, error, rc, line):
    monkeypatch.setattr(B, "run_step", _failing_step("synth", error))
    out = tmp_path / "out"
    got, err = _run(capsys, *STANDIN, "--out", str(out))
    assert got == rc and err.startswith(line) and "\n" not in err
    assert os.listdir(tmp_path) == ["out.failed"]
    failed = tmp_path / "out.failed"
    if rc == 2:
        assert err.endswith(f"(log: {failed / 'build.log'})")
    assert "write_verilog.ys" in (failed / "build.log").read_text() and (failed / "top.v").is_file()
    assert "build.log" in json.loads((failed / B.MARKER).read_text())["entries"]


@pytest.mark.parametrize("board", ["ecp5", "gowin"])
def test_missing_extra_is_named(tmp_path, capsys, monkeypatch, board):
    """As a user without the extra sees it (the set-up installs both extras,
    so their absence is simulated)."""
    import fpga.toolchain as toolchain
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
    return B.prepare_plan(BOARDS["ice40"], BoardTop(ClassSumStandIn()), seed).files


def test_rtl_is_deterministic():
    a, b = _plan_files(1), _plan_files(1)
    assert {"top.il", "top.pcf", "top.ys", "write_verilog.ys"} <= set(a)
    assert "top.debug.v" not in a                   # Amaranth's stub: top.v is the Verilog
    for name in a:
        assert a[name] == b[name], name


def test_ice40_standin_build_end_to_end(tmp_path, capsys):
    """The whole iCE40 flow (Yosys, nextpnr, icepack) on the TEST STAND-IN,
    into a previous output of ours (replaced) beside an old failure of ours
    (removed).  About 15 s warm (plus ~90 s once while YoWASP compiles its tools)."""
    out = tmp_path / "standin"
    for folder in (out, tmp_path / "standin.failed"):
        with staged_output_dir(folder, B.MARKER, "an earlier build") as stage:
            (stage.path / "old.txt").write_text("old")
    rc = B.main([*STANDIN, "--out", str(out), "--seed", "3"])
    text = capsys.readouterr().out
    assert rc == 0, text
    report = json.loads((out / "report.json").read_text())
    for key in ("board", "device", "lut_used", "lut_total", "dsp_used", "dsp_total", "bram_used", "bram_total",
                "fmax_mhz", "clock_mhz", "cycles_per_frame_model", "cycles_per_frame_simulated",
                "frames_per_s_model", "macs_per_frame", "mac_lanes", "weight_bits", "weight_index_bits",
                "codebook_bits", "bitstream", "seconds", "clock_source", "timing_met", "peak_macs_per_cycle",
                "peak_macs_per_s", "macs_per_cycle_model", "peak_ratio_model", "images_per_s_compute_model",
                "images_per_s_link", "bound"):
        assert key in report, key
    assert report["weight_index_bits"] == report["codebook_bits"] == 0       # no network, no codebook
    assert report["arch"] == "standin" and "TEST STAND-IN" in report["arch_description"]
    assert report["cycles_per_frame_simulated"] is None and report["mac_lanes"] == 0    # no bundle, no MACs
    assert report["board"] == "ice40" and report["lut_total"] == 5280 and report["dsp_total"] == 8
    assert 0 < report["lut_used"] < 5280 and report["spram_used"] == 1     # the link's image buffer
    assert report["timing_met"] and report["fmax_mhz"] >= report["clock_mhz"] == 24    # the PLL's clock
    assert (out / "top.bin").stat().st_size > 100_000
    assert "LUT" in text and "fmax" in text
    assert os.listdir(tmp_path) == ["standin"] and not (out / "old.txt").exists()
    assert report["verilog"] == str(out / "top.v") and (out / "top.v").read_text().count("\nmodule top(") == 1


def test_ice40_reference_network_build(tmp_path, capsys):
    """The one-Fire network on the per-layer pipeline to an iCEBreaker
    bitstream that meets timing, with the report and the fit estimate next
    to nextpnr's numbers.  About 60 s warm on 2 cores."""
    out = tmp_path / "ice40"
    rc = B.main(["--board", "ice40", "--arch", "pipeline", "--bundle", str(FIRE1_BUNDLE), "--out", str(out)])
    text = capsys.readouterr().out
    assert rc == 0, text
    r = json.loads((out / "report.json").read_text())
    assert r["arch"] == "pipeline" and r["device"] == "iCE40 UP5K"
    assert r["timing_met"] and r["fmax_mhz"] >= r["clock_mhz"] == 24       # 24 MHz from the PLL
    assert r["clock_source"].startswith("PLL SB_PLL40_PAD from 12 MHz: DIVR 0, DIVF 63, DIVQ 5,")
    assert r["dsp_used"] == r["estimate"]["dsp"] <= 8 and r["bram_used"] <= 30 and r["lut_used"] <= 5280
    assert r["spram_used"] == 1 and r["weight_bits"] > 0 and r["cycles_per_frame_model"] > 0
    # the model's cycles are the slowest MAC unit's: between all MACs over all lanes and all MACs
    assert r["macs_per_frame"] / r["mac_lanes"] <= r["cycles_per_frame_model"] <= r["macs_per_frame"]
    assert abs(r["lut_used"] - r["estimate"]["lut"]) <= 0.15 * r["lut_used"]     # the fit model is calibrated
    assert (out / "top.bin").stat().st_size > 100_000


def _verilog(folder, plan):
    """The build's Verilog step alone (Yosys, about 1 s) on ``plan``, in ``folder``."""
    plan.extract(str(folder))
    run_step("verilog", verilog_command(BOARDS["ice40"]), folder, folder / "build.log")
    return (folder / "top.v").read_bytes()


def test_network_rtl_and_verilog_are_deterministic(tmp_path):
    """Same bundle and board, two elaborations: byte-identical RTLIL and
    Verilog (the bitstream's determinism on top is the slow test below, and
    nextpnr's seed); the Verilog is the whole design and reads back into Yosys."""
    from fpga.top import BoardTop
    board = BOARDS["ice40"]
    verilog = []
    for run in ("a", "b"):
        acc = A.make_accelerator(B._load_bundle(FIRE1_BUNDLE), board, "pipeline")
        plan = B.prepare_plan(board, BoardTop(acc, image_ram="spram", pll=board.clock()[1]))
        (tmp_path / run).mkdir()
        verilog.append(_verilog(tmp_path / run, plan))
    assert (tmp_path / "a" / "top.il").read_bytes() == (tmp_path / "b" / "top.il").read_bytes()
    assert verilog[0] == verilog[1]
    text = verilog[0].decode()
    assert "\nmodule top(" in text and "module \\top.core.accelerator.fire2.expand3x3 " in text
    assert str(B.DEFAULT_BUNDLE.parent.parent.parent) not in text          # no source paths
    read_back = "read_verilog -lib +/ice40/cells_sim.v; read_verilog top.v; hierarchy -check -top top"
    run_step("read back", [board.tools["yosys"], "-q", "-p", read_back], tmp_path / "a", tmp_path / "a" / "build.log")


@pytest.mark.slow
def test_bitstream_is_deterministic(tmp_path, capsys):
    shas = []
    for run in ("a", "b"):
        assert B.main([*STANDIN, "--out", str(tmp_path / run), "--seed", "5"]) == 0
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


def test_auto_picks_by_the_models():
    """``--arch auto``, on the one-Fire network: the engine on the UP5K (the
    pipeline fits there but makes 26.6 images/s on 5 DSPs against the
    engine's 334 on 8, by the models), the pipeline on the HX8K where the
    engine's maps do not fit.  The four-Fire reference fits only the engine."""
    arch, why = A.choose_arch(B._load_bundle(B.DEFAULT_BUNDLE), BOARDS["ice40"])
    assert arch == "engine" and "pipeline: does not fit iCE40 UP5K" in why, why
    bundle = B._load_bundle(FIRE1_BUNDLE)
    arch, why = A.choose_arch(bundle, BOARDS["ice40"])
    assert arch == "engine" and "pipeline 26.6 images/s (model) at 24 MHz on 5 DSP (model)" in why, why
    arch, why = A.choose_arch(bundle, BOARDS["ice40-hx8k"])
    assert arch == "pipeline" and re.search(r"engine: does not fit iCE40 HX8K: .*needs \d+ block RAM blocks \(has 32\)",
                                            why), why


@pytest.mark.slow
def test_ice40_default_build_is_the_engine(tmp_path, capsys):
    """``python -m rtl_gen.build --board ice40`` as the README gives it:
    ``auto`` resolves to the Fire engine, which takes all eight DSPs and
    meets its 36 MHz clock.  About 200 s on 2 cores (the four-Fire reference
    fills 99 % of the UP5K: timing-driven place and route is slow), so
    ``slow``; the default suite builds the pipeline and the stand-in."""
    out = tmp_path / "ice40"
    rc = B.main(["--board", "ice40", "--out", str(out)])
    text = capsys.readouterr().out
    assert rc == 0, text
    assert text.startswith("--arch auto: engine (")
    r = json.loads((out / "report.json").read_text())
    assert r["arch"] == "engine" and r["dsp_used"] == 8 and r["mac_lanes"] == 16
    assert r["timing_met"] and r["clock_mhz"] == A.ENGINE_CLOCK_MHZ["ice40"] and r["baud"] == A.ENGINE_BAUD["ice40"]
    assert r["lut_used"] <= r["estimate"]["lut"] and r["bram_used"] <= r["estimate"]["bram_blocks"]
    # the hardware the resource model is checked against (tests/test_engine_program.py)
    recorded = recorded_nextpnr("ice40/engine")["reference"]["lut_used"]
    assert r["lut_used"] == recorded, (f"nextpnr placed {r['lut_used']} cells, {recorded} recorded: re-measure and "
                                       "update tests/data/nextpnr_results.json")
    # the reference's 3-bit codebook weights: 16 lanes x 3 bits x 1 017 rows, 14 tables of 8 values
    assert r["weight_index_bits"] == 48816 and r["codebook_bits"] == 896
