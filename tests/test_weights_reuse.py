"""New weights without re-synthesis (``squeezefire.weights``, ``squeezefire.reuse``,
``fpga.bram_rewrite``): the ROM images and their placeholders, the rewrite
by the real icebram / ecpbram on placed-design texts made here, the
refusals of ``--reuse`` (one line, exit 2, nothing written), and (slow) the
whole flow on the iCEBreaker and the ULX3S: a build, the rewrite with a
second bundle of the same shape, the bitstream unpacked and every block
RAM compared, and a full build of that bundle bit for bit the same."""
import json
import subprocess
from pathlib import Path

import numpy as np
import pytest

from fpga.boards import BOARDS
from fpga.bram_rewrite import BRAM_TOOLS, expected_blocks, locate, read_blocks, rom_slices, slice_files
from golden.bundle import Bundle
from golden.quantize import FIRE1_BUNDLE
from rtl_gen.engine.engine import EngineParams
from rtl_gen.engine.rom_images import RomImage, placeholder
from sim.lib.network_cases import reference, same_shape_variant
from squeezefire import build as B
from squeezefire.architectures import engine_options, rom_options
from squeezefire.weights import LAYOUT_FILE, RomLayout, rom_layout

ICE40 = BOARDS["ice40"]


def _params(bundle, board=ICE40):
    return EngineParams(bundle, **engine_options(board), **rom_options(board), placeholder_roms=True)


def test_placeholders_are_seeded_unique_slices_of_whole_segments():
    """Every ROM is padded to whole 256-word segments (no EBR more: 12 + 1 + 4 blocks
    as before), its placeholder depends only on its geometry, and no two bit
    slices of all placeholders are equal (icebram finds each once)."""
    roms = _params(reference()).rom_images()
    assert [(i.name, i.width, i.depth, i.entries) for i in roms.images] == [
        ("weights", 48, 1024, 1017), ("descriptors", 16, 256, 252), ("constants", 28, 512, 288)]
    assert all(w == 0 for i in roms.images for w in i.words[i.entries:])
    again = _params(same_shape_variant(reference(), 3)).rom_images()
    assert roms.placeholders() == again.placeholders() and roms != again
    slices = [s.tobytes() for i in roms.placeholders().images for s in rom_slices(i, 256).values()]
    assert len(slices) == 48 * 4 + 16 + 28 * 2 == len(set(slices))


# --- the rewrite tools on placed-design texts ---------------------------------

def _ice40_text(images, modes) -> str:
    """A placed design's ``.asc`` as icebram reads it: per block its
    ``.ramt_tile`` (the read mode in CBIT_2/CBIT_3) and ``.ram_data``, the
    ROM slices laid out in icebram's order, one ROM bit per slice position."""
    from fpga.bram_rewrite import _ice40_slices
    slices = [s for i in images for s in rom_slices(i, 256).values()]
    lines, n = [".device 5k", ".comment placed here"], 0
    for b, mode in enumerate(modes):
        bits = np.zeros(4096, dtype=bool)
        for idx in _ice40_slices(mode):
            if n < len(slices):
                bits[idx] = slices[n]
                n += 1
        lines += [f".ramt_tile 8 {2 * b + 2}", *["0" * 42] * 2,
                  "0" * 7 + str(mode >> 1) + "0" * 34, "0" * 7 + str(mode & 1) + "0" * 34, *["0" * 42] * 10]
        lines += [f".ram_data 8 {2 * b + 1}"]
        lines += [f"{int(''.join('1' if x else '0' for x in bits[256 * k:256 * (k + 1)][::-1]), 2):064x}"
                  for k in range(16)]
    assert n == len(slices)
    return "\n".join(lines) + "\n"


def _images(seed, widths=((4, 256), (3, 512), (5, 256))):
    rng = np.random.default_rng(seed)
    return [RomImage(f"rom{k}", w, tuple(int(x) for x in rng.integers(0, 1 << w, d)), d)
            for k, (w, d) in enumerate(widths)]


