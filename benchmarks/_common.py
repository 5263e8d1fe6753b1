"""Helpers shared by the benchmark scripts: timing, hardware, result files."""

from __future__ import annotations

import json
import os
from pathlib import Path

# One definition of each, shared with the ``skdeepsparse benchmark`` suite.
from skdeepsparse.app.timing import hardware
from skdeepsparse.app.timing import median_time as timed

__all__ = ["DATA_HOME", "RESULTS", "hardware", "timed", "write_results"]

RESULTS = Path(__file__).resolve().parent / "results"
DATA_HOME = os.environ.get(
    "SKDEEPSPARSE_DATA", str(Path(__file__).resolve().parents[2] / "shared" / "data")
)


def write_results(name: str, payload: dict, markdown: str) -> None:
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / f"{name}.json").write_text(json.dumps(payload, indent=2))
    (RESULTS / f"{name}.md").write_text(markdown + "\n")
    print(markdown)
    print(f"\nwritten: benchmarks/results/{name}.json and .md")
