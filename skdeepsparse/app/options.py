"""The command-line options of ``skdeepsparse demo`` and ``skdeepsparse benchmark``.

Kept light (no numpy, torch or scikit-learn import), so that ``skdeepsparse
--help`` answers at once.
"""

from __future__ import annotations

import argparse

__all__ = ["DATASETS", "add_benchmark_arguments", "add_demo_arguments"]

DATASETS = ("mnist", "fashion_mnist")
_PEERS = ("'raw pixels'", "PCA", "MiniBatchDictionaryLearning")


def add_demo_arguments(parser: argparse.ArgumentParser) -> None:
    """The options of ``skdeepsparse demo``."""
    parser.add_argument("--output-dir", default="skdeepsparse_demo_output",
                        help="where demo.json, demo.md and atoms.png go")
    parser.add_argument("--quick", action="store_true", help="tiny budgets (smoke test)")
    parser.add_argument("--seed", type=int, default=0)


def add_benchmark_arguments(parser: argparse.ArgumentParser) -> None:
    """The options of ``skdeepsparse benchmark`` (shared with ``benchmarks/run_all.py``)."""
    from skdeepsparse.registry import ESTIMATORS

    parser.add_argument("--data-home", default=None,
                        help="folder with mnist/ and fashion_mnist/ (default: $SKDEEPSPARSE_DATA, "
                             "then ~/skdeepsparse_data)")
    parser.add_argument("--output-dir", default="skdeepsparse_benchmark",
                        help="where results.json, report.md, the plots and cache/ go")
    group = parser.add_mutually_exclusive_group()
    group.add_argument("--full", action="store_true",
                       help="the papers' budgets: all 60,000 training images, paper epochs and "
                            "sizes (hours on a CPU; meant for a GPU)")
    group.add_argument("--quick", action="store_true", help="tiny budgets (smoke test)")
    parser.add_argument("--datasets", nargs="+", choices=DATASETS, default=list(DATASETS))
    parser.add_argument("--models", nargs="+", default=None,
                        help="subset of: " + ", ".join([*_PEERS, *ESTIMATORS]))
    parser.add_argument("--no-sweep", action="store_true",
                        help="skip the sparsity-weight sweep (no PSNR-vs-zeros plot)")
    parser.add_argument("--device", default="auto", help="auto, cpu, cuda or cuda:N")
    parser.add_argument("--fit-repeats", type=int, default=3)
    parser.add_argument("--transform-repeats", type=int, default=3)
    parser.add_argument("--no-cache", action="store_true",
                        help="recompute every unit (the cache is neither read nor written)")
    parser.add_argument("--no-progress", action="store_true")
