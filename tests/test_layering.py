"""The data flows golden -> bundle -> rtl_gen -> fpga, and imports point the
same way; only the orchestration layer (squeezefire) and the simulation
library and tests (sim) may import them all.  Checked by parsing every
import, module-level and function-local alike."""
import ast
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("golden", "rtl_gen", "fpga", "sim", "squeezefire")
MAY_NOT_IMPORT = {
    "golden": {"rtl_gen", "fpga", "sim", "squeezefire"},
    "rtl_gen": {"fpga", "sim", "squeezefire"},
    "fpga": {"sim", "squeezefire"},
}
# The user-facing commands kept at their old places: a few lines that call
# squeezefire's main and nothing else.
ENTRY_POINTS = {"golden/compare.py", "rtl_gen/build.py", "rtl_gen/dual_mult_timing.py"}


def imported_packages(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(), str(path))
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names |= {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names.add(node.module.split(".")[0])
    return names & set(PACKAGES)


@pytest.mark.parametrize("package", sorted(MAY_NOT_IMPORT))
def test_imports_point_down_the_data_flow(package):
    bad = []
    for path in sorted((ROOT / package).rglob("*.py")):
        rel = path.relative_to(ROOT).as_posix()
        wrong = imported_packages(path) & MAY_NOT_IMPORT[package]
        if rel in ENTRY_POINTS:
            wrong -= {"squeezefire"}
        if wrong:
            bad.append(f"{rel} imports {sorted(wrong)}")
    assert not bad, bad


@pytest.mark.parametrize("entry", sorted(ENTRY_POINTS))
def test_entry_points_are_thin(entry):
    assert len((ROOT / entry).read_text().splitlines()) <= 20


def test_the_generator_does_not_load_torch():
    r = subprocess.run([sys.executable, "-c", "import sys, rtl_gen.network; assert 'torch' not in sys.modules"],
                       cwd=ROOT, capture_output=True, text=True)
    assert r.returncode == 0, r.stderr


def test_no_private_amaranth_api():
    bad = []
    for package in PACKAGES + ("tests",):
        for path in sorted((ROOT / package).rglob("*.py")):
            text = path.read_text()
            for needle in ("_MustUse__silence", "amaranth.hdl._", "._private"):
                if needle in text and path.name != "test_layering.py":
                    bad.append(f"{path.relative_to(ROOT)}: {needle}")
    assert not bad, bad
