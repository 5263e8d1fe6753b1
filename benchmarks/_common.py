"""Helpers shared by the benchmark scripts: timing, hardware, result files."""

from __future__ import annotations

import json
import os
from pathlib import Path

from skdeepsparse.benchmark import _hardware, _median_time

RESULTS = Path(__file__).resolve().parent / "results"
DATA_HOME = os.environ.get(
    "SKDEEPSPARSE_DATA", str(Path(__file__).resolve().parents[2] / "shared" / "data")
)


# One definition of each, shared with the ``skdeepsparse benchmark`` suite.
hardware = _hardware
timed = _median_time


def write_results(name: str, payload: dict, markdown: str) -> None:
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / f"{name}.json").write_text(json.dumps(payload, indent=2))
    (RESULTS / f"{name}.md").write_text(markdown + "\n")
    print(markdown)
    print(f"\nwritten: benchmarks/results/{name}.json and .md")
