"""Recorded measurements the tests check models against (``tests/data/``)."""
import json
from pathlib import Path

DATA = Path(__file__).resolve().parent / "data"


def recorded_nextpnr(key: str) -> dict:
    """The recorded nextpnr results of one board/architecture, by network."""
    return json.loads((DATA / "nextpnr_results.json").read_text())[key]
