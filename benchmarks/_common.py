"""What every benchmark script shares: where results go, provenance, the common options.

The scripts live in one folder per paper (``evtimova2022/``, ``barello2018/``,
``fallah2022/``, ``li2022/``) and one for the engineering benchmarks
(``engineering/``); each writes into the ``results/`` folder next to it, under the
script's own name (``bench_X.py`` writes ``X*.json`` and ``X*.md``). A script that
reads another script's results says so in a module-level ``INPUTS`` tuple of
``(results file, script that writes it)`` pairs.

A script imports this module with::

    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # benchmarks/_common.py
    from _common import ...
"""

from __future__ import annotations

import argparse
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

__all__ = ["DATA_HOME", "DEVICE", "FOLDER", "REDIRECTED", "RESULTS", "STATIC",
           "add_common_options", "hardware", "provenance", "timed", "write_results"]

BENCHMARKS = Path(__file__).resolve().parent


def _script_folder() -> Path:
    """The folder of the script being run (``benchmarks/`` when none is)."""
    main = getattr(sys.modules.get("__main__"), "__file__", None)
    folder = Path(main).resolve().parent if main else BENCHMARKS
    return folder if folder.parent == BENCHMARKS else BENCHMARKS


FOLDER = _script_folder()

# ``SKDEEPSPARSE_RESULTS_DIR`` sends every result file and figure of a run elsewhere
# (``reproduce.py`` uses it unless asked to write in place), so a trial run never
# overwrites the committed results or the figures the docs show. The folder keeps
# the layout: ``<dir>/<paper folder>/``.
REDIRECTED = bool(os.environ.get("SKDEEPSPARSE_RESULTS_DIR"))
if REDIRECTED:
    _ROOT = Path(os.environ["SKDEEPSPARSE_RESULTS_DIR"]).resolve()
    RESULTS = _ROOT / FOLDER.name
    STATIC = _ROOT / "figures"
    # Scripts write side files (per-patch arrays) there directly, not only through
    # write_results: the scratch folder must exist first.
    RESULTS.mkdir(parents=True, exist_ok=True)
else:
    RESULTS = FOLDER / "results"
    STATIC = BENCHMARKS.parent / "docs" / "_static"
# The device of the claim scripts' estimators (``reproduce.py --device`` sets it).
DEVICE = os.environ.get("SKDEEPSPARSE_DEVICE", "cpu")
DATA_HOME = os.environ.get(
    "SKDEEPSPARSE_DATA", str(BENCHMARKS.parents[1] / "shared" / "data")
)


def add_common_options(parser: argparse.ArgumentParser, **defaults) -> argparse.ArgumentParser:
    """Add the options the scripts share, each only where ``defaults`` names it.

    Keys (the option's destination): ``seeds`` (list of ints), ``seed`` (one int),
    ``epochs``, ``n_train``, ``n_test``, ``device``, ``tag``, ``report`` (a flag) and
    ``jobs``. Every option gets the same help text in every script, so one name means
    one thing across the benchmarks.
    """
    spec = {
        "seeds": (("--seeds",), dict(type=int, nargs="+", help="random seeds, one run each")),
        "seed": (("--seed",), dict(type=int, help="the random seed")),
        "epochs": (("--epochs",), dict(type=int, help="passes over the training data")),
        "n_train": (("--n-train",), dict(type=int, help="training images (first N)")),
        "n_test": (("--n-test",), dict(type=int, help="test images (first N)")),
        "device": (("--device",), dict(help="torch device of the estimators")),
        "tag": (("--tag",), dict(help="suffix of this run's partial results file")),
        "jobs": (("--jobs",), dict(type=int, help="worker processes run side by side")),
        "report": (("--report",), dict(action="store_true",
                                       help="rebuild the report from the results, fit nothing")),
    }
    unknown = set(defaults) - set(spec)
    if unknown:
        raise ValueError(f"unknown common options {sorted(unknown)}; known: {sorted(spec)}")
    for key, default in defaults.items():
        flags, kwargs = spec[key]
        if kwargs.get("action") != "store_true":
            kwargs = {**kwargs, "default": default,
                      "help": f"{kwargs['help']} (default: {default})"}
        parser.add_argument(*flags, dest=key, **kwargs)
    return parser


def _package_tree() -> Path:
    """The folder of the imported ``skdeepsparse`` package (the one ``source_hash`` hashes)."""
    import skdeepsparse

    return Path(skdeepsparse.__file__).resolve().parent


def provenance() -> dict:
    """What made a result: the command, the package source hash, the commit, the time.

    The commit and ``source_modified`` are read from the git tree of the package that
    was imported, not of the script: run from a clean worktree with its ``src`` first
    on ``PYTHONPATH``, the record describes that worktree even where an editable
    install points at another checkout. A package outside any git tree (or not tracked
    by it) records ``None`` for both.
    """
    package = _package_tree()
    try:
        git = ["git", "-C", str(package)]
        subprocess.run([*git, "ls-files", "--error-unmatch", "__init__.py"],
                       capture_output=True, timeout=10, check=True)
        commit = subprocess.run([*git, "rev-parse", "HEAD"], capture_output=True,
                                text=True, timeout=10, check=True).stdout.strip()
        dirty = bool(subprocess.run([*git, "status", "--porcelain", "--", "."],
                                    capture_output=True, text=True, timeout=10,
                                    check=True).stdout.strip())
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
