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


# rtl_gen: two wings, one per architecture, over a shared floor
WINGS = ("rtl_gen.pipeline", "rtl_gen.engine")
FLOOR = {"rtl_gen", "rtl_gen.accelerator", "rtl_gen.stream", "rtl_gen.params", "rtl_gen.fit", "rtl_gen.int8",
         "rtl_gen.dual_mult"}


def imported_modules(path: Path) -> set[str]:
    """Every ``rtl_gen`` module ``path`` imports (``from rtl_gen import x``: ``rtl_gen.x``)."""
    tree = ast.parse(path.read_text(), str(path))
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names.add(node.module)
            names |= {f"{node.module}.{alias.name}" for alias in node.names
                      if (ROOT / node.module.replace(".", "/") / f"{alias.name}.py").is_file()}
    return {n for n in names if n == "rtl_gen" or n.startswith("rtl_gen.")}


def _module(path: Path) -> str:
    return path.relative_to(ROOT).with_suffix("").as_posix().replace("/", ".").removesuffix(".__init__")


def _wing(module: str) -> str | None:
    return next((w for w in WINGS if module == w or module.startswith(w + ".")), None)


def test_every_rtl_gen_module_is_floor_or_wing():
    stray = [m for m in map(_module, (ROOT / "rtl_gen").rglob("*.py"))
             if m not in FLOOR and _wing(m) is None and f"{m.replace('.', '/')}.py" not in ENTRY_POINTS]
    assert not stray, f"neither the shared floor nor a wing: {stray}"


@pytest.mark.parametrize("wing", WINGS)
def test_a_wing_imports_only_itself_and_the_floor(wing):
    bad = []
    for path in sorted((ROOT / wing.replace(".", "/")).rglob("*.py")):
        wrong = {m for m in imported_modules(path) if m not in FLOOR and _wing(m) != wing}
        if wrong:
            bad.append(f"{path.relative_to(ROOT)} imports {sorted(wrong)}")
    assert not bad, bad


def test_the_floor_imports_no_wing():
    bad = []
    for module in sorted(FLOOR - {"rtl_gen"}):
        path = ROOT / f"{module.replace('.', '/')}.py"
        wrong = {m for m in imported_modules(path) if _wing(m)}
        if wrong:
            bad.append(f"{module} imports {sorted(wrong)}")
    assert not bad, bad


def test_the_layering_check_sees_a_crossing(tmp_path):
    """Negative control: an engine import in a pipeline file is found."""
    f = tmp_path / "x.py"
    f.write_text("from rtl_gen.engine.lanes import MacLanes\nfrom rtl_gen import int8, stream\n")
    assert imported_modules(f) == {"rtl_gen.engine.lanes", "rtl_gen", "rtl_gen.int8", "rtl_gen.stream"}
    assert _wing("rtl_gen.engine.lanes") == "rtl_gen.engine" != "rtl_gen.pipeline"


@pytest.mark.parametrize("entry", sorted(ENTRY_POINTS))
def test_entry_points_are_thin(entry):
    assert len((ROOT / entry).read_text().splitlines()) <= 20


def test_the_generator_does_not_load_torch():
    r = subprocess.run([sys.executable, "-c", "import sys, rtl_gen.pipeline, rtl_gen.engine; assert 'torch' not in sys.modules"],
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
