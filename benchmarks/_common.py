"""Helpers shared by the benchmark scripts: timing, hardware, result files."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

# One definition of each, shared with the ``skdeepsparse benchmark`` suite.
from skdeepsparse.app.cache import source_hash
from skdeepsparse.app.timing import hardware
from skdeepsparse.app.timing import median_time as timed

__all__ = ["DATA_HOME", "DEVICE", "REDIRECTED", "RESULTS", "STATIC", "hardware",
           "provenance", "timed", "write_results"]

_HERE = Path(__file__).resolve().parent

# ``SKDEEPSPARSE_RESULTS_DIR`` sends every result file and figure of a run elsewhere
# (``reproduce.py --budget smoke`` uses it), so a trial run never overwrites the
# committed results or the figures the docs show.
REDIRECTED = bool(os.environ.get("SKDEEPSPARSE_RESULTS_DIR"))
if REDIRECTED:
    RESULTS = Path(os.environ["SKDEEPSPARSE_RESULTS_DIR"]).resolve()
    STATIC = RESULTS / "figures"
else:
    RESULTS = _HERE / "results"
    STATIC = _HERE.parent / "docs" / "_static"
# The device of the claim scripts' estimators (``reproduce.py --device`` sets it).
DEVICE = os.environ.get("SKDEEPSPARSE_DEVICE", "cpu")
DATA_HOME = os.environ.get(
    "SKDEEPSPARSE_DATA", str(_HERE.parents[1] / "shared" / "data")
)


def provenance() -> dict:
    """What made a result: the command, the package source hash, the commit, the time."""
    try:
        commit = subprocess.run(
            ["git", "-C", str(_HERE), "rev-parse", "HEAD"], capture_output=True,
            text=True, timeout=10, check=True).stdout.strip()
        dirty = bool(subprocess.run(
            ["git", "-C", str(_HERE), "status", "--porcelain", "--", "../src"],
            capture_output=True, text=True, timeout=10).stdout.strip())
    except (OSError, subprocess.SubprocessError):
        commit, dirty = None, None
    return {"command": " ".join([Path(sys.argv[0]).name, *sys.argv[1:]]),
            "source_hash": source_hash(), "git_commit": commit,
            "source_modified": dirty,
            "date": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}


def write_results(name: str, payload: dict, markdown: str) -> None:
    """Write ``<name>.json`` (with a ``provenance`` record) and ``<name>.md``."""
    RESULTS.mkdir(parents=True, exist_ok=True)
    payload = {**payload, "provenance": provenance()}
    (RESULTS / f"{name}.json").write_text(json.dumps(payload, indent=2))
    (RESULTS / f"{name}.md").write_text(markdown + "\n")
    print(markdown)
    print(f"\nwritten: {RESULTS / name}.json and .md")
