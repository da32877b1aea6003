import os
import tempfile
from pathlib import Path

import pytest


@pytest.fixture
def unwritable_folder(tmp_path):
    """A folder this process cannot create files in: a read-only folder for
    a normal user; as root (CI, this machine), which ignores permission bits,
    /sys, where the kernel refuses to create files."""
    if os.geteuid() != 0:
        folder = tmp_path / "ro"
        folder.mkdir(mode=0o555)
        return folder
    folder = Path("/sys")
    try:
        fd, probe = tempfile.mkstemp(dir=folder)
    except OSError:
        return folder
    os.close(fd)
    os.unlink(probe)
    pytest.skip("no folder this root process cannot write in")