@pytest.mark.parametrize("modes", [(0,), (3, 3), (1, 2)])
def test_icebram_rewrites_every_slice_found(tmp_path, modes):
    """The real icebram, on a placed design with 4+6+5 = 15 ROM slices (not a
    multiple of 4: two runs) in blocks of every read mode: afterwards every
    block holds exactly what ``expected_blocks`` says, the new images' bits
    where the placeholders were; a negative control: a block not rewritten
    differs from the expectation."""
    real = _images(1)
    stand_ins = [placeholder(i) for i in real]
    text = _ice40_text(stand_ins, modes)
    (tmp_path / "placed.asc").write_text(text)
    blocks = read_blocks(text, "ice40")
    found = locate(blocks, "ice40", stand_ins, 256)
    assert len(found) == 15
    source = "placed.asc"
    runs = slice_files(found, stand_ins, real, 256)
    assert len(runs) == 2
    for n, (old, new) in enumerate(runs):
        (tmp_path / "from.hex").write_text(old)
        (tmp_path / "to.hex").write_text(new)
        with open(tmp_path / source) as i, open(tmp_path / f"out{n}.asc", "w") as o:
            subprocess.run(["yowasp-icebram", "from.hex", "to.hex"], cwd=tmp_path, stdin=i, stdout=o, check=True)
        source = f"out{n}.asc"
    have = read_blocks((tmp_path / source).read_text(), "ice40")
    want = expected_blocks(blocks, "ice40", found, real, 256)
    assert set(have) == set(want)
    assert all((have[k][0] == want[k]).all() for k in want)
    untouched = read_blocks((tmp_path / "out0.asc").read_text(), "ice40")
    assert not all((untouched[k][0] == want[k]).all() for k in want)


def _ecp5_text(images) -> str:
    """An ECP5 textual config with two DP16KD blocks holding the slices in
    ecpbram's 512x36 order (the 9-bit words of each block)."""
    from fpga.bram_rewrite import _ECP5_SLICES
    slices = [s for i in images for s in rom_slices(i, 512).values()]
    lines, n = [".device LFE5U-85F", ""], 0
    for block in range(2):
        words = np.zeros(2048, dtype=np.int64)
        for word, bit in _ECP5_SLICES[-36:]:     # the 512x36 mode's 36 slices
            if n < len(slices):
                for w, b, v in zip(word, bit, slices[n]):
                    words[w] |= int(v) << int(b)
                n += 1
        lines.append(f".bram_init {block}")
        lines += [" ".join(f"{v:03x}" for v in words[k:k + 8]) for k in range(0, 2048, 8)]
        lines.append("")
    assert n == len(slices)
    return "\n".join(lines)


def test_ecpbram_rewrites_every_slice_found(tmp_path):
    real = _images(2, ((4, 512), (3, 1024), (2, 512)))
    stand_ins = [placeholder(i) for i in real]
    text = _ecp5_text(stand_ins)
    (tmp_path / "top.placeholder.config").write_text(text)
    blocks = read_blocks(text, "ecp5")
    found = locate(blocks, "ecp5", stand_ins, 512)
    assert len(found) == 4 + 6 + 2
    runs = slice_files(found, stand_ins, real, 512)
    assert len(runs) == 1
    (tmp_path / "from.hex").write_text(runs[0][0])
    (tmp_path / "to.hex").write_text(runs[0][1])
    subprocess.run(BRAM_TOOLS["ecp5"].rewrite_argv("from.hex", "to.hex"), cwd=tmp_path, check=True,
                   capture_output=True)
    have = read_blocks((tmp_path / "top.config").read_text(), "ecp5")
    want = expected_blocks(blocks, "ecp5", found, real, 512)
    assert set(have) == set(want) and all((have[k][0] == want[k]).all() for k in want)
    assert not all((blocks[k][0] == want[k]).all() for k in want)


