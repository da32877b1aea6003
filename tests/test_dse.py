"""The design-space sweep's quick mode, end to end (issue 15): three tiny
points trained, quantised, coded, assessed; the tables and plots written;
a second run resumes from the cache; bad input refused before training."""
from __future__ import annotations

import csv
import json

from squeezefire.dse.cli import main


def test_quick_sweep_writes_tables_and_plots_and_resumes(tmp_path, capsys):
    out = tmp_path / "d"
    assert main(["--quick", "--out", str(out)]) == 0
    for name in ("points.csv", "hardware.csv", "dse.json", "accuracy_vs_weight_bits.png",
                 "accuracy_vs_images_per_s.png", "accuracy_vs_squeeze_ratio.png", "accuracy_vs_pct3x3.png",
                 "bypass.png"):
        assert (out / name).stat().st_size > 0, name
    rows = list(csv.DictReader((out / "points.csv").open()))
    assert len(rows) == 3
    for row in rows:
        assert 0.1 < float(row["float_top1"]) <= 1 and int(row["params"]) > 0 and int(row["macs"]) > 0
        assert int(row["weight_bits_b4"]) < int(row["weight_bits_int8"])
    hw = list(csv.DictReader((out / "hardware.csv").open()))
    assert {(r["board"], r["arch"]) for r in hw} >= {("ice40", "engine"), ("ice40", "pipeline")}
    cache = sorted((out / "points").glob("*.json"))
    stamps = [p.stat().st_mtime_ns for p in cache]
    assert len(cache) == 3
    assert main(["--quick", "--out", str(out)]) == 0          # resumes: every point from the cache
    assert [p.stat().st_mtime_ns for p in cache] == stamps
    assert json.loads((out / "dse.json").read_text())["run"]["points"] == 3


def test_foreign_folder_and_bad_grid_are_refused_before_training(tmp_path, capsys):
    mine = tmp_path / "mine"
    mine.mkdir()
    (mine / "notes.txt").write_text("keep me")
    assert main(["--quick", "--out", str(mine)]) == 2
    assert "non-empty folder that no sweep wrote" in capsys.readouterr().err
    assert sorted(p.name for p in mine.iterdir()) == ["notes.txt"]
    grid = tmp_path / "g.json"
    grid.write_text(json.dumps({"points": [{"sr": 0.25, "squeeze": 3}]}))
    assert main(["--grid", str(grid), "--out", str(tmp_path / "o")]) == 2
    assert "point 0: unknown key 'squeeze'" in capsys.readouterr().err
    assert not (tmp_path / "o").exists()
