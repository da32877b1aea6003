"""The SHA-256 a bundle records of the files it was made from."""
from __future__ import annotations

import hashlib
from pathlib import Path


def file_sha256(path) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()