# --- refusals ---------------------------------------------------------------

def _fake_build(folder: Path, bundle, board=ICE40, arch="engine", digest="0" * 64) -> Path:
    """A build folder as ``rtl_gen.build`` leaves it, for the checks before
    any tool: its report, layout and (empty) placed design."""
    (folder / "roms").mkdir(parents=True)
    report = {"board": board.key, "arch": arch, "baud": 3_000_000, "seed": 1}
    (folder / "report.json").write_text(json.dumps(report))
    layout = rom_layout(bundle, _params(bundle, board), board.key, digest)
    (folder / LAYOUT_FILE).write_text(layout.to_json())
    (folder / BRAM_TOOLS[board.family].config if board.family in BRAM_TOOLS else folder / "x").write_text("")
    return folder


def _refused(tmp_path, capsys, build, bundle_file, *extra):
    before = sorted(p.name for p in tmp_path.iterdir())
    rc = B.main(["--bundle", str(bundle_file), "--reuse", str(build), "--out", str(tmp_path / "new"), *extra])
    err = capsys.readouterr().err.strip()
    assert rc == 2 and err.startswith("error: ") and "\n" not in err, err
    assert sorted(p.name for p in tmp_path.iterdir()) == before          # nothing written
    return err


def test_another_shape_is_refused_naming_the_layer(tmp_path, capsys):
    build = _fake_build(tmp_path / "build", reference())
    err = _refused(tmp_path, capsys, build, FIRE1_BUNDLE)
    assert err.startswith("error: bundle 'fire1-fmnist' does not fit the build in ")
    assert err.endswith("layer 'conv1' shape: 28x28x32, the build's 28x28x16"), err


def test_a_shift_outside_the_built_range_is_refused_naming_it(tmp_path, capsys):
    """Same shapes, but a requantisation shift the write-back's shifter was
    not built for: the logic differs, refused naming the range."""
    bundle = reference()
    build = _fake_build(tmp_path / "build", bundle)
    graph = json.loads(json.dumps(bundle.graph))
    conv1 = next(layer for layer in graph["layers"] if layer["name"] == "conv1")
    conv1["shift"] = 17
    shifted = Bundle(graph, dict(bundle.arrays), dict(bundle.codebooks))
    shifted.save(tmp_path / "shifted.bundle")
    err = _refused(tmp_path, capsys, build, tmp_path / "shifted.bundle")
    assert err.endswith("write-back shifts: (17, 20), the build's (18, 20) (pass 'conv1' has shift 17)"), err


def test_same_layout_other_netlist_is_refused(tmp_path, capsys):
    """The catch-all: a layout whose every item matches but whose netlist
    digest is not the design's (elaborated again: a few seconds)."""
    build = _fake_build(tmp_path / "build", reference(), digest="0" * 64)
    variant = tmp_path / "variant.bundle"
    same_shape_variant(reference(), 5).save(variant)
    err = _refused(tmp_path, capsys, build, variant)
    assert "engine netlist with placeholder ROMs (sha256 of its RTLIL): " in err, err
    assert err.endswith("the build's " + "0" * 64)


@pytest.mark.parametrize("case, needle", [
    ("pipeline", "its architecture is 'pipeline'; only the Fire engine's weights are all in block RAM"),
    ("gowin", "board 'gowin' (gowin) has no block-RAM rewrite tool"),
    ("no-layout", "roms/layout.json is missing"),
    ("no-report", "no report.json there"),
    ("same-out", "is the reused build; it is only read"),
    ("arch", "--arch cannot be given with it"),
    ("board", "built for board 'ice40', not 'ecp5'"),
])
def test_reuse_refusals(tmp_path, capsys, case, needle):
    bundle = reference()
    build = tmp_path / "build"
    if case == "gowin":
        (build / "roms").mkdir(parents=True)
        (build / "report.json").write_text(json.dumps({"board": "gowin", "arch": "engine"}))
    elif case != "no-report":
        _fake_build(build, bundle, arch="pipeline" if case == "pipeline" else "engine")
    else:
        build.mkdir()
    if case == "no-layout":
        (build / LAYOUT_FILE).unlink()
    extra = {"arch": ["--arch", "engine"], "board": ["--board", "ecp5"]}.get(case, [])
    if case == "same-out":
        before = sorted(p.name for p in tmp_path.iterdir())
        rc = B.main(["--bundle", str(B.DEFAULT_BUNDLE), "--reuse", str(build), "--out", str(build)])
        err = capsys.readouterr().err.strip()
        assert rc == 2 and needle in err and sorted(p.name for p in tmp_path.iterdir()) == before
        return
    err = _refused(tmp_path, capsys, build, B.DEFAULT_BUNDLE, *extra)
    assert needle in err, err


