"""squeezefire.safe_output: an output folder replaces only a previous output
of the same command; everything else is refused in one line before any
work, and a failed or interrupted run leaves nothing behind but its
marked logs when asked to keep them."""
import json
import os
from pathlib import Path

import pytest

from squeezefire.safe_output import PROJECT_ROOT, OutputError, check_output_dir, staged_output_dir

MARKER = ".test-output"


def _write(path, files, keep_failed_on=()):
    with staged_output_dir(path, MARKER, "test writer", keep_failed_on) as stage:
        for name, text in files.items():
            (stage.path / name).write_text(text)
    return stage


def _refused(path, needle):
    with pytest.raises(OutputError) as info:
        check_output_dir(path, MARKER)
    message = str(info.value)
    assert message.startswith(f"output folder {path}: ") and needle in message and "\n" not in message
    return message


def test_new_folder_is_written_with_its_marker(tmp_path):
    out = tmp_path / "a" / "b" / "out"
    _write(out, {"x.txt": "x"})
    assert sorted(p.name for p in out.iterdir()) == [MARKER, "x.txt"]
    assert json.loads((out / MARKER).read_text())["entries"] == ["x.txt"]
    assert os.listdir(out.parent) == ["out"]                  # no staging folder left
    plain = tmp_path / "plain"
    plain.mkdir()
    assert out.stat().st_mode == plain.stat().st_mode       # not tempfile's private 0700


def test_previous_output_is_replaced(tmp_path):
    out = tmp_path / "out"
    _write(out, {"old.txt": "old"})
    (out / "deeper").mkdir()                                 # not ours: must block the next write
    _refused(out, "holds files this command did not write (deeper)")
    (out / "deeper").rmdir()
    _write(out, {"new.txt": "new"})
    assert sorted(p.name for p in out.iterdir()) == [MARKER, "new.txt"]
    assert os.listdir(tmp_path) == ["out"]


def test_empty_folder_is_accepted(tmp_path):
    (tmp_path / "out").mkdir()
    _write(tmp_path / "out", {"x.txt": "x"})
    assert (tmp_path / "out" / "x.txt").read_text() == "x"


def test_users_folder_is_refused_and_left_alone(tmp_path):
    out = tmp_path / "myproject"
    out.mkdir()
    (out / "thesis.tex").write_text("years of work")
    _refused(out, "non-empty folder this command did not write")
    with pytest.raises(OutputError):
        _write(out, {"x.txt": "x"})
    assert os.listdir(out) == ["thesis.tex"] and (out / "thesis.tex").read_text() == "years of work"
    assert os.listdir(tmp_path) == ["myproject"]


def test_file_added_to_a_previous_output_is_not_deleted(tmp_path):
    out = tmp_path / "out"
    _write(out, {"x.txt": "x"})
    (out / "notes.txt").write_text("mine")
    _refused(out, "holds files this command did not write (notes.txt)")
    assert (out / "notes.txt").read_text() == "mine"


def test_current_folder_and_its_parents_are_refused(tmp_path, monkeypatch):
    # even when marked as a previous output: replacing it would pull the
    # current folder away from under the user
    outer = tmp_path / "outer"
    _write(outer, {"x.txt": "x"})
    monkeypatch.chdir(outer)
    _refused(Path("."), "is the current folder")
    work = tmp_path / "work" / "deep"
    work.mkdir(parents=True)
    monkeypatch.chdir(work)
    _refused(tmp_path / "work", "is a parent of the current folder")
    _refused(Path(".."), "is a parent of the current folder")
    assert (outer / "x.txt").read_text() == "x"


def test_project_folder_and_its_parents_are_refused(tmp_path, monkeypatch):
    monkeypatch.chdir("/")          # not below the project's parent, wherever the clone is
    _refused(PROJECT_ROOT, "is the project folder")
    _refused(PROJECT_ROOT.parent, "is a parent of the project folder")


def test_existing_file_is_refused(tmp_path):
    target = tmp_path / "report.txt"
    target.write_text("keep")
    _refused(target, "is an existing file")
    assert target.read_text() == "keep"


def test_parent_that_is_a_file_is_refused(tmp_path):
    (tmp_path / "f").write_text("keep")
    _refused(tmp_path / "f" / "out", f"{tmp_path / 'f'} is a file, not a folder")
    _refused(tmp_path / "f" / "a" / "out", f"{tmp_path / 'f'} is a file, not a folder")


def test_unwritable_parent_is_refused(unwritable_folder):
    folder = unwritable_folder
    _refused(folder / "squeezefire-out", f"cannot write in {folder} (")


@pytest.mark.parametrize("error", [RuntimeError, KeyboardInterrupt])
def test_failure_leaves_nothing(tmp_path, error):
    out = tmp_path / "new" / "out"
    with pytest.raises(error):
        with staged_output_dir(out, MARKER, "test writer") as stage:
            (stage.path / "half.txt").write_text("half")
            raise error()
    assert os.listdir(tmp_path) == []                          # the parents it made are gone too


def test_failure_kept_as_marked_failed_folder(tmp_path):
    out = tmp_path / "out"
    (tmp_path / "out.failed").mkdir()
    (tmp_path / "out.failed" / "user.txt").write_text("not ours")
    for attempt in ("1", "2"):                                  # the second replaces our first
        with pytest.raises(RuntimeError):
            with staged_output_dir(out, MARKER, "test writer", keep_failed_on=(RuntimeError,)) as stage:
                assert stage.failed == tmp_path / "out.failed-2"
                (stage.path / "build.log").write_text(attempt)
                raise RuntimeError()
    assert sorted(os.listdir(tmp_path)) == ["out.failed", "out.failed-2"]
    assert (tmp_path / "out.failed" / "user.txt").read_text() == "not ours"
    assert (tmp_path / "out.failed-2" / "build.log").read_text() == "2"
    assert "FAILED" in json.loads((tmp_path / "out.failed-2" / MARKER).read_text())["written_by"]
    _write(out, {"x.txt": "x"}, keep_failed_on=(RuntimeError,))    # success removes our stale logs
    assert sorted(os.listdir(tmp_path)) == ["out", "out.failed"]
