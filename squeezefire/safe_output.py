"""Output folders that never cost a user a file.

The rule, for every command that writes a folder (``rtl_gen.build --out``,
``golden/compare.py --dump``, any future one):

* refused before any work, with one line naming the folder and why: an
  existing file; the current folder or a parent of it; the project folder
  or a parent of it; a non-empty folder this command did not write; a
  folder whose parent is a file or cannot be written (tested by creating a
  file there: root ignores permission bits);
* the output is written into a fresh hidden folder beside the target and
  renamed into place only when complete, so the target is never half
  written and an interrupted run leaves nothing behind;
* a previous output is replaced only when it is recognisably ours: it holds
  a marker file listing every entry the command wrote, and nothing else
  (a file a user added to it makes it refused, not deleted).
"""
from __future__ import annotations

import json
import os
import secrets
import shutil
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from itertools import count
from pathlib import Path

from golden.writable import write_problem

__all__ = ["OutputError", "Staging", "check_output_dir", "staged_output_dir"]

PROJECT_ROOT = Path(__file__).resolve().parent.parent


class OutputError(ValueError):
    """An output folder that may not be written (one-line message)."""


def check_output_dir(path, marker_name: str) -> Path:
    """``path`` made absolute (symbolic links resolved), or OutputError saying
    why it may not be (re)written; ``marker_name`` is the marker file a
    previous output of this command holds."""
    target = Path(path).resolve()
    problem = _placement_problem(target) or _content_problem(target, marker_name) or _parent_problem(target)
    if problem:
        raise OutputError(f"output folder {path}: {problem}")
    return target


def _placement_problem(target: Path) -> str | None:
    cwd = Path.cwd().resolve()
    if target == cwd:
        return "is the current folder"
    if target in cwd.parents:
        return f"is a parent of the current folder {cwd}"
    if target == PROJECT_ROOT:
        return "is the project folder"
    if target in PROJECT_ROOT.parents:
        return f"is a parent of the project folder {PROJECT_ROOT}"
    return None


def _content_problem(target: Path, marker_name: str) -> str | None:
    if not target.exists():
        return None
    if not target.is_dir():
        return "is an existing file"
    foreign = _foreign_entries(target, marker_name)
    if foreign is None:
        return (f"is a non-empty folder this command did not write (no valid {marker_name} marker); "
                "choose a new or empty folder")
    if foreign:
        more = f" and {len(foreign) - 3} more" if len(foreign) > 3 else ""
        return (f"holds files this command did not write ({', '.join(foreign[:3])}{more}); "
                "move them or choose another folder")
    return None


def _parent_problem(target: Path) -> str | None:
    return write_problem(target.parent)


def _entries(folder: Path) -> set[str]:
    """Every file and folder under ``folder`` (relative, '/'-separated; symbolic links not followed)."""
    found = set()
    for root, dirs, files in os.walk(folder):
        rel = Path(root).relative_to(folder)
        found.update((rel / name).as_posix() for name in dirs + files)
    return found


def _foreign_entries(folder: Path, marker_name: str) -> list[str] | None:
    """Entries of ``folder`` its marker does not list; None when it is
    non-empty and has no readable marker."""
    entries = _entries(folder) - {marker_name}
    if not entries:
        return []
    try:
        written = set(json.loads((folder / marker_name).read_text())["entries"])
    except (OSError, ValueError, KeyError, TypeError):
        return None
    return sorted(entries - written)


def _write_marker(folder: Path, marker_name: str, marker_text: str) -> None:
    entries = sorted(_entries(folder) - {marker_name})
    text = json.dumps({"written_by": marker_text, "entries": entries}, indent=1)
    (folder / marker_name).write_text(text + "\n")


@dataclass(frozen=True)
class Staging:
    """``path``: the fresh folder to write into; ``failed``: where it is kept
    if the run fails with one of the kept exceptions (None if none are)."""
    path: Path
    failed: Path | None


@contextmanager
def staged_output_dir(path, marker_name: str, marker_text: str, keep_failed_on: tuple = ()):
    """Yields a ``Staging`` beside ``path`` (same parent, hidden unique name).

    On success: writes the marker (``marker_text`` and the list of entries)
    and replaces ``path`` with it; an earlier ``NAME.failed`` of ours is
    removed.  On an exception of a type in ``keep_failed_on`` the folder is
    marked and kept as ``NAME.failed`` (``NAME.failed-2``, ... when that
    name is taken by something not ours), e.g. for a failed tool's logs; on
    any other exception (KeyboardInterrupt too, unless listed) it is removed
    with the parent folders it created.  Raises OutputError as
    ``check_output_dir`` does, before anything is created.
    """
    target = check_output_dir(path, marker_name)
    created = _make_parents(target.parent)
    failed = _failed_dir(target, marker_name) if keep_failed_on else None
    work = _fresh_dir(target, "partial")
    try:
        yield Staging(work, failed)
        _write_marker(work, marker_name, marker_text)
        _replace(work, target, marker_name)
    except BaseException as e:
        if isinstance(e, keep_failed_on) and work.is_dir():
            _write_marker(work, marker_name, f"{marker_text} (FAILED run, kept for its logs)")
            _replace(work, failed, marker_name)
        else:
            shutil.rmtree(work, ignore_errors=True)
            for folder in created:
                with suppress(OSError):
                    folder.rmdir()
        raise
    if failed is not None and failed.is_dir() and _foreign_entries(failed, marker_name) == []:
        shutil.rmtree(failed)


def _make_parents(folder: Path) -> list[Path]:
    """Creates ``folder`` and its missing parents; returns those created, deepest first."""
    missing = [p for p in (folder, *folder.parents) if not p.exists()]
    folder.mkdir(parents=True, exist_ok=True)
    return missing


def _failed_dir(target: Path, marker_name: str) -> Path:
    for n in count(1):
        candidate = target.with_name(f"{target.name}.failed" + (f"-{n}" if n > 1 else ""))
        if not candidate.exists() and not candidate.is_symlink():
            return candidate
        if candidate.is_dir() and not candidate.is_symlink() and _foreign_entries(candidate, marker_name) == []:
            return candidate


def _fresh_dir(beside: Path, kind: str) -> Path:
    """A new empty hidden folder beside ``beside``, unique, with the
    permissions of any new folder (``tempfile.mkdtemp`` would make it private)."""
    while True:
        candidate = beside.with_name(f".{beside.name}.{secrets.token_hex(4)}.{kind}")
        try:
            candidate.mkdir()
            return candidate
        except FileExistsError:
            continue


def _replace(new: Path, dest: Path, marker_name: str) -> None:
    """Renames ``new`` to ``dest``; an existing ``dest`` (checked again: it
    must be ours or empty) is moved aside first and removed last."""
    old = None
    if dest.exists() or dest.is_symlink():
        problem = _content_problem(dest, marker_name)
        if problem or dest.is_symlink():
            raise OutputError(f"output folder {dest}: {problem or 'is a symbolic link'}")
        old = _fresh_dir(dest, "old")
        dest.rename(old)        # onto the empty placeholder: POSIX rename allows it
    try:
        new.rename(dest)
    except OSError:
        if old is not None:
            old.rename(dest)
        raise
    if old is not None:
        shutil.rmtree(old)