def test_layout_json_round_trip_and_difference():
    layout = rom_layout(reference(), _params(reference()), "ice40", "d")
    assert RomLayout.from_json(layout.to_json()) == layout and layout.difference(layout) is None


# --- the whole flow (slow: full builds) -----------------------------------------

def _files(folder: Path) -> dict:
    return {p.relative_to(folder).as_posix(): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


@pytest.mark.slow
@pytest.mark.parametrize("board_key", ["ice40", "ecp5"])
def test_new_weights_without_resynthesis(tmp_path, capsys, board_key):
    """The one-Fire network with 3-bit codebooks, built (its own ROMs
    written in and proved); a second bundle of its shape (other weights,
    codebooks, biases, multipliers) through ``--reuse``: its bitstream
    unpacked holds, in every block RAM, the ROM images the generator makes
    for it (a negative control: not the first bundle's), the build folder is
    untouched, and a full build of the second bundle gives the same bytes.
    iCE40 about 3 min, ECP5 about 8 min on 2 cores."""
    from sim.lib.network_cases import fire1, with_random_codebooks
    from squeezefire.weights import prove_output
    board, tool = BOARDS[board_key], BRAM_TOOLS[BOARDS[board_key].family]
    first = with_random_codebooks(fire1(), 3, seed=1)
    second = same_shape_variant(first, 2)
    first.save(tmp_path / "first.bundle")
    second.save(tmp_path / "second.bundle")
    build = tmp_path / "build"
    assert B.main(["--board", board_key, "--arch", "engine", "--bundle", str(tmp_path / "first.bundle"),
                   "--out", str(build), "--allow-timing-fail"]) == 0
    report = json.loads((build / "report.json").read_text())
    assert report["rom_rewrite"]["proof"].startswith(f"the unpacked {tool.bitstream}: ")
    before = _files(build)
    out = tmp_path / "reused"
    assert B.main(["--bundle", str(tmp_path / "second.bundle"), "--reuse", str(build), "--out", str(out)]) == 0
    assert _files(build) == before
    images = _params(second, board).rom_images()
    proof = prove_output(out, tool, images)
    assert proof.slices == proof.rom_slices and proof.blocks > 0, proof
    with pytest.raises(ValueError, match="does not hold the new ROM images"):
        prove_output(out, tool, _params(first, board).rom_images())
    full = tmp_path / "full"
    assert B.main(["--board", board_key, "--arch", "engine", "--bundle", str(tmp_path / "second.bundle"),
                   "--out", str(full), "--allow-timing-fail"]) == 0
    assert (full / tool.bitstream).read_bytes() == (out / tool.bitstream).read_bytes()
    reused = json.loads((out / "report.json").read_text())
    assert reused["bitstream_sha256"] == json.loads((full / "report.json").read_text())["bitstream_sha256"]
    capsys.readouterr()
    rc = B.main(["--bundle", str(B.DEFAULT_BUNDLE), "--reuse", str(build), "--out", str(tmp_path / "other")])
    err = capsys.readouterr().err.strip()
    assert rc == 2 and "does not fit the build in" in err and "\n" not in err and not (tmp_path / "other").exists()
