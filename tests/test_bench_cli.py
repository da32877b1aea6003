"""The two benchmark commands refuse bad input in one line, exit 2, before
any simulation (issue 23): names, counts and the --json file."""
import importlib.util
from pathlib import Path

import pytest

from squeezefire import bench

ROOT = Path(__file__).resolve().parent.parent


def _fire_bench():
    spec = importlib.util.spec_from_file_location("fire_bench", ROOT / "sim" / "fire_bench.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _one_line(capsys, rc, needle):
    err = capsys.readouterr().err.strip()
    assert rc == 2 and err.startswith("error: ") and "\n" not in err and needle in err, err


@pytest.mark.parametrize("argv, needle", [
    (["--arch", "nope"], "--arch 'nope'"),
    (["--networks", "reference,x"], "--networks 'x'"),
    (["--json", "/nonexistent-folder/x.json"], "does not exist"),
    (["--bogus"], "unrecognized arguments"),
])
def test_network_bench_refuses(capsys, monkeypatch, argv, needle):
    monkeypatch.setattr(bench, "measure", lambda *a: pytest.fail("simulated before checking"))
    _one_line(capsys, bench.main(argv), needle)


@pytest.mark.parametrize("argv, needle", [
    (["--cases", "nope"], "--cases 'nope'"),
    (["--frames", "0"], "--frames 0"),
    (["--json", "/nonexistent-folder/x.json"], "does not exist"),
])
def test_fire_bench_refuses(capsys, monkeypatch, argv, needle):
    module = _fire_bench()
    monkeypatch.setattr(module, "run_fire_case", lambda *a, **k: pytest.fail("simulated before checking"))
    _one_line(capsys, module.main(argv), needle)
